import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/temp-dir.js";

/**
 * Issue 24: the record cache holds every link of a large store in little
 * memory (compact entries, not a smaller cache). Measured in a child process
 * of the built store (a clean heap, --expose-gc): the heap after reading N
 * links once, less the heap before, per link: 491 bytes at bfd8170, 414 with
 * shared values and flat keys (record-cache.ts, shared-values.ts), on Node 20
 * (this fixture's ids and tokens are shorter than the bench's, where it is
 * 575 -> 414).
 */

const DIST = resolve(import.meta.dirname, "../../dist/src");
const LINKS = 20_000;
const MAX_BYTES_PER_ENTRY = 450;

const CHILD = `
const { randomBytes } = await import("node:crypto");
const { AesSealer, Keyring } = await import(process.env.DIST + "/crypto/index.js");
const { openSqliteStore } = await import(process.env.DIST + "/store/sqlite/index.js");
const n = Number(process.env.LINKS);
const keyring = new Keyring([randomBytes(32)]);
const store = openSqliteStore({ path: process.env.DB, sealer: new AesSealer(keyring), cacheEntries: n });
const at = () => "at_" + randomBytes(24).toString("base64url");
for (let from = 0; from < n; from += 5000) {
  await store.links.putMany(Array.from({ length: 5000 }, (_, i) => ({ key: { providerId: "p", userId: "user-" + (from + i) }, tokens: { accessToken: at(), tokenType: "bearer", refreshToken: at(), expiresAt: Date.now() + 3600e3, extra: {} } })), Date.now());
}
await store.links.get({ providerId: "p", userId: "user-0" });
// Once the seeding's last promises have settled (they hold its rows for a turn or two).
const heap = async () => { await new Promise((r) => setTimeout(r, 100)); gc(); gc(); return process.memoryUsage().heapUsed; };
const before = await heap();
for (let i = 0; i < n; i++) await store.links.get({ providerId: "p", userId: "user-" + i });
const after = await heap();
// Still served from the cache: every record read once more is the one cached.
const first = await store.links.get({ providerId: "p", userId: "user-1" });
if (first !== (await store.links.get({ providerId: "p", userId: "user-1" }))) throw new Error("not cached");
process.stdout.write(JSON.stringify({ perEntry: (after - before) / n }));
await store.close();
`;

describe("the record cache's memory", () => {
  it(`holds ${LINKS} links in at most ${MAX_BYTES_PER_ENTRY} bytes of heap each`, () => {
    if (!existsSync(join(DIST, "store/sqlite/index.js"))) throw new Error(`${DIST} is missing: run \`npm run build\` first (npm test does)`);
    const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", CHILD], {
      env: { ...process.env, DIST, LINKS: String(LINKS), DB: join(tempDir("tb-cache-memory-"), "tb.db") },
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const { perEntry } = JSON.parse(r.stdout) as { perEntry: number };
    expect(perEntry).toBeGreaterThan(100);
    expect(perEntry).toBeLessThanOrEqual(MAX_BYTES_PER_ENTRY);
  });
});
