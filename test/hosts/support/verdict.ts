/**
 * What every cross-host fault test asserts (issue 18), whatever its fault:
 *
 * - every token a caller got was valid at the provider when it got it (no
 *   revoked or superseded token handed out), unless the test names a
 *   freshness bound inside which a replaced token may still be served;
 * - no caller got INTERNAL, and none got REAUTH_REQUIRED unless the test says
 *   the grant is really lost;
 * - no caller waited past its deadline (where the plan promises an answer
 *   well before the deadline — a frozen database path answers
 *   STORE_UNAVAILABLE in bounded time — the test asserts it itself: a bare
 *   DEADLINE_EXCEEDED from the client's own timer also comes when a loaded
 *   2-core host delays the daemon's answer past its 50–250 ms margin);
 * - the provider saw 0 replays of a spent refresh token and met no error;
 * - at the end every link holds the provider's current token: each host
 *   serves a valid one, no failure is recorded, and a further refresh
 *   (forced by asking for just more validity than is left, once the token
 *   is old enough for that to be less than the provider issues) succeeds.
 *
 * And where a link is interrupted, `expectInterruptedBy`: the caller is told
 * so (UNAVAILABLE, REFRESH_INTERRUPTED, RetryInfo, the sender's host).
 */
import * as grpc from "@grpc/grpc-js";
import { expect } from "vitest";
import { describeOutcome, remainingMs, type BrokerClient, type ObtainOptions, type Outcome } from "../../faults/support/broker-client.js";
import { sleep } from "../../faults/support/rig.js";
import type { FakeProvider } from "../../support/fake-provider.js";

/** A daemon a test calls: a Host, or a FaultRig daemon given a name. */
export interface Caller {
  readonly name: string;
  readonly client: BrokerClient;
}

export interface Call {
  host: string;
  user: string;
  outcome: Outcome;
  deadlineMs: number;
  /** Epoch ms when the answer came back. */
  at: number;
  /** For a token: whether the provider honoured it when the caller got it. */
  validAtReceipt: boolean | undefined;
}

export interface SoundOptions {
  /** The test made the grant really lost (e.g. a rotation whose answer nobody got): REAUTH_REQUIRED is a fair answer. */
  realLoss?: boolean;
  /** A token handed out no longer valid is tolerated when it came back before this time (epoch ms): a freshness bound. */
  staleAllowedUntil?: number;
}

/** Slack for the gRPC round trip and the 2-core machine, past a caller's deadline. */
const DEADLINE_SLACK_MS = 1_000;

export class Calls {
  readonly all: Call[] = [];

  constructor(private readonly fake: FakeProvider) {}

  /** One ObtainAccessToken on `host`, recorded. */
  async obtain(host: Caller, user: string, opts: ObtainOptions = {}): Promise<Outcome> {
    const deadlineMs = opts.deadlineMs ?? 15_000;
    const outcome = await host.client.obtain(user, { ...opts, deadlineMs });
    this.all.push({
      host: host.name,
      user,
      outcome,
      deadlineMs,
      at: Date.now(),
      validAtReceipt: outcome.ok ? this.fake.isValid(outcome.token.accessToken) : undefined,
    });
    return outcome;
  }

  /** Asks every 100 ms until the answer is a token (each call recorded); the last outcome, token or not, after `ms`. */
  async untilServed(host: Caller, user: string, ms: number, opts: ObtainOptions = {}): Promise<Outcome> {
    const end = Date.now() + ms;
    for (;;) {
      const o = await this.obtain(host, user, { minValidMs: 0, deadlineMs: 5_000, ...opts });
      if (o.ok || Date.now() > end) return o;
      await sleep(100);
    }
  }

