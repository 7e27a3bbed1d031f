/**
 * A provider as the simulation sees it: per link a grant whose refresh tokens
 * form one chain. Single-use rotation, reuse detection that revokes the whole
 * grant (Auth0, Okta), an optional reuse grace window, and answers that can
 * be normal, slow, lost after rotating, odd 2xx, 5xx with Retry-After, 429,
 * or never sent at all. It keeps the ground truth the checks need: every
 * replay, which access tokens are valid until when, and which process each
 * rotated refresh token reached.
 */
import type { TokenSet } from "../src/oauth/index.js";
import type { Violation } from "./checks.js";
import type { Rng } from "./rng.js";

export type AnswerMode =
  | { kind: "ok" }
  /** Rotates on arrival, answers after `ms`. */
  | { kind: "slow"; ms: number }
  /** Rotates on arrival; the answer never comes back. */
  | { kind: "lost" }
  /** Rotates and answers 2xx without tokens. */
  | { kind: "odd2xx" }
  | { kind: "unavailable"; retryAfterMs: number }
  | { kind: "rate_limited"; retryAfterMs: number }
  /** Connection refused: nothing reaches the provider. */
  | { kind: "refused" };

export interface Grant {
  id: number;
  link: string;
  /** The refresh token the provider accepts now. */
  current: string;
  /** Refresh tokens already rotated away, with when. */
  spent: Map<string, number>;
  revoked: boolean;
  /** Valid access tokens of this grant and their expiry (true time). */
  access: Map<string, number>;
  /** Processes that received a response carrying each refresh token. */
  heldBy: Map<string, Set<string>>;
}


/** What the provider puts on the wire; the engine's side judges it with the daemon's own code (oauth/token-grant.ts). */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  /** A JSON object body; absent: an empty body. */
  json?: Record<string, unknown>;
}

export interface ProviderSettings {
  lifetimeMs: number;
  /** The declared reuse grace window (0: none). */
  graceMs: number;
  /** Whether issuing a new access token kills the grant's older ones (GitHub does). */
  killsOlderAccess: boolean;
  /** Whether token errors come as HTTP 200 with an `error` member (GitHub's dialect). */
  errorsIn200: boolean;
}

/** A time during which a link's grant had no valid access token: the one before expired before the next was issued. */
export interface Gap {
  link: string;
  from: number;
  to: number;
}

export class ProviderModel {
  readonly grants = new Map<string, Grant>();
  /** Every gap, in the order the provider saw them end (a regression that keeps its links in use expects none). */
  readonly gaps: Gap[] = [];
  /** Every refresh token ever issued, to its link. */
  readonly #links = new Map<string, string>();
  /** Every refresh token ever issued, to its grant's id. */
  readonly #refreshGrants = new Map<string, number>();
  /** Access tokens killed by a later issue (killsOlderAccess), to the refresh token that issue came with. */
  readonly killedBy = new Map<string, string>();
  /** Every access token ever issued, to its grant (a re-link does not revoke the old grant). */
  readonly #accessGrants = new Map<string, Grant>();
  readonly violations: Violation[] = [];
  requests = 0;
  #next = 0;
  /** Answer modes queued for the next requests, in order. */
  readonly #queued: AnswerMode[] = [];

  constructor(
    readonly settings: ProviderSettings,
    private readonly rng: Rng,
  ) {}

  /** A new grant for `link` (a link or re-link): its first tokens. */
  issueGrant(link: string, now: number): { accessToken: string; refreshToken: string; expiresAt: number } {
    const id = ++this.#next;
    const g: Grant = { id, link, current: `rt${id}.0`, spent: new Map(), revoked: false, access: new Map(), heldBy: new Map() };
    const accessToken = `at${id}.0`;
    g.access.set(accessToken, now + this.settings.lifetimeMs);
    this.#accessGrants.set(accessToken, g);
    this.grants.set(link, g);
    this.#links.set(g.current, link);
    this.#refreshGrants.set(g.current, id);
    return { accessToken, refreshToken: g.current, expiresAt: now + this.settings.lifetimeMs };
  }

  queue(mode: AnswerMode, count: number): void {
    for (let i = 0; i < count; i++) this.#queued.push(mode);
  }

  clearQueue(): void {
    this.#queued.length = 0;
  }

  nextMode(): AnswerMode {
    return this.#queued.shift() ?? { kind: "ok" };
  }

  /** The link a refresh token was issued for. */
  linkOf(refreshToken: string): string | undefined {
    return this.#links.get(refreshToken);
  }

