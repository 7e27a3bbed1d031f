import type { HeldLease, InterruptedRefresh, LeaseClaim, LeaseState, LinkRecord } from "./link-store.js";
import type { LinkRow } from "./row-codec.js";

/**
 * The lease decisions every LinkStore shares (docs/design.md §4.3), as pure
 * functions over the row's lease columns. The SQL stores keep each one as a
 * single conditional UPDATE (the dialect); its WHERE is exactly the
 * decision here (the differential test in test/store/core-sql.test.ts runs
 * both side by side). The in-memory store calls them directly.
 *
 * The store implements mechanism, never policy: nothing here judges that a
 * lease expired or its holder died, except confirm, which refuses to renew
 * a lease that already ran out (another process may have judged it free).
 */

/** The columns that describe a row's lease and the refresh its holder is sending. */
export type LeaseRow = Pick<
  LinkRow,
  "lease_owner" | "lease_until" | "generation" | "refresh_token_digest" | "refresh_sent_at" | "refresh_sent_by" | "refresh_sent_digest"
>;

/** The lease columns and the version, which confirm also checks. */
export type ConfirmRow = LeaseRow & Pick<LinkRow, "version">;

/** Every write of link data ends the lease and forgets what its holder was sending (SQL: END_LEASE). */
export const ENDED_LEASE: Readonly<Pick<LeaseRow, "lease_owner" | "lease_until" | "refresh_sent_at" | "refresh_sent_by" | "refresh_sent_digest">> = {
  lease_owner: null,
  lease_until: null,
  refresh_sent_at: null,
  refresh_sent_by: null,
  refresh_sent_digest: null,
};

/**
 * The refresh recorded as being sent, iff it was sent with the refresh
 * token stored now: a commit, a failure or a put replaces the token, so a
 * new token never inherits an old marker.
 */
export function interruptedOf(row: LeaseRow): InterruptedRefresh | undefined {
  const sent = row.refresh_sent_digest;
  if (sent === null || sent !== row.refresh_token_digest || row.refresh_sent_by === null || row.refresh_sent_at === null) return undefined;
  return { by: row.refresh_sent_by, at: row.refresh_sent_at };
}

/** null when free. `sending` only for the holder's own mark on the stored token. */
export function leaseStateOf(row: LeaseRow): LeaseState | null {
  if (row.lease_owner === null || row.lease_until === null) return null;
  const state: LeaseState = { owner: row.lease_owner, until: row.lease_until, generation: row.generation };
  const sent = interruptedOf(row);
  if (sent !== undefined && sent.by === row.lease_owner) state.sending = { at: sent.at };
  return state;
}

/**
 * Whether a claim takes the lease (SQL: CLAIM / TAKEOVER): with `expect`
 * null only a free lease (no owner); otherwise only from exactly the holder
 * the caller observed, owner AND generation — never on the store's own
 * judgement of expiry.
 */
export function claimAllows(row: LeaseRow, expect: HeldLease | null): boolean {
  if (expect === null) return row.lease_owner === null;
  return row.lease_owner === expect.owner && row.generation === expect.generation;
}

/** What a claim that was refused answers: the lease as it is now (null: free), or that there is no row. */
export function refusedClaim(row: LeaseRow | undefined): LeaseClaim {
  return row === undefined ? { claimed: false, missing: true } : { claimed: false, held: leaseStateOf(row) };
}

/** The lease columns a claim writes: the next generation, until = now + ttl. */
export function claimedLease(row: LeaseRow, owner: string, until: number): Pick<LinkRow, "lease_owner" | "lease_until" | "generation"> {
  return { lease_owner: owner, lease_until: until, generation: row.generation + 1 };
}

/** A successful claim's answer, from the row as claimed (`record` opened from it inside the claim). */
export function grantedClaim(row: LeaseRow, owner: string, record: LinkRecord): LeaseClaim {
  const claim: LeaseClaim = { claimed: true, lease: { owner, generation: row.generation }, record };
  const interrupted = interruptedOf(row);
  if (interrupted !== undefined) claim.interrupted = interrupted;
  return claim;
}

/**
 * Whether confirm renews (SQL: CONFIRM / CONFIRM_SENDING): the lease is
 * still (owner, generation), has not expired (`lease_until > now`; once
 * expired another process may already have judged it free, so its holder
 * must claim anew) and the row still has the version the holder read.
 */
export function confirmAllows(row: ConfirmRow, lease: HeldLease, version: number, now: number): boolean {
  return (
    row.lease_owner === lease.owner &&
    row.generation === lease.generation &&
    row.version === version &&
    row.lease_until !== null &&
    row.lease_until > now
  );
}

/**
 * The columns a confirm writes: the new expiry and, when the holder is
 * about to send, the sending marker naming the stored refresh token.
 */
export function confirmedLease(
  row: LeaseRow,
  owner: string,
  until: number,
  now: number,
  sending: boolean,
): Partial<Pick<LinkRow, "lease_until" | "refresh_sent_at" | "refresh_sent_by" | "refresh_sent_digest">> {
  if (!sending) return { lease_until: until };
  return { lease_until: until, refresh_sent_at: now, refresh_sent_by: owner, refresh_sent_digest: row.refresh_token_digest };
}

/** Whether a release applies (SQL: RELEASE / RELEASE_KEEP_SENDING): only the holder (owner, generation) releases. */
export function releaseAllows(row: LeaseRow, lease: HeldLease): boolean {
  return row.lease_owner === lease.owner && row.generation === lease.generation;
}

/**
 * The columns a release writes: the lease is freed, and the sending marker
 * cleared unless `keepSending` (the outcome of a sent request is unknown,
 * so the next claimant must learn of it).
 */
export function releasedLease(keepSending: boolean): Partial<LeaseRow> {
  return keepSending ? { lease_owner: null, lease_until: null } : ENDED_LEASE;
}
