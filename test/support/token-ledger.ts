/**
 * The fake provider's token state: families of access and refresh tokens
 * (one family per link), single-use rotation with reuse detection — a spent
 * refresh token presented again revokes its whole family, as Auth0 and Okta
 * do — and an optional reuse grace window. Every token is random and lives
 * only in this process.
 */
import { randomBytes } from "node:crypto";

interface AccessRecord {
  family: Family;
  expiresAt: number;
  dead: boolean;
}
interface RefreshRecord {
  family: Family;
  spent: boolean;
  /** Epoch ms when a rotation spent it. */
  spentAt?: number;
}
interface Family {
  revoked: boolean;
  access: Set<AccessRecord>;
  current: string | undefined;
  /** The refresh token the current one replaced, while its grace reuse is still unused. */
  previous: string | undefined;
}

export interface RedeemOptions {
  /** Spend the presented refresh token and mint a new one. */
  rotate: boolean;
  /** Kill the family's older access tokens (GitHub). */
  supersedeAccess: boolean;
  accessTtlSec: number;
  /** Mint the new refresh token as 15 decimal digits (exact as a JSON number). */
  numericRefreshToken: boolean;
  /** Seconds after a rotation during which the token it spent is accepted once more. */
  graceSec: number;
}

export type TokenStatus = "valid" | "expired" | "superseded" | "revoked" | "unknown";

export type Redemption =
  | { outcome: "issued"; accessToken: string; refreshToken: string; expiresAt: number; grace: boolean }
  /** Unknown, revoked or spent; `replay` when a spent token came back outside any grace window. */
  | { outcome: "dead"; replay: boolean; revokedFamily: boolean };

const token = (prefix: string): string => `${prefix}_${randomBytes(24).toString("base64url")}`;

export class TokenLedger {
  readonly #access = new Map<string, AccessRecord>();
  readonly #refresh = new Map<string, RefreshRecord>();

  /** A new family, as if the user had just linked. */
  seed(accessTtlSec: number, withRefresh: boolean): { accessToken: string; refreshToken: string | undefined; expiresAt: number } {
    const family: Family = { revoked: false, access: new Set(), current: undefined, previous: undefined };
    const { accessToken, expiresAt } = this.#mintAccess(family, accessTtlSec);
    return { accessToken, refreshToken: withRefresh ? this.#mintRefresh(family, false) : undefined, expiresAt };
  }

  /** Presents a refresh token: new tokens, or why not. */
  redeem(presented: string | undefined, o: RedeemOptions): Redemption {
    const rec = presented === undefined ? undefined : this.#refresh.get(presented);
    if (rec === undefined) return { outcome: "dead", replay: false, revokedFamily: false };
    const family = rec.family;
    const grace = rec.spent && this.#insideGrace(rec, presented!, o.graceSec);
    if (grace) {
      const superseded = family.current === undefined ? undefined : this.#refresh.get(family.current);
      if (superseded) superseded.spent = true;
    } else if (rec.spent) {
      // Reuse detection: a replayed token means it leaked or a client raced; kill the lineage.
      const revokedFamily = !family.revoked;
      family.revoked = true;
      return { outcome: "dead", replay: true, revokedFamily };
    }
    if (family.revoked) return { outcome: "dead", replay: false, revokedFamily: false };

    if (o.supersedeAccess) for (const a of family.access) a.dead = true;
    const { accessToken, expiresAt } = this.#mintAccess(family, o.accessTtlSec);
    let refreshToken = presented!;
    if (o.rotate) {
      if (!grace) {
        rec.spent = true;
        rec.spentAt = Date.now();
      }
      refreshToken = this.#mintRefresh(family, o.numericRefreshToken);
      family.previous = grace ? undefined : presented; // a grace reuse is accepted once
    }
    return { outcome: "issued", accessToken, refreshToken, expiresAt, grace };
  }

  /** Every access and refresh token value ever issued (for leak checks). */
  all(): string[] {
    return [...this.#access.keys(), ...this.#refresh.keys()];
  }

  /** Valid = known, unexpired, not superseded and its family not revoked. */
  isValid(accessToken: string): boolean {
    return this.status(accessToken) === "valid";
  }

  /**
   * Why a token is or is not valid. "expired" is only the clock: the token was
   * neither replaced nor revoked, so a check made long after a short-lived
   * token was served can tell "served a replaced token" from "time passed".
   */
  status(accessToken: string): TokenStatus {
    const rec = this.#access.get(accessToken);
    if (rec === undefined) return "unknown";
    if (rec.family.revoked) return "revoked";
    if (rec.dead) return "superseded";
    return rec.expiresAt > Date.now() ? "valid" : "expired";
  }

  /** Revokes the family of an access or refresh token (the user revoked the app). */
  revoke(anyToken: string): void {
    const family = (this.#access.get(anyToken) ?? this.#refresh.get(anyToken))?.family;
    if (family) family.revoked = true;
  }

  #mintAccess(family: Family, ttlSec: number): { accessToken: string; expiresAt: number } {
    const accessToken = token("fake_at");
    const rec: AccessRecord = { family, expiresAt: Date.now() + ttlSec * 1000, dead: false };
    this.#access.set(accessToken, rec);
    family.access.add(rec);
    return { accessToken, expiresAt: rec.expiresAt };
  }

  #mintRefresh(family: Family, numeric: boolean): string {
    // 15 digits stay exact as a JSON number (below 2^53).
    const refreshToken = numeric ? String(1e14 + randomBytes(6).readUIntBE(0, 6)) : token("fake_rt");
    this.#refresh.set(refreshToken, { family, spent: false });
    family.current = refreshToken;
    return refreshToken;
  }

  /** The family's previous refresh token, presented within `graceSec` of its rotation, before any grace reuse. */
  #insideGrace(rec: RefreshRecord, presented: string, graceSec: number): boolean {
    return graceSec > 0 && rec.family.previous === presented && rec.spentAt !== undefined && Date.now() - rec.spentAt <= graceSec * 1000;
  }
}
