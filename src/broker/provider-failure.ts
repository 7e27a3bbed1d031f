import type { CallScope } from "../audit/call-scope.js";
import { BrokerError, fromOAuthError, linkNotFound, providerMisconfigured, reauthRecorded, reauthRequired } from "../errors/index.js";
import { boundFailureReason, failureReason, type OAuthError } from "../oauth/index.js";
import type { ProviderEntry } from "../providers/index.js";
import { linkKeyId, type InterruptedRefresh, type LinkKey, type LinkRecord } from "../store/link-store.js";
import { isWinner } from "./freshness.js";
import { describeOwner, livenessOf } from "./lease-owner.js";
import type { ClaimReason } from "./lease-policy.js";
import type { RefreshDeps } from "./refresh-deps.js";

/** What a provider failure came to when it was not a final answer: a winner's record, or "judge the row afresh". */
export type FailureOutcome = { kind: "done"; record: LinkRecord } | { kind: "changed" };

/**
 * A provider failure whose outcome is known (it answered, or nothing was
 * sent), mapped once into the caller's answer (errors/mappings.ts), after
 * re-reading for a winner on a permanent one (invariant 5).
 */
export async function onProviderError(
  deps: RefreshDeps,
  key: LinkKey,
  provider: ProviderEntry,
  refreshToken: string,
  err: OAuthError,
  interrupted: InterruptedRefresh | undefined,
  cause: CallScope | undefined,
): Promise<FailureOutcome> {
  const now = deps.clock.now();
  let reason = failureReason(err, [refreshToken, provider.config.clientSecret]);
  switch (err.kind) {
    case "client_credentials": {
      // Invariant 6: not the user's fault; their refresh token is kept.
      const backoffMs = provider.gate.markMisconfigured(reason, now);
      deps.log.error({ provider: key.providerId, error: err.error, status: err.status, backoffMs }, "provider rejected the client credentials");
      throw fromOAuthError(key.providerId, err, reason, { grant: "refresh", failedAt: now, retryAfterMs: backoffMs });
    }
    case "unusable_answer":
    case "transient":
    case "rate_limited":
      // Invariant 7: retried already, within the budget; never cached as permanent.
      throw deps.failures.remember(linkKeyId(key), fromOAuthError(key.providerId, err, reason, { grant: "refresh", failedAt: now }), now);
    case "permanent": {
      if (interrupted !== undefined) reason = boundFailureReason(`${interruptionText(interrupted, "resent")}; sent again and refused: ${reason}`);
      // Invariant 5: re-read before caching a failure.
      const current = await deps.store.get(key);
      if (isWinner(current, refreshToken, now)) {
        deps.log.info({ provider: key.providerId, user: key.userId }, "refresh lost a race; using the winner's token");
        return { kind: "done", record: current as LinkRecord };
      }
      if (await deps.store.recordFailure(key, refreshToken, reason, now)) {
        deps.log.warn({ provider: key.providerId, user: key.userId, error: err.error, status: err.status }, "refresh token rejected; link needs re-authentication");
        throw recorded(deps, key, reauthRequired(reason, now), true, cause);
      }
      const after = await deps.store.get(key);
      if (isWinner(after, refreshToken, now)) return { kind: "done", record: after as LinkRecord };
      if (after === undefined) throw linkNotFound(key);
      if (after.refreshFailure !== null) throw reauthRecorded(after.refreshFailure);
      // Another writer replaced the tokens with some that are no win (no
      // refresh token, or an access token already expired): its data stays
      // as written, and this caller learns that its refresh was refused.
      throw reauthRequired(reason, now);
    }
  }
}

/**
 * Invariant 11: a refresh token that a holder sent and whose answer no one
 * saw may have been rotated; sending it again would be a replay. Once the
 * interrupted window is over the link is failed with a reason that says
 * what happened — the store remembers which token it cleared, so the
 * answer, if it ever arrives, still heals the link (invariant 12).
 */
export async function failInterrupted(deps: RefreshDeps, key: LinkKey, record: LinkRecord, interrupted: InterruptedRefresh, why: ClaimReason, cause: CallScope | undefined): Promise<FailureOutcome> {
  const now = deps.clock.now();
  // Judged now, not at the claim: by the time the window is over the claim that failed the link
  // may have found the lease free, while its sender is known to be gone.
  const how = interrupted.by === deps.owner ? "own" : livenessOf(interrupted.by, deps.identity, deps.probe) === "dead" ? "holder-dead" : why;
  const reason = boundFailureReason(`${interruptionText(interrupted, how)}; the provider may have rotated the refresh token, so it was not sent again`);
  deps.log.warn({ provider: key.providerId, user: key.userId, by: describeOwner(interrupted.by), sentAt: new Date(interrupted.at).toISOString() }, "an interrupted refresh got no answer within the window; link needs re-authentication");
  if (await deps.store.recordFailure(key, record.refreshToken as string, reason, now)) {
    throw recorded(deps, key, reauthRequired(reason, now, "the link's refresh was interrupted and no answer arrived within refresh.interrupted_window; the user has to link again"), false, cause);
  }
  return { kind: "changed" };
}

/** A failure now stored on the link, reported before it is thrown. */
export function recorded(deps: RefreshDeps, key: LinkKey, err: BrokerError, answered: boolean, cause: CallScope | undefined): BrokerError {
  deps.events.failureRecorded(key, err.reason, answered, cause);
  return err;
}

function interruptionText(i: InterruptedRefresh, why: ClaimReason | "resent"): string {
  const how =
    why === "holder-dead" ? "when that process died" : why === "resent" ? "" : why === "own" ? "when its answer was lost" : "when that process stopped renewing its lease or lost its answer";
  return `a refresh sent at ${new Date(i.at).toISOString()} by ${describeOwner(i.by)} was interrupted${how === "" ? "" : ` ${how}`} and no answer arrived`;
}
