/**
 * One reader for secrets in files and systemd credentials (src/secret-file.ts):
 * the config's `*_credential` fields and the keys credential refuse the same
 * names, parsing refuses them before anything is read, and both read a
 * credential from $CREDENTIALS_DIRECTORY the same way.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadKeysFrom, KeyringError } from "../../src/crypto/index.js";
import { readSecret } from "../../src/config/files.js";
import { tempDir } from "../support/temp-dir.js";
import { problems } from "./helpers.js";

const dir = tempDir("tb-secret-sources-");
const credentials = join(dir, "credentials");
mkdirSync(credentials);
const KEY = Buffer.alloc(32, 7).toString("base64");
writeFileSync(join(credentials, "keys"), `${KEY}\n`, { mode: 0o600 });
writeFileSync(join(credentials, "secret"), "s3cret-value\n", { mode: 0o600 });
writeFileSync(join(dir, "outside"), "outside-secret\n", { mode: 0o600 });
const env = { CREDENTIALS_DIRECTORY: credentials };

const BAD_NAMES = ["", ".", "..", "../outside", "a/b", "nul\0name"];

describe("a credential name", () => {
  it.each(BAD_NAMES)("%j is refused by parsing for every *_credential field, before anything is read", (name) => {
    const why = `${JSON.stringify(name)}: not a valid credential name (a file name inside $CREDENTIALS_DIRECTORY)`;
    expect(problems([{ id: "p", type: "github", client_id: "cid", client_secret_credential: name }])).toEqual([`providers[0].client_secret_credential: ${why}`]);
    expect(problems([], { store: { postgres: { url_credential: name } } })).toEqual([`store.postgres.url_credential: ${why}`]);
    expect(problems([], { encryption: { keys_credential: name } })).toEqual([`encryption.keys_credential: ${why}`]);
  });

  it.each(BAD_NAMES)("%j is refused the same way by the readers themselves (keys and config secrets), nothing read", (name) => {
    const why = `${JSON.stringify(name)}: not a valid credential name (a file name inside $CREDENTIALS_DIRECTORY)`;
    expect(readSecret({ kind: "credential", name }, "providers[0].client_secret", env)).toEqual({ problem: `providers[0].client_secret_credential: ${why}` });
    let err: unknown;
    try {
      loadKeysFrom({ kind: "credential", name }, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyringError);
    expect((err as KeyringError).code).toBe("KEYS_UNREADABLE");
    expect((err as KeyringError).message).toBe(`keys credential ${why}`);
    expect((err as KeyringError).message).not.toContain("outside-secret");
  });
});

describe("reading a credential", () => {
  it("reads the config's secret and the keys from $CREDENTIALS_DIRECTORY/<name>", () => {
    expect(readSecret({ kind: "credential", name: "secret" }, "providers[0].client_secret", env)).toEqual({ value: "s3cret-value" });
    const keys = loadKeysFrom({ kind: "credential", name: "keys" }, env);
    expect(keys.path).toBe(join(credentials, "keys"));
    expect(keys.keys[0]?.toString("base64")).toBe(KEY);
    expect(keys.warnings).toEqual([]);
  });

  it("refuses a directory as a secret file or credential, naming the field and not a regular file", () => {
    mkdirSync(join(credentials, "dir"), { recursive: true });
    expect(readSecret({ kind: "credential", name: "dir" }, "store.postgres.url", env)).toEqual({ problem: "store.postgres.url_credential: cannot read credential dir (not a regular file)" });
    expect(readSecret({ kind: "file", path: credentials }, "store.postgres.url", env)).toEqual({ problem: `store.postgres.url_file: cannot read ${credentials} (not a regular file)` });
    expect(() => loadKeysFrom({ kind: "credential", name: "dir" }, env)).toThrow(`keys credential dir (${join(credentials, "dir")}): not a regular file`);
  });

  it("the keys keep their mode check: a credential readable by others is read with a warning", () => {
    const loose = join(credentials, "loose-keys");
    writeFileSync(loose, `${KEY}\n`);
    chmodSync(loose, 0o644);
    expect(loadKeysFrom({ kind: "credential", name: "loose-keys" }, env).warnings).toEqual([
      `keys credential loose-keys (${loose}) is accessible by group or others (mode 0644); restrict it with chmod 600`,
    ]);
  });
});
