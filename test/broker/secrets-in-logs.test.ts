/**
 * docs/design.md §6: no token, refresh token or client secret ever appears in a log
 * line or an error. One engine run goes through refreshes, retries,
 * permanent failures, validation verdicts and client-credential errors, with
 * a provider that echoes secrets back in its error bodies; the captured log
 * text (at trace level) and every error the callers saw must hold none of
 * the values involved.
 */
import { describe, expect, it } from "vitest";
import { BrokerError, Reason } from "../../src/errors/index.js";
import { assertNoSecretsIn, brokerError, harness, key } from "./harness.js";

const MIN_VALID = 60_000;

describe("secrets never reach logs or errors (docs/design.md §6)", () => {
  it("a run with refreshes and every kind of failure logs no token value and no client secret", async () => {
    const h = await harness({ settings: { validate: true, budgetMs: 1500 } });
    const errors: BrokerError[] = [];
    const seen: string[] = [];

    // A plain refresh, validated.
    await h.seed(key("ok"), { accessTtlSec: 5 });
    seen.push((await h.engine.obtain(key("ok"), MIN_VALID)).accessToken);

    // Transient failures whose bodies echo the refresh token, then success.
    const { tokens: flaky } = await h.seed(key("flaky"), { accessTtlSec: 5 });
    const echo = JSON.stringify({ error: "server_error", error_description: `could not use refresh_token=${flaky.refreshToken}` });
    h.fake.failNext(2, { status: 500, body: echo });
    seen.push((await h.engine.obtain(key("flaky"), MIN_VALID)).accessToken);

    // A permanent failure whose description echoes the refresh token and the client secret.
    const { tokens: dead } = await h.seed(key("dead"), { accessTtlSec: 5 });
    h.fake.failNext(1, { oauthError: "invalid_grant", description: `grant ${dead.refreshToken} revoked (client_secret=${h.provider.clientSecret})` });
    errors.push(await brokerError(h.engine.obtain(key("dead"), MIN_VALID), Reason.REAUTH_REQUIRED));
    errors.push(await brokerError(h.engine.obtain(key("dead"), MIN_VALID), Reason.REAUTH_REQUIRED));

    // A race lost to a winner.
    const { tokens: raced } = await h.seed(key("raced"), { accessTtlSec: 5 });
    h.fake.revoke(raced.refreshToken);
    const winner = h.fake.issue({ accessTtlSec: 3600 });
    h.secrets.add(winner.accessToken).add(winner.refreshToken);
    h.onRespond = async () => {
      await h.store.put(key("raced"), { accessToken: winner.accessToken, tokenType: "bearer", refreshToken: winner.refreshToken, expiresAt: winner.expiresAt, extra: {} }, Date.now());
    };
    seen.push((await h.engine.obtain(key("raced"), MIN_VALID)).accessToken);
    h.onRespond = undefined;

    // Validation verdicts: rejected, then rate limited.
    await h.seed(key("rejected"), { accessTtlSec: 5 });
    h.fake.failValidateNext(1, { status: 401, body: '{"message":"Bad credentials"}' });
    errors.push(await brokerError(h.engine.obtain(key("rejected"), MIN_VALID), Reason.REAUTH_REQUIRED));
    await h.seed(key("limited"), { accessTtlSec: 5 });
    h.fake.failValidateNext(1, { status: 429 });
    seen.push((await h.engine.obtain(key("limited"), MIN_VALID)).accessToken);

    // Rate limited and unavailable token endpoints.
    await h.seed(key("throttled"), { accessTtlSec: 5 });
    h.fake.failNext(100, { status: 429, body: echo });
    errors.push(await brokerError(h.engine.obtain(key("throttled"), MIN_VALID), Reason.PROVIDER_RATE_LIMITED));
    h.fake.tokenFaults.length = 0;

    // Client credentials rejected, with the secret echoed back.
    await h.seed(key("misconfigured"), { accessTtlSec: 5 });
    h.fake.failNext(1, { oauthError: "invalid_client", description: `bad client_secret ${h.provider.clientSecret}` });
    errors.push(await brokerError(h.engine.obtain(key("misconfigured"), MIN_VALID), Reason.PROVIDER_MISCONFIGURED));
    errors.push(await brokerError(h.engine.obtain(key("misconfigured"), MIN_VALID), Reason.PROVIDER_MISCONFIGURED));

    await h.engine.drain();
    expect(seen.every((t) => t.length > 20)).toBe(true);
    for (const t of seen) expect(h.secrets.has(t)).toBe(true);
    // Sanity: the run really produced these values and these log lines.
    expect(h.secrets.size).toBeGreaterThan(15);
    const messages = h.logs.lines().map((l) => String(l.msg));
    for (const expected of [
      "token refreshed",
      "refresh attempt failed",
      "refresh token rejected; link needs re-authentication",
      "refresh lost a race; using the winner's token",
      "the provider rejected a freshly refreshed token",
      "validation rate limited; treating the refreshed token as valid",
      "provider rejected the client credentials",
    ]) {
      expect(messages).toContain(expected);
    }

    assertNoSecretsIn(h.logs.text, h.secrets, "logs");
    for (const e of errors) {
      assertNoSecretsIn(`${e.message} ${JSON.stringify(e.detail)}`, h.secrets, `the ${e.reason} error`);
      expect(e.message).not.toMatch(/[=&/?#]/);
    }
    // Stored failure reasons are scrubbed too.
    const dead2 = await h.store.get(key("dead"));
    assertNoSecretsIn(dead2!.refreshFailure!.reason, h.secrets, "the stored failure reason");
  });
});
