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
 *   (forced by asking for more validity than is left) succeeds.
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

/** Forces one refresh of `user` on `host` (asking for more validity than `current` has left) and expects it to succeed. */
async function expectFurtherRefresh(fake: FakeProvider, host: Caller, user: string, current: Outcome, context: string): Promise<void> {
  if (!current.ok) return;
  // Asking for more than is left refreshes, unless the token is so young that the provider's
  // lifetime could not give more (docs/design.md §3 invariant 16): let it age past 1 s first.
  const lifetimeMs = fake.expiresInSec * 1000;
  const age = lifetimeMs - remainingMs(current.token);
  if (age < 1_000) await sleep(1_000 - age);
  const before = { refreshes: fake.refreshes, requests: fake.tokenRequests };
  const next = await host.client.obtain(user, { minValidMs: Math.max(0, remainingMs(current.token)) + 500, deadlineMs: 10_000 });
  const what = `${host.name} ${user}, a further refresh: ${describeOutcome(next)}\n${context}`;
  expect(next.ok, what).toBe(true);
  if (!next.ok) return;
  expect(next.token.accessToken, what).not.toBe(current.token.accessToken);
  expect(fake.isValid(next.token.accessToken), what).toBe(true);
  expect(fake.refreshes - before.refreshes, what).toBe(1);
  expect(fake.tokenRequests - before.requests, what).toBe(1);
}
