/**
 * docs/design.md §3 invariant 10 and §3.1: a 2xx from the token endpoint is
 * never retried and never discarded. Each case is a rotating answer (the
 * provider really spent the presented refresh token and minted a new one)
 * with an odd body. For each: exactly one provider request, no replay, the
 * caller gets the normalised token (or, with no usable access token, a clear
 * error that is not INTERNAL), and the next refresh presents the refresh
 * token from the odd answer and succeeds. Answers whose lifetime is capped at
 * 10 years cannot be refreshed again within a test; for those, Unlink's
 * revocation shows which refresh token is stored.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enableLinkFlows, type LinkFlows } from "../support/fake-link-flows.js";
import type { IssuedTokens, OddSuccessFault } from "../support/fake-provider.js";
import { describeOutcome, remainingMs } from "./support/broker-client.js";
import { FaultRig, expiredSeed, sleep, type RigDaemon } from "./support/rig.js";

/** The provider's configured default_token_lifetime, for an unusable expires_in. */
const DEFAULT_LIFETIME_S = 2;
const TEN_YEARS_S = 10 * 365.25 * 86_400;

type Lifetime = "default" | "capped" | { seconds: number };
interface OddCase extends Omit<OddSuccessFault, "oddSuccess"> {
  name: string;
  body: (t: IssuedTokens) => Record<string, unknown>;
  /** The first caller's answer: a token living this long, or an error (no usable access token). */
  expect: Lifetime | "no access token";
}

/** A well-formed answer for these tokens, short-lived so the next refresh comes soon. */
const good = (t: IssuedTokens, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  access_token: t.accessToken,
  token_type: "bearer",
  expires_in: 2,
  refresh_token: t.refreshToken,
  ...over,
});
const without = (body: Record<string, unknown>, key: string): Record<string, unknown> => {
  const copy = { ...body };
  delete copy[key];
  return copy;
};
const nested = (depth: number): unknown => (depth === 0 ? ["leaf", 1, null, true] : { level: depth, next: nested(depth - 1), list: [nested(0), {}] });

const CASES: OddCase[] = [
  { name: "expires_in 1e16", body: (t) => good(t, { expires_in: 1e16 }), expect: "capped" },
  { name: "expires_in 1e300", body: (t) => good(t, { expires_in: 1e300 }), expect: "capped" },
  { name: 'expires_in "1e12" (a numeric string, 31 700 years)', body: (t) => good(t, { expires_in: "1e12" }), expect: "capped" },
  { name: "expires_in 0.0005 (rounds up to 1 s)", body: (t) => good(t, { expires_in: 0.0005 }), expect: { seconds: 1 } },
  { name: "expires_in 2.5 (fractional)", body: (t) => good(t, { expires_in: 2.5 }), expect: { seconds: 3 } },
  { name: 'expires_in "3" (a numeric string)', body: (t) => good(t, { expires_in: "3" }), expect: { seconds: 3 } },
  { name: "expires_in -100", body: (t) => good(t, { expires_in: -100 }), expect: "default" },
  { name: 'expires_in "abc"', body: (t) => good(t, { expires_in: "abc" }), expect: "default" },
  { name: "expires_in 0", body: (t) => good(t, { expires_in: 0 }), expect: "default" },
  { name: "expires_in null", body: (t) => good(t, { expires_in: null }), expect: "default" },
  { name: "expires_in absent", body: (t) => without(good(t), "expires_in"), expect: "default" },
  { name: "expires_in true", body: (t) => good(t, { expires_in: true }), expect: "default" },
  { name: "expires_in an object", body: (t) => good(t, { expires_in: { seconds: 60 } }), expect: "default" },
  { name: 'expires_in "Infinity"', body: (t) => good(t, { expires_in: "Infinity" }), expect: "default" },
  { name: "token_type 5", body: (t) => good(t, { token_type: 5 }), expect: { seconds: 2 } },
  { name: 'token_type ""', body: (t) => good(t, { token_type: "" }), expect: { seconds: 2 } },
  { name: "token_type null", body: (t) => good(t, { token_type: null }), expect: { seconds: 2 } },
  { name: "token_type 300 characters", body: (t) => good(t, { token_type: "b".repeat(300) }), expect: { seconds: 2 } },
  { name: 'access_token "" with a new refresh token', body: (t) => good(t, { access_token: "" }), expect: "no access token" },
  { name: "access_token absent with a new refresh token", body: (t) => without(good(t), "access_token"), expect: "no access token" },
  {
    name: "refresh_token as a JSON number",
    body: (t) => good(t, { refresh_token: Number(t.refreshToken) }),
    numericRefreshToken: true,
    expect: { seconds: 2 },
  },
  {
    name: "extra junk members (__proto__, constructor, error: null, odd scope, unicode keys)",
    body: (t) => ({
      ...good(t),
      ...(JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>),
      constructor: "x",
      error: null,
      error_description: 7,
      scope: 42,
      id_token: false,
      "ключ\u2028": "значение",
      "": "",
    }),
    expect: { seconds: 2 },
  },
  { name: "nested junk 40 levels deep", body: (t) => ({ ...good(t), junk: nested(40), more: [[[[{}]]]] }), expect: { seconds: 2 } },
  { name: "a 900 KB body (within the 1 MiB cap)", body: (t) => ({ ...good(t), padding: "p".repeat(900_000) }), expect: { seconds: 2 } },
  {
    name: "form-encoded: expires_in=abc, token_type empty",
    body: (t) => good(t, { expires_in: "abc", token_type: "" }),
    formEncoded: true,
    expect: "default",
  },
  {
    name: "form-encoded: a numeric refresh token, expires_in=-1",
    body: (t) => good(t, { expires_in: -1 }),
    formEncoded: true,
    numericRefreshToken: true,
    expect: "default",
  },
  { name: "HTTP 201 with expires_in \"abc\"", body: (t) => good(t, { expires_in: "abc" }), status: 201, expect: "default" },
  { name: "HTTP 203 without token_type", body: (t) => without(good(t), "token_type"), status: 203, expect: { seconds: 2 } },
];

