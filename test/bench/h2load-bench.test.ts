/**
 * README "Performance": the throughput scenarios run as the README says,
 * with h2load (Debian's nghttp2-client) as the load generator. What is
 * checked is what the figures rest on, not the figures (those belong to the
 * bench and vary with the machine): the run ends without a failed scenario,
 * every call h2load made was a gRPC success of the probed size, the storm
 * made exactly one refresh with no replay and every caller got the new
 * token (the audit trail's fingerprints), and the report prints the h2load
 * command line it ran with the caller token masked.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const README = readFileSync(resolve(ROOT, "README.md"), "utf8");
const COMMAND = "npm run bench -- --quick --only h2load,h2storm";

interface Check {
  scenario: string;
  kind: string;
  what: string;
  measured: string;
  status: string;
}

it(`README's \`${COMMAND}\` runs h2load against the floors and the daemon, every call a success`, { timeout: 300_000 }, () => {
  expect(README).toContain(COMMAND);
  expect(spawnSync("h2load", ["--version"]).status, "h2load (Debian nghttp2-client) is installed").toBe(0);
  const out = execFileSync("sh", ["-c", COMMAND], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
  expect(out).not.toContain("FAILED scenarios");
  expect(out).toMatch(/h2load -t 1 -c 8 -m 16 -D \d+ --warm-up-time 1 .*'authorization: Bearer \$TOKEN' http:\/\/127\.0\.0\.1:\d+\/tokenbroker\.v1\.TokenService\/ObtainAccessToken/);
  const report = JSON.parse(readFileSync(resolve(ROOT, "bench/results.quick.json"), "utf8")) as { checks: Check[]; results: { h2load?: { cells: { bad: number; calls: number }[] } } };
  const sanity = report.checks.filter((c) => c.kind === "sanity");
  expect([...new Set(sanity.map((c) => c.scenario))].sort()).toEqual(["h2load", "h2storm"]);
  // The storm's floors, the held one included, are judged too: each call a success, the hold held.
  expect(sanity.some((c) => c.scenario === "h2storm" && c.what.startsWith("floors:"))).toBe(true);
  for (const c of sanity) expect(c.status, `${c.scenario}: ${c.what}: ${c.measured}`).toBe("PASS");
  const refresh = report.checks.find((c) => c.scenario === "h2storm" && c.what === "exactly 1 provider refresh");
  expect(refresh?.status, refresh?.measured).toBe("PASS");
  const cells = report.results.h2load?.cells ?? [];
  expect(cells).toHaveLength(4);
  for (const c of cells) expect(c.calls).toBeGreaterThan(100);
  // No caller token in what the bench printed or wrote.
  expect(out).not.toMatch(/Bearer (?!\$TOKEN)[A-Za-z0-9_-]{20,}/);
});
