/**
 * Lets a caller stop waiting for `work` when its signal aborts, without
 * stopping the work itself (a refresh must commit whatever the caller does).
 * The rejection says so (`refreshInProgress`), so the caller's
 * DEADLINE_EXCEEDED can tell it that a refresh is still running
 * (docs/design.md §3 invariant 11).
 */
export function raceSignal<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/**
 * raceSignal for work that usually settles at once (a cached store read):
 * the signal is made only if `work` is still pending once the event loop
 * reaches its check phase, so the common case allocates no deadline timer.
 */
export function raceSignalIfSlow<T>(work: Promise<T>, signal: () => AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const slow = setImmediate(() => {
      raceSignal(work, signal()).then(resolve, reject);
    });
    work.then(
      (value) => {
        clearImmediate(slow);
        resolve(value);
      },
      (err: unknown) => {
        clearImmediate(slow);
        reject(err);
      },
    );
  });
}

/** What a caller that stopped waiting for a refresh is rejected with. */
export class StoppedWaiting extends Error {
  override readonly name = "AbortError";
  readonly refreshInProgress = true;
}

function abortError(signal: AbortSignal): Error {
  return new StoppedWaiting("the caller stopped waiting", { cause: signal.reason });
}
