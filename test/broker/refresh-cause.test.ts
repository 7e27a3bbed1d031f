/**
 * Whom a refresh's audit lines name (audit/call-scope.ts): the call that
 * caused it, passed to the engine as `cause` — never a caller that merely
 * shared its result, and no caller at all for a refresh ahead of expiry,
 * even when a caller's use is what scheduled it. In virtual time
 * (ahead-world.ts), over the in-memory store.
 */
import { describe, expect, it } from "vitest";
import type { CallScope } from "../../src/audit/call-scope.js";
import type { RefreshOutcome } from "../../src/broker/engine-events.js";
import { Reason } from "../../src/errors/index.js";
import { SEC, key, settle, stopAll, world } from "./ahead-world.js";

function scope(name: string): CallScope {
  return { caller: { name, transport: "grpc+unix", auth: "token" }, providerContacted: false };
}

interface Seen {
  event: "refreshed" | "failureRecorded";
  outcome: RefreshOutcome;
  cause: CallScope | undefined;
}

function listening(w: ReturnType<typeof world>, seen: Seen[]) {
  return w.engine({
    events: {
      refreshed: (_k, outcome, _ms, cause) => void seen.push({ event: "refreshed", outcome, cause }),
      failureRecorded: (_k, reason, _answered, cause) => void seen.push({ event: "failureRecorded", outcome: reason, cause }),
    },
  });
}

describe("a refresh's cause", () => {
  it("is the caller that started it: only its scope notes a provider contacted, not a caller that shared the refresh", async () => {
    const w = world(100);
    const seen: Seen[] = [];
    const engine = listening(w, seen);
    await w.seed("u", 10); // 10 s left: a caller asking for 30 s needs a refresh
    const a = scope("a");
    const b = scope("b");
    const both = Promise.all([engine.obtain(key("u"), 30 * SEC, undefined, undefined, a), engine.obtain(key("u"), 30 * SEC, undefined, undefined, b)]);
    const { value } = await settle(w, both);
    expect(value[0].accessToken).toBe(value[1].accessToken);
    expect(w.provider.requests).toHaveLength(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.outcome).toBe("OK");
    expect(seen[0]!.cause).toBe(a);
    expect(a.providerContacted).toBe(true);
    expect(b.providerContacted).toBe(false);
    await stopAll(w);
  });

  it("names the caller in the failure a refused refresh records", async () => {
    const w = world(100);
    const seen: Seen[] = [];
    const engine = listening(w, seen);
    // A refresh token the provider never issued: it refuses it (invalid_grant), and the failure is stored.
    await w.store.put(key("r"), { accessToken: "at-r-0", refreshToken: "rt-unknown", tokenType: "bearer", expiresAt: w.time.now + 10 * SEC, extra: {} }, w.time.now);
    const c = scope("c");
    await expect(settle(w, engine.obtain(key("r"), 30 * SEC, undefined, undefined, c))).rejects.toMatchObject({ reason: Reason.REAUTH_REQUIRED });
    expect(seen.map((s) => [s.event, s.outcome])).toEqual([
      ["failureRecorded", Reason.REAUTH_REQUIRED],
      ["refreshed", Reason.REAUTH_REQUIRED],
    ]);
    for (const s of seen) expect(s.cause).toBe(c);
    expect(c.providerContacted).toBe(true);
    await stopAll(w);
  });

  it("is nobody for a refresh ahead of expiry, though a caller's use scheduled it", async () => {
    const w = world(100);
    const seen: Seen[] = [];
    const engine = listening(w, seen);
    await w.seed("k");
    const d = scope("d");
    await settle(w, engine.obtain(key("k"), 0, undefined, undefined, d)); // fresh: answered at once, the link noted in use
    expect(w.provider.requests).toHaveLength(0);
    await w.run(90 * SEC); // refreshed in the background at 75–80 % of its lifetime
    expect(w.outcomes).toEqual(["REFRESHED"]);
    expect(seen).toEqual([{ event: "refreshed", outcome: "OK", cause: undefined }]);
    expect(d.providerContacted).toBe(false);
    await stopAll(w);
  });
});
