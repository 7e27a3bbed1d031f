/**
 * docs/design.md §3 invariant 10 and §3.1: whatever a 2xx from the token
 * endpoint holds, it is answered once — never retried with the refresh token
 * the provider may just have rotated — and, when it carries a token, used.
 * Each row goes through the real request path (refreshWithRetry, oauth4webapi
 * request building, fetch) to a loopback server that counts requests.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { OAuthError } from "../../src/oauth/oauth-error.js";
import { refreshWithRetry } from "../../src/oauth/refresh-retry.js";
import { MAX_TOKEN_LIFETIME_SEC, type TokenSet } from "../../src/oauth/token-normalize.js";
import type { CaptureServer, ScriptedReply } from "../support/fake-capture.js";
import { useCaptureServer } from "../support/scoped-fakes.js";

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const ok = { access_token: "at-new", token_type: "bearer", expires_in: 3600, refresh_token: "rt-new" };
/** A junk member that brings the body close to, but under, the 1 MiB cap. */
const nearlyOneMiB = "x".repeat(1024 * 1024 - 200);

type Expected =
  | { tokens: Partial<TokenSet>; notes: boolean }
  | { kind: OAuthError["kind"]; error?: string };

const table: Array<[string, ScriptedReply, Expected]> = [
  ["expires_in 1e16", { status: 200, body: { ...ok, expires_in: 1e16 } }, { tokens: { expiresInSec: MAX_TOKEN_LIFETIME_SEC, refreshToken: "rt-new" }, notes: true }],
  ["expires_in 1e300", { status: 200, body: { ...ok, expires_in: 1e300 } }, { tokens: { expiresInSec: MAX_TOKEN_LIFETIME_SEC }, notes: true }],
  ["expires_in 1e400 (JSON overflows to Infinity)", { status: 200, body: '{"access_token":"at-new","refresh_token":"rt-new","expires_in":1e400}' }, { tokens: { expiresInSec: 3600, refreshToken: "rt-new" }, notes: true }],
  ["expires_in 0.0005", { status: 200, body: { ...ok, expires_in: 0.0005 } }, { tokens: { expiresInSec: 1 }, notes: true }],
  ["expires_in -100", { status: 200, body: { ...ok, expires_in: -100 } }, { tokens: { expiresInSec: 3600, refreshToken: "rt-new" }, notes: true }],
  ["expires_in 0", { status: 200, body: { ...ok, expires_in: 0 } }, { tokens: { expiresInSec: 3600 }, notes: true }],
  ['expires_in "abc"', { status: 200, body: { ...ok, expires_in: "abc" } }, { tokens: { expiresInSec: 3600 }, notes: true }],
  ['expires_in "3600"', { status: 200, body: { ...ok, expires_in: "3600" } }, { tokens: { expiresInSec: 3600 }, notes: false }],
  ["expires_in null", { status: 200, body: { ...ok, expires_in: null } }, { tokens: { refreshToken: "rt-new" }, notes: true }],
  ["expires_in true", { status: 200, body: { ...ok, expires_in: true } }, { tokens: { expiresInSec: 3600 }, notes: true }],
  ["token_type 5", { status: 200, body: { ...ok, token_type: 5 } }, { tokens: { tokenType: "bearer", accessToken: "at-new" }, notes: true }],
  ['token_type ""', { status: 200, body: { ...ok, token_type: "" } }, { tokens: { tokenType: "bearer" }, notes: true }],
  ["token_type null", { status: 200, body: { ...ok, token_type: null } }, { tokens: { tokenType: "bearer" }, notes: true }],
  ["token_type of 300 characters", { status: 200, body: { ...ok, token_type: "t".repeat(300) } }, { tokens: { tokenType: "bearer" }, notes: true }],
  ['token_type "User" (Slack)', { status: 200, body: { ...ok, token_type: "User" } }, { tokens: { tokenType: "user" }, notes: false }],
  ['access_token "" with a new refresh token', { status: 200, body: { ...ok, access_token: "" } }, { tokens: { accessToken: "", refreshToken: "rt-new" }, notes: true }],
  ["no access_token, a new refresh token", { status: 200, body: { refresh_token: "rt-new", expires_in: 60 } }, { tokens: { accessToken: "", refreshToken: "rt-new", expiresInSec: 60 }, notes: true }],
  ["access_token a number", { status: 200, body: { ...ok, access_token: 12345 } }, { tokens: { accessToken: "12345" }, notes: true }],
  ["refresh_token a number", { status: 200, body: { ...ok, refresh_token: 5 } }, { tokens: { refreshToken: "5" }, notes: true }],
  ["extra junk members", { status: 200, body: { ...ok, junk: 1, more: [null, true], "": "empty key", id_token: "not.a.jwt" } }, { tokens: { accessToken: "at-new", refreshToken: "rt-new" }, notes: false }],
  ["nested objects as tokens", { status: 200, body: { access_token: { value: "x" }, refresh_token: "rt-new", token_type: { a: 1 } } }, { tokens: { accessToken: "", refreshToken: "rt-new", tokenType: "bearer" }, notes: true }],
  ["a huge body within the 1 MiB cap", { status: 200, body: { ...ok, padding: nearlyOneMiB } }, { tokens: { accessToken: "at-new", refreshToken: "rt-new", expiresInSec: 3600 }, notes: false }],
  ["form-encoded odd values", { status: 200, headers: FORM, body: "access_token=at-new&refresh_token=rt-new&expires_in=abc&token_type=" }, { tokens: { accessToken: "at-new", refreshToken: "rt-new", expiresInSec: 3600, tokenType: "bearer" }, notes: true }],
  ["form-encoded numbers", { status: 200, headers: FORM, body: "access_token=at-new&refresh_token=rt-new&expires_in=59.5" }, { tokens: { expiresInSec: 60 }, notes: true }],
  ["HTTP 201 with tokens", { status: 201, body: ok }, { tokens: { accessToken: "at-new", refreshToken: "rt-new" }, notes: false }],
  ["refresh_token null (not rotated)", { status: 200, body: { ...ok, refresh_token: null } }, { tokens: { accessToken: "at-new" }, notes: true }],
  // Neither token: the provider may have rotated, so the answer is final (unusable_answer).
  ["an empty body", { status: 200 }, { kind: "unusable_answer" }],
  ["HTTP 204", { status: 204 }, { kind: "unusable_answer" }],
  ["a non-JSON body", { status: 200, headers: { "content-type": "text/html" }, body: "<html>welcome</html>" }, { kind: "unusable_answer" }],
  ["a JSON array", { status: 200, body: [ok] }, { kind: "unusable_answer" }],
  ["a JSON string", { status: 200, body: '"at-new"' }, { kind: "unusable_answer" }],
  ["an object without tokens", { status: 200, body: { token_type: "bearer", expires_in: 3600 } }, { kind: "unusable_answer" }],
  ["both tokens null", { status: 200, body: { access_token: null, refresh_token: null } }, { kind: "unusable_answer" }],
  ["form-encoded without tokens", { status: 200, headers: FORM, body: "foo=bar" }, { kind: "unusable_answer" }],
  ["a body over the cap", { status: 200, body: { ...ok, padding: "x".repeat(1024 * 1024) } }, { kind: "unusable_answer" }],
  // An OAuth error in a 2xx stays an error, classified as the error it is.
  ["GitHub's bad_refresh_token", { status: 200, body: { error: "bad_refresh_token", error_description: "expired" } }, { kind: "permanent", error: "bad_refresh_token" }],
  ["GitHub's incorrect_client_credentials", { status: 200, body: { error: "incorrect_client_credentials" } }, { kind: "client_credentials", error: "incorrect_client_credentials" }],
];