  summary(): string {
    const f = this.fake;
    const provider = `provider: ${f.tokenRequests} token requests, ${f.refreshes} refreshes, ${f.replays} replays, ${f.revokedFamilies} grants revoked, ${f.graceReuses} grace reuses`;
    const lines = this.all.map((c) => `${c.host} ${c.user}: ${describeOutcome(c.outcome)}${c.validAtReceipt === false ? " [NOT VALID at the provider]" : ""}`);
    return [provider, ...lines].join("\n");
  }

  /** The promises about what callers saw (see the file comment). */
  expectSound(opts: SoundOptions = {}): void {
    const summary = `calls:\n${this.summary()}`;
    for (const c of this.all) {
      const o = c.outcome;
      const what = `${c.host} ${c.user}: ${describeOutcome(o)}\n${summary}`;
      if (o.ok) {
        if (opts.staleAllowedUntil === undefined || c.at > opts.staleAllowedUntil) {
          expect(c.validAtReceipt, `a token the provider does not honour was handed out — ${what}`).toBe(true);
        }
        continue;
      }
      expect(o.code, `INTERNAL — ${what}`).not.toBe(grpc.status.INTERNAL);
      expect(o.code, `UNKNOWN — ${what}`).not.toBe(grpc.status.UNKNOWN);
      if (opts.realLoss !== true) expect(o.reason, `the link was failed although no grant was lost — ${what}`).not.toBe("REAUTH_REQUIRED");
      expect(o.ms, `past the caller's deadline — ${what}`).toBeLessThanOrEqual(c.deadlineMs + DEADLINE_SLACK_MS);
    }
  }
}

/**
 * The answer a caller gets while a refresh that `sender` (a host name) sent
 * waits for its lost answer (docs/design.md §3 invariant 11): UNAVAILABLE,
 * REFRESH_INTERRUPTED, RetryInfo, and the sender on that host named — or,
 * with `orToken`, a token valid at the provider (the answer already healed
 * the link).
 */
export function expectInterruptedBy(fake: FakeProvider, o: Outcome, sender: string, context: string, opts: { orToken?: boolean } = {}): void {
  const what = `${describeOutcome(o)}\n${context}`;
  if (o.ok) {
    expect(opts.orToken, `a token where the link is interrupted — ${what}`).toBe(true);
    expect(fake.isValid(o.token.accessToken), `not valid at the provider — ${what}`).toBe(true);
    return;
  }
  expect(o.reason, what).toBe("REFRESH_INTERRUPTED");
  expect(o.code, what).toBe(grpc.status.UNAVAILABLE);
  expect(o.detail?.retry?.retryDelay, `no RetryInfo — ${what}`).toBeDefined();
  expect(o.detail?.metadata.interrupted_by, what).toMatch(new RegExp(`^process \\d+ on host ${sender}$`));
  expect(o.detail?.metadata.interrupted_at, what).toMatch(/^\d{4}-\d\d-\d\dT/);
}

/** The provider's side: no replay, no revoked family, no internal error. */
export function expectProviderClean(fake: FakeProvider, context = ""): void {
  expect(fake.replays, `replays of a spent refresh token${context === "" ? "" : `\n${context}`}`).toBe(0);
  expect(fake.revokedFamilies, `grants revoked by reuse detection${context === "" ? "" : `\n${context}`}`).toBe(0);
  expect(fake.errors).toEqual([]);
}

/**
 * Every link holds the provider's current token: every host hands out the
 * same valid token with no failure recorded, and a further refresh from the
 * first host succeeds (its stored refresh token is the provider's current
 * one) without a replay.
 */
