import { beforeEach, describe, expect, it } from "vitest";
import { failureReason } from "../../src/oauth/oauth-error.js";
import { refreshGrant } from "../../src/oauth/refresh.js";
import type { TokenSet } from "../../src/oauth/token-normalize.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { endpointsFor, expectOAuthError } from "./helpers.js";

const opts = { timeoutMs: 2000 };

let fake: FakeProvider;
beforeEach(async () => {
  fake = await useFakeProvider();
});

describe("refreshGrant: success", () => {
  it("rotates: new access and refresh tokens, the old refresh token is spent", async () => {
    const seed = fake.issue();
    const set = await refreshGrant(endpointsFor(fake), seed.refreshToken, opts);

    expect(set.accessToken).not.toBe(seed.accessToken);
    expect(set.refreshToken).toBeDefined();
    expect(set.refreshToken).not.toBe(seed.refreshToken);
    expect(set.tokenType).toBe("bearer");
    expect(set.expiresInSec).toBe(120);
    expect(set.extra).toEqual({});
    expect(fake.isValid(set.accessToken)).toBe(true);
    expect(fake.refreshes).toBe(1);
    expect(fake.lastClientAuth).toBe("basic");

    // The next refresh must use the rotated token, and does succeed with it.
    const again = await refreshGrant(endpointsFor(fake), set.refreshToken!, opts);
    expect(fake.isValid(again.accessToken)).toBe(true);
    expect(fake.refreshes).toBe(2);
  });

  it("replaying the spent refresh token is a permanent error and the fake revokes the family", async () => {
    const seed = fake.issue();
    const set = await refreshGrant(endpointsFor(fake), seed.refreshToken, opts);
    await expectOAuthError(refreshGrant(endpointsFor(fake), seed.refreshToken, opts), {
      kind: "permanent",
      status: 400,
      error: "invalid_grant",
    });
    expect(fake.replays).toBe(1);
    expect(fake.revokedFamilies).toBe(1);
    expect(fake.isValid(set.accessToken)).toBe(false);
  });

  it("authenticates with client_secret_post when configured, and form-encodes odd secrets for Basic", async () => {
    fake = await useFakeProvider({ clientSecret: "s3cr+t/=&é %" });
    const seed = fake.issue();
    await refreshGrant(endpointsFor(fake, { tokenAuthMethod: "client_secret_post" }), seed.refreshToken, opts);
    expect(fake.lastClientAuth).toBe("post");
    const seed2 = fake.issue();
    await refreshGrant(endpointsFor(fake), seed2.refreshToken, opts);
    expect(fake.lastClientAuth).toBe("basic");
    expect(fake.refreshes).toBe(2);
  });

  it("a response without refresh_token yields a TokenSet without one, and the old token stays usable", async () => {
    fake = await useFakeProvider({ rotate: false });
    const seed = fake.issue();
    const set = await refreshGrant(endpointsFor(fake), seed.refreshToken, opts);
    expect("refreshToken" in set).toBe(false);
    await refreshGrant(endpointsFor(fake), seed.refreshToken, opts);
    expect(fake.refreshes).toBe(2);
  });

  it("refresh_token: null and a missing token_type are read as 'not rotated' and 'bearer'", async () => {
    fake = await useFakeProvider({ omitTokenType: true, extra: { refresh_token: null, expires_in: null } });
    const set = await refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts);
    expect(set.tokenType).toBe("bearer");
    expect("refreshToken" in set).toBe(false);
    expect("expiresInSec" in set).toBe(false);
  });

  it("accepts provider-specific token types (Slack 'user') and passes them through", async () => {
    fake = await useFakeProvider({ extra: { token_type: "user" } });
    const set = await refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts);
    expect(set.tokenType).toBe("user");
  });

  it("ignores an id_token it cannot verify, but can still hand it out as an extra", async () => {
    const idToken = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL290aGVyIn0.";
    fake = await useFakeProvider({ extra: { id_token: idToken } });
    const set = await refreshGrant(endpointsFor(fake, { extraTokenKeys: ["id_token"] }), fake.issue().refreshToken, opts);
    expect(set.extra).toEqual({ id_token: idToken });
  });

  it("extracts extra keys by dotted path and stringifies non-strings", async () => {
    fake = await useFakeProvider({
      extra: {
        authed_user: { access_token: "xoxp-user-token", id: 42, scopes: ["a", "b"] },
        team: { id: "T1" },
        ok: true,
        "literal.dotted": "kept",
        nothing: null,
      },
    });
    const keys = ["authed_user.access_token", "authed_user.id", "authed_user.scopes", "team", "ok", "literal.dotted", "nothing", "missing.deep.key"];
    const set = await refreshGrant(endpointsFor(fake, { extraTokenKeys: keys }), fake.issue().refreshToken, opts);
    expect(set.extra).toEqual({
      "authed_user.access_token": "xoxp-user-token",
      "authed_user.id": "42",
      "authed_user.scopes": '["a","b"]',
      team: '{"id":"T1"}',
      ok: "true",
      "literal.dotted": "kept",
    });
  });

  it("works with a form-encoded token response (GitHub legacy)", async () => {
    fake = await useFakeProvider({ formEncoded: true, mode: "github" });
    const seed = fake.issue();
    const set: TokenSet = await refreshGrant(endpointsFor(fake), seed.refreshToken, opts);
    expect(fake.isValid(set.accessToken)).toBe(true);
    expect(set.expiresInSec).toBe(120);
    expect(set.refreshToken).toBeDefined();
    expect("scope" in set).toBe(false); // GitHub's empty scope means none
    // Errors arrive form-encoded in HTTP 200 too.
    await expectOAuthError(refreshGrant(endpointsFor(fake), seed.refreshToken, opts), {
      kind: "permanent",
      status: 200,
      error: "bad_refresh_token",
    });
  });
});

