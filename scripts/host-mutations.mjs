#!/usr/bin/env node
// Issue 18's deliberate defects, each applied to a throwaway worktree of HEAD, built, and run
// against the cross-host fault test that must catch it (test/hosts). Prints one line per
// mutation: caught (the test failed) or SURVIVED. Needs TOKENBROKER_TEST_PG_URL and root (unshare).
//   node scripts/host-mutations.mjs
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const mutations = [
  {
    name: "keep the sending mark after a 503",
    edits: [["src/broker/refresher.ts", "if (!(await keeper.answered())) throw new LeaseLost();", "void keeper;"]],
    test: "test/hosts/retry-after-pause.test.ts",
  },
  {
    name: "resend after an unknown outcome outside the grace window",
    edits: [["src/oauth/refresh-retry.ts", '&& e.sent !== "unknown" ', ""]],
    test: "test/hosts/late-answer.test.ts",
  },
  {
    name: "refuse a heal whose digest matches",
    edits: [["src/store/link-core.ts", "return holds || healAllows(row, expect, digestMatches);", "return holds;"]],
    test: "test/hosts/holder-cut-off.test.ts",
  },
  {
    name: "compare lease expiry with the host's clock",
    edits: [
      ["src/broker/refresher.ts", "const decision = decideLease(state, {", "const decision = decideLease(state === null ? null : { ...state, now: deps.clock.now() }, {"],
      ["src/broker/refresher.ts", "{ onlyIfExpired: decision.onlyIfExpired }", "{ onlyIfExpired: false }"],
    ],
    test: "test/hosts/clock-step.test.ts",
  },
  {
    name: "serve the cache with a dead notification channel",
    edits: [["src/store/postgres/listener.ts", "return this.#fresh() ? this.#generation : undefined;", "return this.#generation;"]],
    test: "test/hosts/listen-half-open.test.ts",
  },
];

const git = (...args) => execFileSync("git", ["-C", ROOT, ...args], { encoding: "utf8" });
let survived = 0;
for (const m of mutations) {
  const dir = mkdtempSync(join(tmpdir(), "tb-mutant-"));
  git("worktree", "add", "--detach", "-q", dir, "HEAD");
  try {
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
    for (const [file, from, to] of m.edits) {
      const path = join(dir, file);
      const text = readFileSync(path, "utf8");
      if (text.split(from).length !== 2) throw new Error(`${m.name}: ${file} must hold its text exactly once`);
      writeFileSync(path, text.replace(from, to));
    }
    execFileSync("npm", ["run", "build", "--silent"], { cwd: dir, stdio: "inherit" });
    const run = spawnSync("npx", ["vitest", "run", "--project", "hosts", m.test], { cwd: dir, encoding: "utf8" });
    const caught = run.status !== 0;
    if (!caught) survived++;
    // eslint-disable-next-line no-control-regex
    const plain = run.stdout.replace(/\x1b\[[0-9;]*m/g, "");
    const failedTests = (plain.match(/^\s*×.*$/gmu) ?? []).map((l) => l.trim()).slice(0, 3);
    console.log(`${caught ? "caught  " : "SURVIVED"} ${m.name} (${m.test})${caught ? `: ${failedTests.join(" | ")}` : ""}`);
  } finally {
    git("worktree", "remove", "--force", dir);
    rmSync(dir, { recursive: true, force: true });
  }
}
process.exit(survived === 0 ? 0 : 1);
