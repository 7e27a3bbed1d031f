import { createHash, randomBytes } from "node:crypto";
import { BrokerError, Reason, fromOAuthError } from "../errors/index.js";
import { noteProviderContacted, type CallScope } from "../audit/call-scope.js";
import type { Logger } from "../log.js";
import {
  OAuthError,
  SLOW_DOWN_INCREMENT_SEC,
  accountFromIdToken,
  buildAuthorizeUrl,
  createPkce,
  exchangeCode,
  failureReason,
  fetchAccount,
  generateState,
  grantedScopesOf,
  pollDeviceToken,
  revokeTokens,
  startDeviceAuthorization,
  type TokenSet,
} from "../oauth/index.js";
import type { ProviderEntry, ProviderRegistry } from "../providers/index.js";
import type { FlowStore } from "../store/flow-store.js";
import type { LinkKey, LinkRecord, LinkStore } from "../store/link-store.js";
import { RedirectRule } from "./redirect-target.js";

export const DEFAULT_STATE_TTL_MS = 10 * 60_000;

export interface LinkFlowsOptions {
  store: LinkStore;
  flows: FlowStore;
  providers: ProviderRegistry;
  /** Origins a non-relative redirect_after may point to. */
  redirectAllowlist: string[];
  timeoutMs: number;
  /** How long a StartLink state stays usable (default 10 minutes). */
  stateTtlMs?: number;
  log: Logger;
  now?: () => number;
}

export type DevicePoll =
  | { state: "pending"; retryAfterMs: number }
  | { state: "linked"; link: LinkRecord }
  | { state: "denied"; reason: string }
  | { state: "expired" };

/**
 * The link lifecycle around the refresh engine: authorization code with
 * state and PKCE, the device flow, and unlink with best-effort revocation.
 * State and session ids are random and stored hashed; the PKCE verifier and
 * the device code are sealed by the store.
 */
export class LinkFlows {
  readonly #o: LinkFlowsOptions;
  readonly #now: () => number;
  readonly #redirect: RedirectRule;

  constructor(opts: LinkFlowsOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#redirect = new RedirectRule(opts.providers.callbacks.publicUrl, opts.redirectAllowlist);
  }

