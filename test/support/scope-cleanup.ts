import { afterAll, onTestFinished } from "vitest";

/*
 * Cleanups of things made outside a test (at module load, in beforeAll):
 * they live as long as the test file. This module is imported while vitest
 * collects the file, so this afterAll belongs to the file's root suite and,
 * registered before the file's own hooks, runs after all of them (hooks
 * unwind as a stack): daemons stopped in the file's afterAll are gone first.
 */
const fileCleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const fn of fileCleanups.splice(0).reverse()) await fn();
});

/**
 * Runs `fn` when the caller's scope ends: inside a test (or its beforeEach),
 * once the test has finished, after its afterEach hooks; anywhere else, once
 * the file's tests are done.
 */
export function atScopeEnd(fn: () => unknown): void {
  try {
    onTestFinished(async () => {
      await fn();
    });
  } catch {
    // vitest refuses onTestFinished outside a running test: the file is the scope.
    fileCleanups.push(fn);
  }
}
