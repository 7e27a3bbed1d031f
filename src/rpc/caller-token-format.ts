import { createHash, randomBytes } from "node:crypto";
import { SmallMemo } from "./small-memo.js";

/** Every job-scoped caller token starts with this, so logs scanners and caller auth recognise one. */
export const JOB_TOKEN_PREFIX = "tbj_";

/** A new job token: the prefix and 256 random bits (base64url). */
export function newJobToken(): string {
  return `${JOB_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** A job token's id: not a secret, names it in revocation, listings and the audit log. */
export function newJobTokenId(): string {
  return `ct_${randomBytes(9).toString("base64url")}`;
}

/** What the store keeps of a token: its SHA-256, lowercase hex. */
export function tokenDigest(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * A short, non-reversible fingerprint of a token handed out, for the audit
 * log (the first 12 hex digits of its SHA-256): a leaked token can be traced
 * to the call that got it, and the line holds nothing usable.
 */
export function tokenFingerprint(token: string): string {
  return fingerprints.get(token, (t) => tokenDigest(t).slice(0, 12));
}

// Every cache hit hands out a token fingerprinted before: a hash per call was 4 % of a hit's CPU.
const fingerprints = new SmallMemo<string, string>(4096);
