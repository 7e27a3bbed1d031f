/**
 * Asks `probe` at once and then every 20 ms until `ok` holds of its answer;
 * throws, naming `what` and the last answer, once `ms` have passed. Returns
 * the answer and how long it took (performance.now() ms): a bounded wait for
 * a condition, never a fixed sleep.
 */
export async function pollUntil<T>(what: string, probe: () => Promise<T> | T, ok: (v: T) => boolean, ms: number): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  for (;;) {
    const value = await probe();
    const elapsed = performance.now() - t0;
    if (ok(value)) return { value, ms: elapsed };
    if (elapsed > ms) throw new Error(`not within ${ms} ms: ${what} (last: ${JSON.stringify(value)?.slice(0, 200)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
