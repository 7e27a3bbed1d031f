import { setTimeout as delay } from "node:timers/promises";

/**
 * Time as the engine sees it: the wall clock for lease and expiry
 * arithmetic, and waiting. Injected, so tests can run the engine's waits
 * (lease polls, heartbeats, commit retries, provider backoff) without
 * sleeping real time.
 */
export interface Clock {
  now(): number;
  /** Resolves after `ms`; rejects early with an AbortError when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: Date.now,
  sleep: (ms, signal) => delay(ms, undefined, signal !== undefined ? { signal } : {}),
};