export async function expectLinksLive(fake: FakeProvider, hosts: Caller[], users: string[], calls?: Calls): Promise<void> {
  const context = calls === undefined ? "" : `calls:\n${calls.summary()}`;
  // What the callers saw, in the test's output: the record behind test/hosts/README.md's results.
  if (calls !== undefined) console.info(calls.summary());
  for (const user of users) {
    const seen = new Set<string>();
    let last: Outcome | undefined;
    for (const h of hosts) {
      const o = await h.client.obtain(user, { minValidMs: 0, deadlineMs: 10_000 });
      const what = `${h.name} ${user} at the end: ${describeOutcome(o)}\n${context}`;
      expect(o.ok, what).toBe(true);
      if (!o.ok) return;
      expect(fake.isValid(o.token.accessToken), `not valid at the provider — ${what}`).toBe(true);
      seen.add(o.token.accessToken);
      const link = await h.client.getLink(user);
      expect(link.refreshFailure?.reason, `${h.name} ${user}: a failure is recorded\n${context}`).toBeUndefined();
      expect(link.hasRefreshToken, `${h.name} ${user}: no refresh token\n${context}`).toBe(true);
      last = o;
    }
    expect(seen.size, `${user}: the hosts hand out different tokens\n${context}`).toBe(1);
    await expectFurtherRefresh(fake, hosts[0]!, user, last!, context);
  }
  expectProviderClean(fake, context);
}

/** Epoch ms of a protobuf Timestamp. */
const epochMs = (t: { seconds: bigint; nanos: number }): number => Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6);

/** How far past the token's remaining validity the forcing ask reaches. */
const FORCE_MARGIN_MS = 500;
/**
 * How old (since it was stored) the token is when the forcing ask comes.
 * The ask then stays FORCE_AGE_MS − FORCE_MARGIN_MS (2 s) below the lifetime
 * the provider issues: room for the forced refresh's own latency, since its
 * token, counted from its send, must still have the asked validity when it
 * is handed out.
 */
const FORCE_AGE_MS = 2_500;

/**
 * Forces one refresh of `user` on `host` and expects it to succeed: it asks
 * for just more validity than the current token has left.
 *
 * The ask must stay below the lifetime the daemon saw the provider issue
 * (expires_at − last_refreshed_at), or the daemon rightly answers
 * MIN_VALIDITY_UNREACHABLE without refreshing (docs/design.md §3 invariant
 * 16). Lifetimes count from when the refresh was sent and last_refreshed_at
 * is when its answer was stored, so after a slow answer (or a holder that
 * stored its answer seconds later) a token that was only just stored has
 * already lost the answer's latency: "remaining + margin" can exceed what
 * the provider issues. So the token first ages FORCE_AGE_MS past its
 * storing, by the daemon's own record, and the ask is remaining + margin.
 */
async function expectFurtherRefresh(fake: FakeProvider, host: Caller, user: string, current: Outcome, context: string): Promise<void> {
  if (!current.ok) return;
  const link = await host.client.getLink(user);
  const expiresAt = link.expiresAt === undefined ? undefined : epochMs(link.expiresAt);
  const storedAt = link.lastRefreshedAt === undefined ? undefined : epochMs(link.lastRefreshedAt);
  if (expiresAt !== undefined && storedAt !== undefined) {
    const agedEnough = storedAt + FORCE_AGE_MS;
    if (Date.now() < agedEnough) await sleep(agedEnough - Date.now());
  }
  const left = expiresAt === undefined ? remainingMs(current.token) : expiresAt - Date.now();
  const before = { refreshes: fake.refreshes, requests: fake.tokenRequests };
  const minValidMs = Math.max(0, left) + FORCE_MARGIN_MS;
  const next = await host.client.obtain(user, { minValidMs, deadlineMs: 10_000 });
  const issued = expiresAt !== undefined && storedAt !== undefined ? `${expiresAt - storedAt} ms issued, ` : "";
  const what = `${host.name} ${user}, a further refresh (${issued}${Math.round(left)} ms left, asked ${Math.round(minValidMs)} ms): ${describeOutcome(next)}\n${context}`;
  expect(next.ok, what).toBe(true);
  if (!next.ok) return;
  expect(next.token.accessToken, what).not.toBe(current.token.accessToken);
  expect(fake.isValid(next.token.accessToken), what).toBe(true);
  expect(fake.refreshes - before.refreshes, what).toBe(1);
  expect(fake.tokenRequests - before.requests, what).toBe(1);
}
