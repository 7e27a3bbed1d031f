/**
 * docs/design.md §3 invariant 16 at its boundary: a provider whose tokens
 * live exactly min_valid_for cannot satisfy it — the token has less left by
 * the time anyone holds it (its lifetime counts from the send) — so the answer is MIN_VALIDITY_UNREACHABLE after
 * one refresh, not a refresh on every call that spends a single-use refresh
 * token each time. (test/faults/min-validity.test.ts covers a lifetime well
 * below the ask, through the daemon.)
 */
import { describe, expect, it } from "vitest";
import { Reason } from "../../src/errors/index.js";
import { brokerError, harness, key } from "./harness.js";

describe("min_valid_for equal to the provider's token lifetime", () => {
  it("is unreachable: one refresh, then every call answered MIN_VALIDITY_UNREACHABLE without another", async () => {
    const h = await harness({ fake: { expiresInSec: 60 } });
    const k = key("alice");
    await h.seed(k, { accessTtlSec: 1 });
    for (let call = 0; call < 5; call++) {
      const err = await brokerError(h.engine.obtain(k, 60_000), Reason.MIN_VALIDITY_UNREACHABLE);
      // The lifetime this daemon got: counted from the send, so the answer's round trip is not in it.
      expect(err.detail.metadata?.issued_lifetime).toMatch(/^(59|60)s$/);
    }
    expect(h.fake.refreshes).toBe(1);
    expect(h.fake.replays).toBe(0);
  });
});
