/**
 * One listener on a long-lived signal (the server's shutdown) for any number
 * of short-lived subscribers (the calls waiting on it): adding and removing
 * an EventTarget listener per call cost about as much as the rest of a
 * waiting call's setup (measured in the refresh storm: 1,000 callers waiting
 * for one refresh), a Set entry costs almost nothing.
 */
const fanouts = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `fn` once when `signal` aborts (at once if it has); returns the unsubscribe. */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => undefined;
  }
  let subscribers = fanouts.get(signal);
  if (subscribers === undefined) {
    const set = new Set<() => void>();
    subscribers = set;
    fanouts.set(signal, set);
    signal.addEventListener(
      "abort",
      () => {
        for (const f of [...set]) f();
        set.clear();
      },
      { once: true },
    );
  }
  const set = subscribers;
  set.add(fn);
  return () => void set.delete(fn);
}
