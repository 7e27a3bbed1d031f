import { describe, expect, it } from "vitest";
import type { AuthFlow, DeviceFlow } from "../../../src/store/flow-store.js";
import { T0 } from "../helpers.js";
import type { StoreFactory } from "./factory.js";

const auth = (over: Partial<AuthFlow> = {}): AuthFlow => ({
  stateHash: "state-1",
  providerId: "github",
  userId: "alice",
  codeVerifier: "verifier-secret",
  redirectAfter: "https://example.test/done",
  createdAt: T0,
  expiresAt: T0 + 600_000,
  ...over,
});

const device = (over: Partial<DeviceFlow> = {}): DeviceFlow => ({
  sessionHash: "session-1",
  providerId: "github",
  userId: "alice",
  deviceCode: "device-secret",
  intervalMs: 5000,
  nextPollAt: T0 + 5000,
  createdAt: T0,
  expiresAt: T0 + 900_000,
  ...over,
});

/** Pending authorization-code and device flows (FlowStore), for any store. */
export function flowContract(f: StoreFactory): void {
  describe(`${f.name}: FlowStore authorization-code flows`, () => {
    it("round-trips a flow, sealing the verifier, and hands it out once", async () => {
      const db = await f.fresh();
      const { flows } = await db.open();
      await flows.createAuthFlow(auth());
      const [raw] = await db.raw.select(["code_verifier", "redirect_after"], {}, "auth_flows");
      expect(Buffer.isBuffer(raw?.["code_verifier"])).toBe(true);
      expect((raw?.["code_verifier"] as Buffer).toString("latin1")).not.toContain("verifier-secret");
      expect(await flows.takeAuthFlow("state-1", T0 + 1)).toEqual(auth());
      expect(await flows.takeAuthFlow("state-1", T0 + 2)).toBeUndefined();
      expect(await db.raw.select("*", {}, "auth_flows")).toEqual([]);
    });

    it("an expired flow is not handed out, and is gone all the same (a stale state cannot be tried twice)", async () => {
      const db = await f.fresh();
      const { flows } = await db.open();
      await flows.createAuthFlow(auth());
      expect(await flows.takeAuthFlow("state-1", T0 + 600_000)).toBeUndefined();
      expect(await db.raw.select("*", {}, "auth_flows")).toEqual([]);
      expect(await flows.takeAuthFlow("unknown", T0)).toBeUndefined();
    });

    it("stores no verifier as NULL (a provider without PKCE), an empty one too", async () => {
      const db = await f.fresh();
      const { flows } = await db.open();
      await flows.createAuthFlow(auth({ codeVerifier: null, redirectAfter: null }));
      await flows.createAuthFlow(auth({ stateHash: "state-2", codeVerifier: "" }));
      expect((await db.raw.select(["code_verifier"], {}, "auth_flows")).map((r) => r["code_verifier"])).toEqual([null, null]);
      expect(await flows.takeAuthFlow("state-1", T0)).toMatchObject({ codeVerifier: null, redirectAfter: null });
      expect(await flows.takeAuthFlow("state-2", T0)).toMatchObject({ codeVerifier: null });
    });

    it("refuses a second flow with the same state", async () => {
      const { flows } = await (await f.fresh()).open();
      await flows.createAuthFlow(auth());
      await expect(flows.createAuthFlow(auth({ userId: "bob" }))).rejects.toThrow();
      expect(await flows.takeAuthFlow("state-1", T0)).toMatchObject({ userId: "alice" });
    });
  });

  describe(`${f.name}: FlowStore device flows`, () => {
    it("round-trips a flow, sealing the device code", async () => {
      const db = await f.fresh();
      const { flows } = await db.open();
      await flows.createDeviceFlow(device());
      const [raw] = await db.raw.select(["device_code"], {}, "device_flows");
      expect((raw?.["device_code"] as Buffer).toString("latin1")).not.toContain("device-secret");
      expect(await flows.getDeviceFlow("session-1")).toEqual(device());
      expect(await flows.getDeviceFlow("unknown")).toBeUndefined();
      await expect(flows.createDeviceFlow(device())).rejects.toThrow();
    });

    it("claims a poll only once it is due, one poller at a time, and reserves the next", async () => {
      const { flows } = await (await f.fresh()).open();
      await flows.createDeviceFlow(device());
      expect(await flows.claimDevicePoll("session-1", T0 + 4999, 5000)).toBeUndefined();
      expect(await flows.claimDevicePoll("session-1", T0 + 5000, 7000)).toEqual(device({ intervalMs: 7000, nextPollAt: T0 + 12_000 }));
      expect(await flows.claimDevicePoll("session-1", T0 + 5000, 7000)).toBeUndefined();
      expect(await flows.claimDevicePoll("unknown", T0 + 5000, 7000)).toBeUndefined();
      expect(await flows.getDeviceFlow("session-1")).toMatchObject({ intervalMs: 7000, nextPollAt: T0 + 12_000 });
    });

    it("setDevicePoll sets the interval and the next poll (slow_down); delete removes the flow", async () => {
      const { flows } = await (await f.fresh()).open();
      await flows.createDeviceFlow(device());
      await flows.setDevicePoll("session-1", 10_000, T0 + 20_000);
      expect(await flows.getDeviceFlow("session-1")).toMatchObject({ intervalMs: 10_000, nextPollAt: T0 + 20_000 });
      await flows.setDevicePoll("unknown", 1, 1);
      await flows.deleteDeviceFlow("session-1");
      await flows.deleteDeviceFlow("session-1");
      expect(await flows.getDeviceFlow("session-1")).toBeUndefined();
    });
  });

  describe(`${f.name}: FlowStore purge`, () => {
    it("removes the flows of both kinds whose expiry has come, and counts them", async () => {
      const { flows } = await (await f.fresh()).open();
      await flows.createAuthFlow(auth({ stateHash: "a-old", expiresAt: T0 + 10 }));
      await flows.createAuthFlow(auth({ stateHash: "a-new", expiresAt: T0 + 11 }));
      await flows.createDeviceFlow(device({ sessionHash: "d-old", expiresAt: T0 + 5 }));
      await flows.createDeviceFlow(device({ sessionHash: "d-new", expiresAt: T0 + 20 }));
      expect(await flows.purgeExpiredFlows(T0 + 10)).toBe(2);
      expect(await flows.purgeExpiredFlows(T0 + 10)).toBe(0);
      expect(await flows.getDeviceFlow("d-old")).toBeUndefined();
      expect(await flows.getDeviceFlow("d-new")).toBeDefined();
      expect(await flows.takeAuthFlow("a-new", T0)).toBeDefined();
    });
  });
}
