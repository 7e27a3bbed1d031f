/**
 * The engine's source of randomness (backoff jitter, commit-retry jitter): a
 * number in [0, 1). Injected next to the Clock, so a simulation replays a run
 * from its seed (sim/).
 */
export type Random = () => number;

export const systemRandom: Random = Math.random;