  /** Until when `accessToken` is valid at the provider (true time); undefined when it is not. */
  validUntil(link: string, accessToken: string): number | undefined {
    const g = this.#accessGrants.get(accessToken);
    if (g === undefined || g.link !== link || g.revoked) return undefined;
    return g.access.get(accessToken);
  }

  /** Whether `refreshToken` belongs to an older grant of `link` than its current one. */
  refreshOfReplacedGrant(link: string, refreshToken: string): boolean {
    const id = this.#refreshGrants.get(refreshToken);
    return id !== undefined && id !== this.grants.get(link)?.id;
  }

  /** Whether `accessToken` was issued for an older grant of `link` than its current one (a re-link replaced it). */
  ofReplacedGrant(link: string, accessToken: string): boolean {
    const g = this.#accessGrants.get(accessToken);
    return g !== undefined && g !== this.grants.get(link);
  }

  /**
   * The provider processes a refresh request at `now`: the answer it puts on
   * the wire, after recording replays and rotating.
   */
  process(link: string, presented: string, now: number, mode: AnswerMode, from: string): RawAnswer {
    this.requests++;
    const g = this.grants.get(link);
    const retryAfter = (ms: number): Record<string, string> => ({ "retry-after": String(Math.ceil(ms / 1000)) });
    if (mode.kind === "unavailable") return { status: 503, headers: retryAfter(mode.retryAfterMs), json: { error: "temporarily_unavailable" } };
    if (mode.kind === "rate_limited") return { status: 429, headers: retryAfter(mode.retryAfterMs) };
    if (g === undefined || (!g.spent.has(presented) && g.current !== presented)) return this.#refuse("unknown refresh token");
    if (g.revoked) return this.#refuse("grant revoked");
    const spentAt = g.spent.get(presented);
    if (spentAt !== undefined) {
      const predecessor = [...g.spent.keys()].at(-1) === presented;
      if (predecessor && this.settings.graceMs > 0 && now < spentAt + this.settings.graceMs) {
        // Inside the grace window the previous token still works: no new rotation.
        return this.#answer(this.#mint(g, now, g.current), mode);
      }
      this.violations.push({ check: "a", kind: "spent refresh token sent", detail: `replay: ${from} presented ${presented}, spent at ${spentAt}, at ${now} (grant ${g.id} revoked)` });
      g.revoked = true;
      g.access.clear();
      return this.#refuse("refresh token reused; grant revoked");
    }
    const next = `rt${g.id}.${g.spent.size + 1}`;
    g.spent.set(presented, now);
    g.current = next;
    this.#links.set(next, g.link);
    this.#refreshGrants.set(next, g.id);
    return this.#answer(this.#mint(g, now, next), mode);
  }

  /** A 2xx with the tokens, or (odd2xx) one without anything usable. */
  #answer(t: TokenSet, mode: AnswerMode): RawAnswer {
    const headers = { "content-type": "application/json" };
    if (mode.kind === "odd2xx") return { status: 200, headers, json: { token_type: "bearer", note: "no tokens" } };
    return { status: 200, headers, json: { access_token: t.accessToken, token_type: t.tokenType, refresh_token: t.refreshToken, expires_in: t.expiresInSec } };
  }

  #refuse(description: string): RawAnswer {
    const headers = { "content-type": "application/json" };
    if (this.settings.errorsIn200) return { status: 200, headers, json: { error: "bad_refresh_token", error_description: description } };
    return { status: 400, headers, json: { error: "invalid_grant", error_description: description } };
  }

  /** The answer reached process `proc` (alive): it holds these tokens. */
  delivered(link: string, tokens: TokenSet, proc: string): void {
    const g = this.grants.get(link);
    if (g === undefined || tokens.refreshToken === undefined) return;
    let set = g.heldBy.get(tokens.refreshToken);
    if (set === undefined) g.heldBy.set(tokens.refreshToken, (set = new Set()));
    set.add(proc);
  }

  #mint(g: Grant, now: number, refreshToken: string): TokenSet {
    let lastValid = Number.NEGATIVE_INFINITY;
    for (const until of g.access.values()) lastValid = Math.max(lastValid, until);
    if (lastValid < now) this.gaps.push({ link: g.link, from: lastValid, to: now });
    if (this.settings.killsOlderAccess) {
      for (const old of g.access.keys()) this.killedBy.set(old, refreshToken);
      g.access.clear();
    }
    const accessToken = `at${g.id}.${g.spent.size}.${this.rng.int(1e9)}`;
    g.access.set(accessToken, now + this.settings.lifetimeMs);
    this.#accessGrants.set(accessToken, g);
    return { accessToken, tokenType: "bearer", refreshToken, expiresInSec: Math.floor(this.settings.lifetimeMs / 1000), extra: {}, notes: [] };
  }
}
