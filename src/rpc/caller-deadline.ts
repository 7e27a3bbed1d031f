import type { HandlerContext } from "@connectrpc/connect";

/** The least and most time kept back from a caller's deadline to answer it. */
const MIN_MARGIN_MS = 50;
const MAX_MARGIN_MS = 250;

/**
 * A signal that aborts a little before the caller's deadline (and with the
 * call's own signal: cancellation, shutdown). A client's deadline timer fires
 * at the deadline on its side and reports a bare DEADLINE_EXCEEDED; to tell
 * the caller *why* it waited (a refresh still in progress, which completes
 * and is stored), the answer must be on the wire first — also on a loaded
 * host, where either side's timers run late. A fifth of the time left,
 * between 50 and 250 ms.
 */
export function callerPatience(ctx: HandlerContext): AbortSignal {
  const left = ctx.timeoutMs();
  if (left === undefined) return ctx.signal;
  const margin = Math.min(MAX_MARGIN_MS, Math.max(MIN_MARGIN_MS, left / 5));
  const timeout = AbortSignal.timeout(Math.max(0, Math.floor(left - margin)));
  const signal = AbortSignal.any([ctx.signal, timeout]);
  // AbortSignal.any holds its sources weakly, and AbortSignal.timeout's timer holds its signal
  // weakly: nothing kept the timeout alive, so a collection could drop it and the caller's
  // deadline never fired. The composite (kept while it has listeners) now holds it.
  sources.set(signal, timeout);
  return signal;
}

/** Each composite signal's timeout source, alive as long as the composite is. */
const sources = new WeakMap<AbortSignal, AbortSignal>();

/** Whether `err` is a caller that stopped waiting while a refresh was still running (broker's StoppedWaiting). */
export function stoppedWaitingForRefresh(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError" && (err as { refreshInProgress?: unknown }).refreshInProgress === true;
}