  async start(key: LinkKey, redirectAfter: string): Promise<{ authorizeUrl: string; state: string; expiresAt: number }> {
    const entry = this.#o.providers.require(key.providerId);
    const p = entry.config;
    if (p.authUrl === undefined) throw new BrokerError(Reason.INVALID_ARGUMENT, `provider ${JSON.stringify(p.id)} has no authorization endpoint`, { field: "provider_id" });
    const redirect = redirectAfter === "" ? undefined : this.#redirect.judge(redirectAfter);
    if (redirect?.allowed === false) throw BrokerError.invalidArgument("redirect_after", redirect.problem);
    const state = generateState();
    const pkce = await createPkce(p.pkceMethods);
    const now = this.#now();
    const expiresAt = now + (this.#o.stateTtlMs ?? DEFAULT_STATE_TTL_MS);
    await this.#o.flows.createAuthFlow({
      stateHash: hash(state),
      providerId: key.providerId,
      userId: key.userId,
      codeVerifier: pkce?.codeVerifier ?? null,
      redirectAfter: redirectAfter === "" ? null : redirectAfter,
      createdAt: now,
      expiresAt,
    });
    const authorizeUrl = buildAuthorizeUrl(p, {
      state,
      redirectUri: entry.redirectUri,
      scopes: p.scopes,
      ...(pkce !== undefined ? { codeChallenge: pkce.codeChallenge, codeChallengeMethod: pkce.codeChallengeMethod } : {}),
    });
    return { authorizeUrl, state, expiresAt };
  }

  /**
   * Finishes a code flow. The state is consumed first (single use) whatever
   * happens next; `expectProvider` guards the callback path's provider id.
   * `cause` (here and below): the RPC asking, whose audit line says whether
   * a provider was contacted; none for the browser's callback.
   */
  async complete(state: string, code: string, expectProvider?: string, cause?: CallScope): Promise<{ link: LinkRecord; redirectAfter: string | null }> {
    const flow = state === "" ? undefined : await this.#o.flows.takeAuthFlow(hash(state), this.#now());
    if (flow === undefined) throw BrokerError.invalidArgument("state", "unknown, expired or already used");
    if (expectProvider !== undefined && flow.providerId !== expectProvider) throw BrokerError.invalidArgument("state", "belongs to another provider");
    if (code === "") throw BrokerError.invalidArgument("code", "must not be empty");
    const entry = this.#o.providers.require(flow.providerId);
    const p = entry.config;
    let tokens: TokenSet;
    try {
      noteProviderContacted(cause);
      tokens = await exchangeCode(p, {
        code,
        redirectUri: entry.redirectUri,
        ...(flow.codeVerifier !== null ? { codeVerifier: flow.codeVerifier } : {}),
        timeoutMs: this.#o.timeoutMs,
      });
    } catch (err) {
      throw grantError(entry, err, "code", [code, flow.codeVerifier ?? ""]);
    }
    const link = await this.#store({ providerId: flow.providerId, userId: flow.userId }, tokens, cause);
    this.#o.log.info({ provider: p.id }, "link created by authorization code");
    return { link, redirectAfter: flow.redirectAfter };
  }

  async startDevice(key: LinkKey, cause?: CallScope): Promise<{ sessionId: string; userCode: string; verificationUri: string; verificationUriComplete: string; intervalMs: number; expiresAt: number }> {
    const entry = this.#o.providers.require(key.providerId);
    const p = entry.config;
    if (!p.deviceFlow || p.deviceCodeUrl === undefined) {
      throw new BrokerError(Reason.INVALID_ARGUMENT, `provider ${JSON.stringify(p.id)} does not have the device flow enabled`, { field: "provider_id" });
    }
    let auth;
    try {
      noteProviderContacted(cause);
      auth = await startDeviceAuthorization(p, { scopes: p.scopes, timeoutMs: this.#o.timeoutMs });
    } catch (err) {
      throw grantError(entry, err, "provider_id", []);
    }
    const sessionId = randomBytes(24).toString("base64url");
    const now = this.#now();
    const intervalMs = auth.intervalSec * 1000;
    const expiresAt = now + auth.expiresInSec * 1000;
    await this.#o.flows.createDeviceFlow({
      sessionHash: hash(sessionId),
      providerId: key.providerId,
      userId: key.userId,
      deviceCode: auth.deviceCode,
      intervalMs,
      nextPollAt: now + intervalMs,
      createdAt: now,
      expiresAt,
    });
    return { sessionId, userCode: auth.userCode, verificationUri: auth.verificationUri, verificationUriComplete: auth.verificationUriComplete ?? "", intervalMs, expiresAt };
  }

  /**
   * One poll, never faster than the provider allows: before `nextPollAt` the
   * answer is PENDING without contacting the provider.
   */
  async pollDevice(sessionId: string, cause?: CallScope): Promise<DevicePoll> {
    if (sessionId === "") throw BrokerError.invalidArgument("session_id", "must not be empty");
    const h = hash(sessionId);
    const flow = await this.#o.flows.getDeviceFlow(h);
    if (flow === undefined) throw new BrokerError(Reason.NOT_FOUND, "unknown device flow session (finished or never started)");
    const now = this.#now();
    if (now >= flow.expiresAt) {
      await this.#o.flows.deleteDeviceFlow(h);
      return { state: "expired" };
    }
    if (now < flow.nextPollAt) return { state: "pending", retryAfterMs: flow.nextPollAt - now };
    const claimed = await this.#o.flows.claimDevicePoll(h, now, flow.intervalMs);
    if (claimed === undefined) return { state: "pending", retryAfterMs: flow.intervalMs };
    const entry = this.#o.providers.require(flow.providerId);
    const p = entry.config;
    let result;
    try {
      noteProviderContacted(cause);
      result = await pollDeviceToken(p, claimed.deviceCode, { timeoutMs: this.#o.timeoutMs });
    } catch (err) {
      throw grantError(entry, err, "session_id", [claimed.deviceCode]);
    }
    switch (result.status) {
      case "pending":
        return { state: "pending", retryAfterMs: flow.intervalMs };
      case "slow_down": {
        const intervalMs = flow.intervalMs + SLOW_DOWN_INCREMENT_SEC * 1000;
        const nextPollAt = await this.#slowDown(h, intervalMs);
        return { state: "pending", retryAfterMs: Math.max(0, nextPollAt - this.#now()) };
      }
      case "denied":
        await this.#o.flows.deleteDeviceFlow(h);
        return { state: "denied", reason: result.reason };
      case "expired":
        await this.#o.flows.deleteDeviceFlow(h);
        return { state: "expired" };
      case "linked": {
        await this.#o.flows.deleteDeviceFlow(h);
        const link = await this.#store({ providerId: flow.providerId, userId: flow.userId }, result.tokens, cause);
        this.#o.log.info({ provider: p.id }, "link created by device flow");
        return { state: "linked", link };
      }
    }
  }

  /**
   * Stores the longer interval after slow_down (RFC 8628 §3.5: for this and
   * every later poll). Our claim reserved the session until its nextPollAt,
   * and claimDevicePoll only updates a session whose nextPollAt has come, so
   * the update is made as of that instant: the next poll waits the new
   * interval counted from the end of the reservation (never sooner than the
   * provider asked). Returns when the next poll may happen.
   */
  /** RFC 8628 §3.5: the interval grows for good, counted from this poll. */
  async #slowDown(h: string, intervalMs: number): Promise<number> {
    const nextPollAt = this.#now() + intervalMs;
    await this.#o.flows.setDevicePoll(h, intervalMs, nextPollAt);
    return nextPollAt;
  }

  /**
   * Deletes first, so a concurrent ObtainAccessToken sees LINK_NOT_FOUND and
   * never a token about to be revoked; then revokes, best effort.
   */
  async unlink(key: LinkKey, deleted: LinkRecord, cause?: CallScope): Promise<{ tokenRevoked: boolean; revocationError: string }> {
    const p = this.#o.providers.require(key.providerId).config;
    if (p.revocation !== "none") noteProviderContacted(cause);
    const result = await revokeTokens(p, {
      ...(deleted.refreshToken !== null ? { refreshToken: deleted.refreshToken } : {}),
      ...(deleted.accessToken !== "" ? { accessToken: deleted.accessToken } : {}),
      timeoutMs: this.#o.timeoutMs,
    });
    this.#o.log.info({ provider: p.id, revoked: result.revoked }, "link deleted");
    return { tokenRevoked: result.revoked, revocationError: result.error ?? "" };
  }

  /**
   * Where the callback sends the browser for a stored redirect_after, judged
   * again by the rule StartLink applied (the allow-list may have changed
   * since); undefined when it no longer passes.
   */
  redirectLocation(target: string): string | undefined {
    const verdict = this.#redirect.judge(target);
    return verdict.allowed ? verdict.location : undefined;
  }

  async #store(key: LinkKey, tokens: TokenSet, cause: CallScope | undefined): Promise<LinkRecord> {
    const account = await this.#account(key, tokens, cause);
    const grantedScopes = grantedScopesOf(tokens.scope);
    const now = this.#now();
    return this.#o.store.put(
      key,
      {
        accessToken: tokens.accessToken,
        tokenType: tokens.tokenType,
        refreshToken: tokens.refreshToken ?? null,
        expiresAt: tokens.expiresInSec === undefined ? null : now + tokens.expiresInSec * 1000,
        extra: tokens.extra,
        account: account ?? null,
        grantedScopes: grantedScopes ?? null,
      },
      now,
    );
  }

  /**
   * Whose token this is (`tokenbroker links` shows it): an ID token's claims
   * when the answer kept one, else the provider's user endpoint (its
   * validate URL: GitHub's /user, OIDC userinfo), asked once with the new
   * access token. Best effort: unknown never fails the link.
   */
  async #account(key: LinkKey, tokens: TokenSet, cause: CallScope | undefined): Promise<string | undefined> {
    const fromIdToken = accountFromIdToken(tokens.extra["id_token"]);
    if (fromIdToken !== undefined) return fromIdToken;
    const url = this.#o.providers.require(key.providerId).config.validateUrl;
    if (url === undefined || tokens.accessToken === "") return undefined;
    noteProviderContacted(cause);
    return fetchAccount(url, tokens.accessToken, { timeoutMs: this.#o.timeoutMs });
  }
}

/** A grant's failure in a link flow; `secrets` are the values sent, scrubbed from the reason. */
function grantError(entry: ProviderEntry, err: unknown, field: string, secrets: string[]): BrokerError {
  if (!(err instanceof OAuthError)) return new BrokerError(Reason.INTERNAL, "link flow failed", {}, { cause: err });
  const reason = failureReason(err, [...secrets, entry.config.clientSecret]);
  return fromOAuthError(entry.config.id, err, reason, { grant: "link", field });
}

function hash(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("base64url");
}
