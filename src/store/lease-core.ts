import type { HeldLease, InterruptedRefresh, LeaseClaim, LeaseState, LinkRecord } from "./link-store.js";
import type { LinkRow } from "./row-codec.js";

/**
 * The lease decisions every LinkStore shares (docs/design.md §4.3), as pure
 * functions over the row's lease columns. The SQL stores keep each one as a
 * single conditional UPDATE (the dialect); its WHERE is exactly the
 * decision here (the differential test in test/store/core-sql.test.ts runs
 * both side by side). The in-memory store calls them directly.
 *
 * Every `now` here is the store's clock (docs/design.md §3 invariant 13),
 * never a time the caller passes in: the memory store's database clock,
 * the SQLite store's clock (the host's: one host, one file), PostgreSQL's
 * clock_timestamp() in the statement itself.
 *
 * The store implements mechanism, never policy: nothing here judges that a
 * lease expired or its holder died on its own. Confirm refuses to renew a
 * lease that already ran out (another process may have judged it free), and
 * a takeover the caller asked to be `onlyIfExpired` happens only once the
 * store's clock says the lease ran out.
 */

/** A store's clock (epoch ms). */
export interface Clock {
  now(): number;
}

/** The host's clock: the SQLite store's by default (one host, so the database's too). */
export const HOST_CLOCK: Clock = { now: () => Date.now() };

/** The columns that describe a row's lease and the refresh its holder is sending. */
export type LeaseRow = Pick<
  LinkRow,
  "lease_owner" | "lease_until" | "generation" | "refresh_token_digest" | "refresh_sent_at" | "refresh_sent_by" | "refresh_sent_digest"
>;

/** The lease columns and the version, which confirm also checks. */
export type ConfirmRow = LeaseRow & Pick<LinkRow, "version">;

/** What confirm records besides the renewal: the holder is sending the stored refresh token, or nothing is in doubt any more. */
export type ConfirmMark = "sending" | "clear";

/** The sending marker's columns, cleared (SQL: CLEAR_SENT). */
export const NO_SEND: Readonly<Pick<LeaseRow, "refresh_sent_at" | "refresh_sent_by" | "refresh_sent_digest">> = {
  refresh_sent_at: null,
  refresh_sent_by: null,
  refresh_sent_digest: null,
};

/** Every write of link data ends the lease and forgets what its holder was sending (SQL: END_LEASE). */
export const ENDED_LEASE: Readonly<Pick<LeaseRow, "lease_owner" | "lease_until" | "refresh_sent_at" | "refresh_sent_by" | "refresh_sent_digest">> = {
  lease_owner: null,
  lease_until: null,
  ...NO_SEND,
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

/** null when free. `sending` only for the holder's own mark on the stored token; `now` is the store's clock at the read. */
export function leaseStateOf(row: LeaseRow, now: number): LeaseState | null {
  if (row.lease_owner === null || row.lease_until === null) return null;
  const state: LeaseState = { owner: row.lease_owner, until: row.lease_until, generation: row.generation, now };
  const sent = interruptedOf(row);
  if (sent !== undefined && sent.by === row.lease_owner) state.sending = { at: sent.at };
  return state;
}

/**
 * Whether a claim takes the lease (SQL: CLAIM / TAKEOVER /
 * TAKEOVER_EXPIRED): with `expect` null only a free lease (no owner);
 * otherwise only from exactly the holder the caller observed, owner AND
 * generation, and with `onlyIfExpired` only once the lease ran out by the
 * store's clock (`lease_until <= now`). Never on the store's own judgement:
 * without the flag a takeover ignores expiry (the engine judged the holder
 * dead).
 */
export function claimAllows(row: LeaseRow, expect: HeldLease | null, now: number, onlyIfExpired: boolean): boolean {
  if (expect === null) return row.lease_owner === null;
  if (row.lease_owner !== expect.owner || row.generation !== expect.generation) return false;
  return !onlyIfExpired || (row.lease_until !== null && row.lease_until <= now);
}

/** What a claim that was refused answers: the lease as it is now (null: free), or that there is no row. */
export function refusedClaim(row: LeaseRow | undefined, now: number): LeaseClaim {
  return row === undefined ? { claimed: false, missing: true } : { claimed: false, held: leaseStateOf(row, now) };
}

/** The lease columns a claim writes: the next generation, until = the store's now + ttl. */
export function claimedLease(row: LeaseRow, owner: string, until: number): Pick<LinkRow, "lease_owner" | "lease_until" | "generation"> {
  return { lease_owner: owner, lease_until: until, generation: row.generation + 1 };
}

/** A successful claim's answer, from the row as claimed (`record` opened from it inside the claim) and the store's clock at the claim. */
export function grantedClaim(row: LeaseRow, owner: string, record: LinkRecord, now: number): LeaseClaim {
  const claim: LeaseClaim = { claimed: true, lease: { owner, generation: row.generation }, record, now };
  const interrupted = interruptedOf(row);
  if (interrupted !== undefined) claim.interrupted = interrupted;
  return claim;
}

/**
 * Whether confirm renews (SQL: CONFIRM / CONFIRM_SENDING / CONFIRM_CLEAR):
 * the lease is still (owner, generation), has not expired by the store's
 * clock (`lease_until > now`; once expired another process may already have
 * judged it free, so its holder must claim anew) and the row still has the
 * version the holder read.
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
 * The columns a confirm writes: the new expiry and, with `mark: "sending"`,
 * the sending marker naming the stored refresh token (sent now, by the
 * holder); with `mark: "clear"` no marker at all (the provider answered
 * without rotating: nothing is in doubt).
 */
export function confirmedLease(
  row: LeaseRow,
  owner: string,
  until: number,
  now: number,
  mark: ConfirmMark | undefined,
): Partial<Pick<LinkRow, "lease_until" | "refresh_sent_at" | "refresh_sent_by" | "refresh_sent_digest">> {
  if (mark === "sending") return { lease_until: until, refresh_sent_at: now, refresh_sent_by: owner, refresh_sent_digest: row.refresh_token_digest };
  if (mark === "clear") return { lease_until: until, ...NO_SEND };
  return { lease_until: until };
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
