import { defineConfig } from "vitest/config";

// Every run first checks that the native modules were built for the running Node.
// retry: 0 — a test that needs a retry is a defect in the code or the test (.ci/run refuses any other value).
// Bounds that depend on the machine are measured against a floor taken in the same run, or live
// in the bench.
const shared = { testTimeout: 60_000, hookTimeout: 60_000, retry: 0, globalSetup: ["test/support/native-modules.ts"] };

/**
 * Suites whose assertions are latency bounds or that pause, kill and starve
 * daemon processes (docs/design.md §3 invariant 10): they run after
 * the rest, one file at a time, so another suite's load does not decide
 * their timing.
 */
const timed = ["test/faults/**/*.test.ts", "test/store/busy.test.ts", "test/broker/lock-map.test.ts", "test/git/helper-speed.test.ts", "test/bench/**/*.test.ts"];

/**
 * The fleet suites (PostgreSQL) run last, one file at a time: the database's
 * background work after them (autovacuum and checkpoints after 50,000-row
 * migrations and storms) starved the latency-bound suites above when they
 * ran in between.
 */
const fleet = ["test/fleet/**/*.test.ts"];

/**
 * Cross-host faults (issue 18): daemons as separate hosts on PostgreSQL,
 * proxies that freeze their paths, stopped backends, stepped clocks. After
 * the fleet, one file at a time, and never retried: a fault either loses
 * nothing or it is a defect.
 */
const hosts = ["test/hosts/**/*.test.ts"];

/**
 * The systemd install under a real systemd (issue 25): boots a Debian 12
 * container with systemd-nspawn, so it runs last, alone, one file at a time.
 * Skipped (one test naming why) where a container cannot boot.
 */
const live = ["test/systemd-live/**/*.test.ts"];

export default defineConfig({
  test: {
    pool: "forks",
    projects: [
      {
        // Two cores: suites that spawn daemons and fake providers contend for CPU.
        test: { ...shared, name: "suite", include: ["test/**/*.test.ts"], exclude: [...timed, ...fleet, ...hosts, ...live], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        test: { ...shared, name: "timed", include: timed, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
      {
        test: { ...shared, name: "fleet", include: fleet, maxWorkers: 1, sequence: { groupOrder: 2 } },
      },
      {
        test: { ...shared, name: "hosts", include: hosts, maxWorkers: 1, sequence: { groupOrder: 3 } },
      },
      {
        test: { ...shared, name: "live", include: live, maxWorkers: 1, sequence: { groupOrder: 4 } },
      },
    ],
  },
});