describe("refreshGrant: permanent errors", () => {
  it("GitHub bad_refresh_token in an HTTP 200 body", async () => {
    fake = await useFakeProvider({ mode: "github" });
    const err = await expectOAuthError(
      refreshGrant(endpointsFor(fake), "ghr_notARealTokenButLongEnough1234567890", opts),
      { kind: "permanent", status: 200, error: "bad_refresh_token" },
      ["ghr_notARealTokenButLongEnough1234567890", fake.clientSecret],
    );
    expect(err.description).toBe("The refresh token passed is incorrect or expired.");
    expect(failureReason(err)).toBe("bad_refresh_token: The refresh token passed is incorrect or expired.");
  });

  it("invalid_grant", async () => {
    const rt = fake.issue().refreshToken;
    fake.failNext(1, { oauthError: "invalid_grant" });
    await expectOAuthError(refreshGrant(endpointsFor(fake), rt, opts), { kind: "permanent", status: 400, error: "invalid_grant" }, [rt]);
  });

  it("unsupported_grant_type", async () => {
    fake.failNext(1, { oauthError: "unsupported_grant_type" });
    await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), {
      kind: "permanent",
      status: 400,
      error: "unsupported_grant_type",
    });
  });

  it.each([400, 401])("HTTP %i without an error code", async (status) => {
    fake.failNext(1, { status });
    await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), { kind: "permanent", status });
  });

  it("HTTP 400 with an unknown code keeps the code", async () => {
    fake.failNext(1, { oauthError: "invalid_request" });
    await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), {
      kind: "permanent",
      status: 400,
      error: "invalid_request",
    });
  });

  it("an empty refresh token is refused without a request", async () => {
    await expectOAuthError(refreshGrant(endpointsFor(fake), "", opts), { kind: "permanent" });
    expect(fake.tokenRequests).toBe(0);
  });

  it("a provider echoing the refresh token in its description never leaks it", async () => {
    const rt = fake.issue().refreshToken;
    fake.failNext(1, { oauthError: "invalid_grant", description: `Refresh token ${rt} was already used` });
    const err = await expectOAuthError(refreshGrant(endpointsFor(fake), rt, opts), { kind: "permanent", status: 400, error: "invalid_grant" }, [rt]);
    expect(failureReason(err, [rt])).toBe("invalid_grant: Refresh token [redacted] was already used");
  });
});

describe("refreshGrant: client credential errors", () => {
  it("invalid_client (HTTP 401 with a WWW-Authenticate challenge)", async () => {
    const rt = fake.issue().refreshToken;
    await expectOAuthError(
      refreshGrant(endpointsFor(fake, { clientSecret: "wrong-secret" }), rt, opts),
      { kind: "client_credentials", status: 401, error: "invalid_client" },
      ["wrong-secret", rt],
    );
    // The user's grant is untouched by a client failure.
    await refreshGrant(endpointsFor(fake), rt, opts);
  });

  it("invalid_client with client_secret_post", async () => {
    await expectOAuthError(
      refreshGrant(endpointsFor(fake, { clientSecret: "wrong", tokenAuthMethod: "client_secret_post" }), fake.issue().refreshToken, opts),
      { kind: "client_credentials", status: 401, error: "invalid_client" },
    );
  });

  it("GitHub incorrect_client_credentials in an HTTP 200 body", async () => {
    fake = await useFakeProvider({ mode: "github" });
    await expectOAuthError(refreshGrant(endpointsFor(fake, { clientSecret: "wrong" }), fake.issue().refreshToken, opts), {
      kind: "client_credentials",
      status: 200,
      error: "incorrect_client_credentials",
    });
  });

  it("unauthorized_client", async () => {
    fake.failNext(1, { oauthError: "unauthorized_client" });
    await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), {
      kind: "client_credentials",
      status: 400,
      error: "unauthorized_client",
    });
  });

  it("refuses plain http to a non-loopback host without sending anything", async () => {
    const p = endpointsFor(fake, { tokenUrl: "http://tokens.example.com/token" });
    await expectOAuthError(refreshGrant(p, "rt", opts), { kind: "client_credentials" });
  });
});

