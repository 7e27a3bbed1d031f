/**
 * The domain's one translation of each lower room's error (docs/design.md §9):
 * an OAuthError means different things on a refresh and in a link flow; a
 * DecryptError is DECRYPT_FAILED for its link and never carries the value.
 */
import { describe, expect, it } from "vitest";
import { DecryptError } from "../../src/crypto/index.js";
import { BrokerError, Reason, domainError, fromOAuthError } from "../../src/errors/index.js";
import { OAuthError, type OAuthErrorKind } from "../../src/oauth/index.js";

const oauth = (kind: OAuthErrorKind, retryAfterMs?: number): OAuthError =>
  new OAuthError({ kind, sent: "answered", message: "provider said no", status: 400, error: "x", ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });

describe("fromOAuthError", () => {
  const refresh = { grant: "refresh", failedAt: 1234, retryAfterMs: 30_000 } as const;
  const link = { grant: "link", field: "code" } as const;

  it.each([
    ["client_credentials", refresh, Reason.PROVIDER_MISCONFIGURED, { failureReason: "why", retryAfterMs: 30_000 }],
    ["client_credentials", link, Reason.PROVIDER_MISCONFIGURED, { failureReason: "why" }],
    ["transient", refresh, Reason.PROVIDER_UNAVAILABLE, { retryAfterMs: 1000 }],
    ["transient", link, Reason.PROVIDER_UNAVAILABLE, { retryAfterMs: 1000 }],
    ["rate_limited", refresh, Reason.PROVIDER_RATE_LIMITED, { retryAfterMs: 1000 }],
    ["unusable_answer", refresh, Reason.PROVIDER_UNAVAILABLE, { retryAfterMs: 1000 }],
    ["unusable_answer", link, Reason.PROVIDER_UNAVAILABLE, { retryAfterMs: 1000 }],
    ["permanent", refresh, Reason.REAUTH_REQUIRED, { failureReason: "why", failedAt: 1234 }],
    ["permanent", link, Reason.INVALID_ARGUMENT, { failureReason: "why", field: "code" }],
  ] as const)("%s during a %o grant → %s", (kind, site, reason, detail) => {
    const e = fromOAuthError("gh", oauth(kind), "why", site);
    expect(e.reason).toBe(reason);
    expect(e.detail).toMatchObject(detail);
  });

  it("the link flow's misconfiguration carries no breaker backoff", () => {
    expect(fromOAuthError("gh", oauth("client_credentials"), "why", link).detail.retryAfterMs).toBeUndefined();
  });

  it("a provider's Retry-After reaches the caller", () => {
    expect(fromOAuthError("gh", oauth("rate_limited", 7000), "why", refresh).detail.retryAfterMs).toBe(7000);
    expect(fromOAuthError("gh", oauth("transient", 2500), "why", link).detail.retryAfterMs).toBe(2500);
  });
});

describe("domainError", () => {
  it("a DecryptError is DECRYPT_FAILED, naming the link's provider and the key when known", () => {
    const e = domainError(new DecryptError("tag mismatch", "k1a2b3c4"), { providerId: "gh" });
    expect(e).toBeInstanceOf(BrokerError);
    const b = e as BrokerError;
    expect(b.reason).toBe(Reason.DECRYPT_FAILED);
    expect(b.message).toContain('"gh"');
    expect(b.detail.hint).toContain("k1a2b3c4");
    const stray = domainError(new DecryptError("tag mismatch")) as BrokerError;
    expect(stray.reason).toBe(Reason.DECRYPT_FAILED);
    expect(stray.message).toBe("a stored value failed to decrypt");
  });

  it("anything else passes unchanged", () => {
    const plain = new Error("boom");
    const broker = new BrokerError(Reason.LINK_NOT_FOUND, "no link");
    expect(domainError(plain, { providerId: "gh" })).toBe(plain);
    expect(domainError(broker)).toBe(broker);
  });
});
