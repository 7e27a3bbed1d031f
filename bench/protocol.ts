/**
 * The IPC contract between the bench parent and its forked load generator:
 * one job in, one result out. Messages carry counts and timings only; token
 * values go one way (parent → load generator, for ImportLink) and are never
 * sent back or printed.
 */

/** Users `${userPrefix}${i}` for i in [0, count) at one provider. */
export interface KeySpace {
  providerId: string;
  userPrefix: string;
  count: number;
}

/** Closed-loop load: `concurrency` callers each looping one call after another. */
export interface LoadJob {
  kind: "load";
  /** grpc: a grpc-js target (unix:///path); connect: http://host:port of the web listener. */
  transport: "grpc" | "connect";
  address: string;
  /** Sent as `authorization: Bearer …` (the TCP web listener requires a caller token). */
  callerToken?: string;
  /** obtain: TokenService/ObtainAccessToken on a random key of `keys`; health: grpc.health.v1.Health/Check. */
  method: "obtain" | "health";
  keys: KeySpace;
  concurrency: number;
  /** gRPC channels (separate HTTP/2 connections); callers are spread over them. */
  channels: number;
  warmupMs: number;
  durationMs: number;
}

/** Every call at once: `callsPerKey` callers on each key of `keys`. */
export interface BurstJob {
  kind: "burst";
  address: string;
  channels: number;
  keys: KeySpace;
  callsPerKey: number;
  deadlineMs: number;
  /** Each answer's token must stay valid at least this long (checked, not printed). */
  minValidMs: number;
}

export interface ImportLinkInit {
  userId: string;
  accessToken: string;
  refreshToken: string;
  expiresAtMs: number;
}

/** Seeds links through LinkService/ImportLink. */
export interface ImportJob {
  kind: "import";
  address: string;
  channels: number;
  concurrency: number;
  providerId: string;
  /** Links whose tokens the fake provider issued (it must know the refresh tokens). */
  links?: ImportLinkInit[];
  /** Or synthetic links with random tokens: users `${userPrefix}${from + i}`. */
  synthetic?: { userPrefix: string; from: number; count: number; expiresAtMs: number };
}

export type Job = LoadJob | BurstJob | ImportJob;

export interface LatencySummary {
  count: number;
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ErrorTally {
  errors: number;
  /** gRPC status names (or "connect:<code>") and how often. */
  byCode: Record<string, number>;
  /** The first few error messages (the daemon never puts secrets in them). */
  samples: string[];
}

export interface LoadResult extends ErrorTally {
  kind: "load";
  calls: number;
  seconds: number;
  callsPerSec: number;
  latency: LatencySummary;
  /** The load generator's own CPU during the measured window, ms. */
  loadgenCpuMs: number;
  /** A sampled answer decoded and checked (non-empty token / SERVING). */
  verified: boolean;
}

export interface BurstResult extends ErrorTally {
  kind: "burst";
  calls: number;
  /** First call sent to last answer received. */
  wallMs: number;
  latency: LatencySummary;
  /** Distinct access tokens handed out, per key (max over keys). */
  maxDistinctTokensPerKey: number;
  /** Answers whose token was valid for less than `minValidMs`. */
  staleAnswers: number;
}

export interface ImportResult extends ErrorTally {
  kind: "import";
  imported: number;
  wallMs: number;
  perSec: number;
}

export type ResultOf<J extends Job> = J extends LoadJob ? LoadResult : J extends BurstJob ? BurstResult : ImportResult;

export type ToChild = { id: number; job: Job };
export type FromChild = { id: number; ok: true; result: LoadResult | BurstResult | ImportResult } | { id: number; ok: false; error: string } | { ready: true };