describe("refreshGrant: transient and rate-limited errors", () => {
  it("HTTP 500", async () => {
    fake.failNext(1, { status: 500 });
    await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), { kind: "transient", status: 500 });
  });

  it("HTTP 503 with Retry-After carries the delay", async () => {
    fake.failNext(1, { status: 503, retryAfterSec: 1 });
    const err = await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), {
      kind: "transient",
      status: 503,
    });
    expect(err.retryAfterMs).toBe(1000);
  });

  it("an HTML 502 page", async () => {
    fake.failNext(1, { html502: true });
    const err = await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), {
      kind: "transient",
      status: 502,
    });
    expect(err.message).toContain("non-JSON");
  });

  it("an HTML page even on HTTP 400 (a proxy, not the OAuth server)", async () => {
    fake.failNext(1, { status: 400, body: "<html>Bad Request</html>", contentType: "text/html" });
    await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), { kind: "transient", status: 400 });
  });

  it("a provider hanging past the timeout", async () => {
    fake.failNext(1, { hangMs: 5000 });
    const started = Date.now();
    const err = await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, { timeoutMs: 300 }), {
      kind: "transient",
    });
    expect(err.message).toContain("timed out");
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("a reset connection", async () => {
    fake.failNext(1, { reset: true });
    const err = await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), { kind: "transient" });
    expect(err.message).toContain("unreachable");
  });

  it("a refused connection", async () => {
    const p = endpointsFor(fake);
    await fake.close();
    await expectOAuthError(refreshGrant(p, "rt", opts), { kind: "transient" });
  });

  it("a shutdown signal aborts the request", async () => {
    fake.failNext(1, { hangMs: 5000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, { timeoutMs: 3000, signal: ac.signal }), {
      kind: "transient",
    });
    expect(err.message).toContain("aborted");
  });

  it("HTTP 429 is rate_limited with its Retry-After", async () => {
    fake.failNext(1, { status: 429, retryAfterSec: 7 });
    const err = await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), {
      kind: "rate_limited",
      status: 429,
    });
    expect(err.retryAfterMs).toBe(7000);
  });

  it("a plain HTTP 403 is transient", async () => {
    fake.failNext(1, { status: 403 });
    await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), { kind: "transient", status: 403 });
  });

  it("an HTTP 403 with X-RateLimit-Remaining: 0 is rate_limited", async () => {
    fake.failNext(1, { status: 403, headers: { "x-ratelimit-remaining": "0" } });
    await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), { kind: "rate_limited", status: 403 });
  });

});

describe("refreshGrant: 2xx answers are never transient (docs/design.md §3.1)", () => {
  it.each([
    ["chunked", true],
    ["with Content-Length", false],
  ])("a 200 body over 1 MiB (%s) is an unusable answer: the provider may have rotated", async (_label, chunked) => {
    fake.failNext(1, { bigBodyBytes: 1024 * 1024 + 10, chunked });
    const err = await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), { kind: "unusable_answer", status: 200 });
    expect(err.message).toContain("exceeded");
    expect(err.sent).toBe("unknown");
  });

  it("a 200 without access_token or refresh_token is an unusable answer, not a dead grant", async () => {
    fake.failNext(1, { status: 200, body: JSON.stringify({ token_type: "bearer" }) });
    const err = await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), { kind: "unusable_answer", status: 200 });
    expect(err.message).toBe("token endpoint answered HTTP 200 without usable tokens (neither access_token nor refresh_token)");
    expect(err.sent).toBe("unknown");
  });

  it("an HTTP error answer says the provider answered; a refused connection says nothing was sent", async () => {
    fake.failNext(1, { status: 503 });
    expect((await expectOAuthError(refreshGrant(endpointsFor(fake), fake.issue().refreshToken, opts), { kind: "transient", status: 503 })).sent).toBe("answered");
    const p = endpointsFor(fake);
    await fake.close();
    expect((await expectOAuthError(refreshGrant(p, "rt", opts), { kind: "transient" })).sent).toBe("not_sent");
  });
});