let server: CaptureServer;
beforeAll(async () => {
  server = await useCaptureServer();
});

describe("a 2xx from the token endpoint is answered once", () => {
  it("the table has at least 20 odd-but-2xx rows", () => {
    expect(table.length).toBeGreaterThanOrEqual(20);
  });

  it.each(table)("%s", async (_what, reply, expected) => {
    server.requests.length = 0;
    server.replies.push(reply);
    const waits: number[] = [];
    const attempts: string[] = [];
    const outcome = await refreshWithRetry(
      { id: "odd", tokenUrl: `${server.url}/token`, clientId: "cid", clientSecret: "csecret", tokenAuthMethod: "client_secret_basic", extraTokenKeys: [], quirks: "standard", scopes: [] },
      "rt-old",
      {
        timeoutMs: 2000,
        initialBackoffMs: 1,
        maxBackoffMs: 1,
        budgetMs: 300,
        sleep: async (ms) => {
          waits.push(ms);
        },
        onAttempt: (_n, e) => attempts.push(e.kind),
      },
    ).then(
      (tokens) => ({ tokens }),
      (err: unknown) => ({ err: err as OAuthError }),
    );

    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.form.get("refresh_token")).toBe("rt-old");
    expect(waits).toEqual([]);
    if ("tokens" in expected) {
      expect("tokens" in outcome ? outcome.tokens : outcome.err).toMatchObject(expected.tokens);
      const set = (outcome as { tokens: TokenSet }).tokens;
      expect(set.notes.length > 0).toBe(expected.notes);
      if (set.expiresInSec !== undefined) expect(Number.isSafeInteger(set.expiresInSec) && set.expiresInSec >= 1).toBe(true);
    } else {
      expect("err" in outcome).toBe(true);
      const err = (outcome as { err: OAuthError }).err;
      expect({ kind: err.kind, error: err.error, status: err.status }).toEqual({ kind: expected.kind, error: expected.error, status: reply.status });
      expect(attempts).toEqual([expected.kind]);
      expect(err.message).not.toMatch(/[=&/?#]/);
      if (expected.kind === "unusable_answer") {
        expect(err.message).toMatch(new RegExp(`^token endpoint answered HTTP ${reply.status} (without usable tokens|but its body exceeded)`));
        expect(err.sent).toBe("unknown");
      } else {
        expect(err.sent).toBe("answered");
      }
    }
  });
});
