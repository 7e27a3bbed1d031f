import { defineConfig } from "vitest/config";

const shared = { include: ["test/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    pool: "forks",
    projects: [
      {
        // Two cores: suites that spawn daemons and fake providers contend for CPU.
        test: { ...shared, name: "suite", exclude: ["test/faults/**"], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        // The fault-injection suites pause, kill and starve daemon processes and measure
        // latency bounds (docs/design.md §3 invariant 13): they run after the rest, one file
        // at a time, so another suite's load does not decide their timing.
        test: { ...shared, name: "faults", include: ["test/faults/**/*.test.ts"], maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
