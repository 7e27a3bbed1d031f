/**
 * Deliberate defects the simulation must catch (issues 18 and 19): each is
 * a one-place edit of the source that re-creates a bug this project's peers
 * shipped or that the fault-proof work removed. test/sim/mutations.test.ts
 * applies each to a copy of src/ and sim/ and runs the simulation on it.
 */
export interface Edit {
  /** Path below the repository root. */
  file: string;
  /** The exact text to replace (must occur once). */
  from: string;
  to: string;
}

export interface Mutation {
  name: string;
  edits: Edit[];
  /** A liveness defect: the fault-free schedules (sim/liveness.ts) must catch it on their own too. */
  calm?: true;
}

export const mutations: Mutation[] = [
  {
    name: "drop the lease confirm before a send",
    edits: [{ file: "src/broker/refresher.ts", from: "if (!(await keeper.confirmSending())) throw new LeaseLost();", to: "void keeper;" }],
  },
  {
    name: "classify a 2xx as transient",
    edits: [{ file: "src/oauth/classify.ts", from: `{ name: "http-2xx-unusable", when: (i) => isSuccessStatus(i.httpStatus) && code(i) === "", kind: "unusable_answer" },`, to: `{ name: "http-2xx-unusable", when: (i) => isSuccessStatus(i.httpStatus) && code(i) === "", kind: "transient" },` }],
  },
  {
    name: "keep the sending mark after a definitive non-2xx",
    edits: [{ file: "src/broker/refresher.ts", from: "if (!(await keeper.answered())) throw new LeaseLost();", to: "void keeper;" }],
  },
  {
    name: "resend after an unknown outcome outside the grace window (retry a timeout)",
    edits: [{ file: "src/oauth/refresh-retry.ts", from: `return (e.kind === "transient" || e.kind === "rate_limited") && e.sent !== "unknown" && !isSuccessStatus(e.status);`, to: `return (e.kind === "transient" || e.kind === "rate_limited") && !isSuccessStatus(e.status);` }],
  },
  {
    name: "resend after an unknown outcome outside the grace window (an interrupted send)",
    edits: [{ file: "src/broker/lease-policy.ts", from: "if (withinGrace(interrupted.at, ctx.rotationGraceMs, ctx.now) || ctx.resendIsProbe) return { action: \"resend\" };", to: "return { action: \"resend\" };" }],
  },
  {
    name: "claim a live holder's lease before it expires",
    // The engine's judgement, and the store trusting it (the store's own check is the second line).
    edits: [{ file: "src/broker/lease-policy.ts", from: "if (state.until > state.now) return", to: "if (state.until > state.now + 2_500) return" }, { file: "src/store/lease-core.ts", from: "return !onlyIfExpired || (row.lease_until !== null && row.lease_until <= now);", to: "return true;" }],
  },
  {
    name: "compare lease expiry with the host's clock",
    edits: [{ file: "src/broker/refresher.ts", from: "const decision = decideLease(state, {", to: "const decision = decideLease(state === null ? null : { ...state, now: deps.clock.now() }, {" }, { file: "src/store/lease-core.ts", from: "return !onlyIfExpired || (row.lease_until !== null && row.lease_until <= now);", to: "return true;" }],
  },
  {
    name: "heal without comparing the sent digest",
    edits: [{ file: "src/store/link-core.ts", from: "return row.refresh_token === null && row.failed_digest !== null && digestMatches(row.failed_digest, expect.refreshToken);", to: "return row.refresh_token === null;" }],
  },
  {
    // docs/design.md §3.4: a background refresh is a caller of the engine like any other. Without the
    // key's lock, a caller of the same process refreshing the same link claims the lease as "own"
    // and sends the same refresh token again.
    name: "background refreshes skip the per-key lock",
    edits: [{ file: "src/broker/engine.ts", from: "const work = this.#locks.run(linkKeyId(key), () => this.#refreshLocked(key, provider, { minValidMs: 0, ahead: plan }, arrived, undefined, ran))", to: "const work = this.#refreshLocked(key, provider, { minValidMs: 0, ahead: plan }, arrived, undefined, ran)" }],
  },
  {
    // Issue 22 item 2: only the advisory window serves the current token at once; a token that
    // cannot satisfy min_valid_for must make the caller wait (the mandatory window).
    name: "the advisory window serves a token that cannot satisfy min_valid_for",
    edits: [{ file: "src/broker/ahead.ts", from: "if (!isFresh(rec, want.minValidMs, now)) return false;", to: "if (!isFresh(rec, want.ahead === undefined && rec.expiresAt !== null && rec.expiresAt > now ? 0 : want.minValidMs, now)) return false;" }],
  },
  {
    // docs/design.md §3.4 "When many come due together": links whose backlog the background slots
    // cannot clear from 75 % of their life start earlier; without that they go without a token.
    name: "start every background refresh at its own 75-80 % whatever the backlog",
    edits: [{ file: "src/broker/ahead-capacity.ts", from: "  if (!(latest < due)) return due;", to: "  return due;" }],
  },
  {
    // An early start is judged by the plan's earliest edge; judged by the 75 % edge it is "not needed".
    name: "judge an early background refresh by the 75 % edge (AheadPlan.earliest ignored)",
    edits: [{ file: "src/broker/ahead.ts", from: "want.ahead.earliest ?? AHEAD_EARLIEST", to: "AHEAD_EARLIEST" }],
  },
  {
    // A link noted in use whose background refresh is due before the scheduler's next wake-up:
    // unless the sleeping loop is woken, it learns of it only when it wakes for something else,
    // or never — the token expires in use. No safety check notices; the fault-free schedules'
    // liveness check does (sim/liveness.ts).
    name: "the background scheduler is not woken for an earlier due time",
    edits: [{ file: "src/broker/proactive.ts", from: "    if (at < this.#sleepUntil) this.#sleep?.abort();", to: "    void at;" }],
    calm: true,
  },
  {
    // The defect the fault-free schedules found: a link kept only for its provider's idle
    // lifetime, used again, keeps the due time planned while nobody used it.
    name: "a link back in use keeps the due time planned while it was idle",
    edits: [{ file: "src/broker/proactive.ts", from: "let changed = !this.#inUse(entry, now);", to: "let changed = false;" }],
    calm: true,
  },
  {
    name: "refuse a heal whose digest matches",
    edits: [{ file: "src/store/link-core.ts", from: "return holds || healAllows(row, expect, digestMatches);", to: "return holds;" }],
  },
];