describe("odd-but-2xx rotating token responses", () => {
  let rig: FaultRig;
  let flows: LinkFlows;
  let d: RigDaemon;
  /** Per case: the tokens its odd answer carried. */
  const issued = new Map<string, IssuedTokens>();
  let lastOddAnswerAt = 0;

  beforeAll(async () => {
    rig = await FaultRig.start({ expiresInSec: 120 });
    flows = enableLinkFlows(rig.fake);
    d = await rig.daemon({ provider: { default_token_lifetime: `${DEFAULT_LIFETIME_S}s`, revoke_url: flows.revokeUrl } });
    for (const [i] of CASES.entries()) await d.client.importLink(`odd-${i}`, expiredSeed(rig.fake));
  });
  afterAll(async () => {
    await rig?.close();
  });

  describe("the refresh answered oddly: one request, no replay, the documented answer", () => {
    it.each(CASES.map((c, i) => ({ ...c, i })))("$name", async ({ i, name: _name, body, expect: want, ...fault }) => {
      const { fake } = rig;
      const before = { requests: fake.tokenRequests, refreshes: fake.refreshes, replays: fake.replays };
      fake.failNext(1, {
        ...fault,
        oddSuccess: (t) => {
          issued.set(`odd-${i}`, t);
          return body(t);
        },
      });
      let outcome;
      try {
        outcome = await d.client.obtain(`odd-${i}`, { minValidMs: 0, deadlineMs: 15_000 });
      } finally {
        fake.tokenFaults.length = 0; // never leak into the next case
        lastOddAnswerAt = Date.now();
      }
      const what = describeOutcome(outcome);
      const t = issued.get(`odd-${i}`);
      expect(t, "the odd answer was sent").toBeDefined();
      expect(fake.tokenRequests - before.requests, `a 2xx must not be retried: ${what}`).toBe(1);
      expect(fake.refreshes - before.refreshes).toBe(1);
      expect(fake.replays - before.replays, what).toBe(0);

      if (want === "no access token") {
        expect(outcome.ok, what).toBe(false);
        if (outcome.ok) return;
        expect([grpc.status.INTERNAL, grpc.status.UNKNOWN], what).not.toContain(outcome.code);
        expect(outcome.reason, what).toBeDefined();
        expect(outcome.reason, what).not.toBe("INTERNAL");
        return;
      }
      expect(outcome.ok, what).toBe(true);
      if (!outcome.ok) return;
      expect(outcome.token.accessToken).toBe(t!.accessToken);
      expect(outcome.token.tokenType).toBe("bearer");
      expect(outcome.token.expiresAt, "with default_token_lifetime configured, every answer expires").toBeDefined();
      const left = remainingMs(outcome.token);
      if (want === "capped") {
        expect(left / 1000).toBeGreaterThan(TEN_YEARS_S * 0.99);
        expect(left / 1000).toBeLessThan(TEN_YEARS_S * 1.01);
      } else {
        const seconds = want === "default" ? DEFAULT_LIFETIME_S : want.seconds;
        expect(left, `lifetime should be ${seconds} s`).toBeLessThanOrEqual(seconds * 1000 + 1_500);
        expect(left, `lifetime should be ${seconds} s`).toBeGreaterThan(seconds * 1000 - 1_500);
      }
    });
  });

  describe("the next refresh presents the odd answer's refresh token and succeeds", () => {
    beforeAll(async () => {
      // Every short-lived answer above has expired (the longest lives 3 s).
      await sleep(Math.max(0, lastOddAnswerAt + 3_300 - Date.now()));
    });

    it.each(CASES.map((c, i) => ({ ...c, i })))("$name", async ({ i, expect: want }) => {
      const { fake } = rig;
      const t = issued.get(`odd-${i}`);
      expect(t, "the odd answer was sent").toBeDefined();
      const presented: Array<string | undefined> = [];
      fake.beforeRespond = async (ctx) => void presented.push(ctx.presentedRefreshToken);
      const before = { requests: fake.tokenRequests, replays: fake.replays };
      try {
        const outcome = await d.client.obtain(`odd-${i}`, { minValidMs: 0, deadlineMs: 15_000 });
        const what = describeOutcome(outcome);
        expect(outcome.ok, what).toBe(true);
        if (!outcome.ok) return;
        expect(fake.isValid(outcome.token.accessToken)).toBe(true);
        if (want === "capped") {
          // Still the odd answer's token, for ten years: no refresh to force; Unlink revokes what is stored.
          expect(outcome.token.accessToken).toBe(t!.accessToken);
          expect(fake.tokenRequests - before.requests).toBe(0);
          await d.client.unlink(`odd-${i}`);
          expect(flows.revocations.map((r) => r.token)).toContain(t!.refreshToken);
        } else {
          expect(fake.tokenRequests - before.requests, what).toBe(1);
          expect(presented).toEqual([t!.refreshToken]);
        }
        expect(fake.replays - before.replays).toBe(0);
      } finally {
        fake.beforeRespond = undefined;
      }
    });
  });

  it("ends with no replay at all, no provider error, the daemon alive", () => {
    expect(rig.fake.replays).toBe(0);
    expect(rig.fake.errors).toEqual([]);
    expect(d.alive()).toBe(true);
  });
});
