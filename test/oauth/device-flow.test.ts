import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import {
  deviceErrorStatus,
  parseDeviceAuthorization,
  pollDeviceToken,
  SLOW_DOWN_INCREMENT_SEC,
  startDeviceAuthorization,
  type DevicePollResult,
} from "../../src/oauth/device-flow.js";
import type { OAuthProvider } from "../../src/oauth/provider.js";
import { refreshGrant } from "../../src/oauth/refresh.js";
import { useCaptureServer } from "../support/scoped-fakes.js";
import { expectOAuthError, useLinkFake } from "./helpers.js";

const timeoutMs = 2000;

describe("startDeviceAuthorization", () => {
  it("returns the codes, URIs, interval and lifetime; sends client_id and the scopes", async () => {
    const { fake, flows, p } = await useLinkFake({}, { deviceIntervalSec: 7, deviceExpiresInSec: 600, verificationUriComplete: true });
    const d = await startDeviceAuthorization(p, { scopes: ["repo", "read:org"], timeoutMs });
    const s = flows.session();
    expect(d).toEqual({
      deviceCode: s.deviceCode,
      userCode: s.userCode,
      verificationUri: `${fake.url}/device`,
      verificationUriComplete: `${fake.url}/device?user_code=${s.userCode}`,
      intervalSec: 7,
      expiresInSec: 600,
    });
    expect(s.scope).toBe("repo read:org");
  });

  it("GitHub: an error answered with HTTP 200 is classified (client_credentials)", async () => {
    const { p } = await useLinkFake({ mode: "github" });
    await expectOAuthError(startDeviceAuthorization({ ...p, clientId: "someone-else" }, { scopes: [], timeoutMs }), {
      kind: "client_credentials",
      status: 200,
      error: "invalid_client",
    });
  });

  it("a provider without a device endpoint is a configuration error, nothing sent", async () => {
    const { p } = await useLinkFake();
    await expectOAuthError(startDeviceAuthorization({ ...p, deviceCodeUrl: undefined }, { scopes: [], timeoutMs }), { kind: "client_credentials" });
  });

  it("interval defaults to 5 s; form-encoded numbers and verification_url are accepted (pure parser)", () => {
    expect(parseDeviceAuthorization({ device_code: "d", user_code: "U", verification_uri: "https://x.example/device", expires_in: 900 })).toEqual({
      deviceCode: "d",
      userCode: "U",
      verificationUri: "https://x.example/device",
      intervalSec: 5,
      expiresInSec: 900,
    });
    expect(parseDeviceAuthorization({ device_code: "d", user_code: "U", verification_url: "https://x.example/d", expires_in: "900", interval: "10" })).toMatchObject({
      verificationUri: "https://x.example/d",
      intervalSec: 10,
      expiresInSec: 900,
    });
  });

  it.each([
    ["no device_code", { user_code: "U", verification_uri: "https://x.example/d", expires_in: 9 }],
    ["no user_code", { device_code: "d", verification_uri: "https://x.example/d", expires_in: 9 }],
    ["a javascript: verification URI", { device_code: "d", user_code: "U", verification_uri: "javascript:alert(1)", expires_in: 9 }],
    ["plain http off loopback", { device_code: "d", user_code: "U", verification_uri: "http://x.example/d", expires_in: 9 }],
    ["no expires_in", { device_code: "d", user_code: "U", verification_uri: "https://x.example/d" }],
  ])("refuses a response with %s", (_what, json) => {
    expect(typeof parseDeviceAuthorization(json)).toBe("string");
  });

  it("an unusable 200 response is a transient OAuthError", async () => {
    const capture = await useCaptureServer({ status: 200, body: { device_code: "d" } });
    const { p: base } = await useLinkFake();
    const p: OAuthProvider = { ...base, deviceCodeUrl: `${capture.url}/device` };
    await expectOAuthError(startDeviceAuthorization(p, { scopes: [], timeoutMs }), { kind: "transient", status: 200 });
  });
});

describe("pollDeviceToken: one poll per call", () => {
  it.each([
    ["authorization_pending", "pending"],
    ["slow_down", "slow_down"],
    ["access_denied", "denied"],
    ["expired_token", "expired"],
    ["invalid_grant", "expired"],
    ["incorrect_device_code", "expired"],
    ["invalid_client", undefined],
  ] as const)("%s → %s", (code, status) => {
    expect(deviceErrorStatus(code)).toBe(status);
  });

  for (const mode of ["standard", "github"] as const) {
    describe(`${mode} provider`, () => {
      it("pending, then linked once the user approves; tokens work and refresh", async () => {
        const { fake, flows, p } = await useLinkFake({ mode }, { deviceIntervalSec: 1 });
        flows.enforceInterval = false;
        const d = await startDeviceAuthorization(p, { scopes: [], timeoutMs });
        expect(await pollDeviceToken(p, d.deviceCode, { timeoutMs })).toEqual({ status: "pending" });
        flows.approveDevice(d.userCode);
        const r = await pollDeviceToken(p, d.deviceCode, { timeoutMs });
        expect(r.status).toBe("linked");
        const tokens = (r as Extract<DevicePollResult, { status: "linked" }>).tokens;
        expect(fake.isValid(tokens.accessToken)).toBe(true);
        expect(fake.isValid((await refreshGrant(p, tokens.refreshToken!, { timeoutMs })).accessToken)).toBe(true);
        // The device code is spent: polling again cannot link twice.
        expect(await pollDeviceToken(p, d.deviceCode, { timeoutMs })).toEqual({ status: "expired" });
      });

      it("slow_down, denied (with the provider's reason) and expired", async () => {
        const { flows, p } = await useLinkFake({ mode });
        flows.enforceInterval = false;
        const d = await startDeviceAuthorization(p, { scopes: [], timeoutMs });
        flows.deviceScript.push("slow_down");
        expect(await pollDeviceToken(p, d.deviceCode, { timeoutMs })).toEqual({ status: "slow_down" });
        flows.denyDevice(d.userCode);
        const denied = await pollDeviceToken(p, d.deviceCode, { timeoutMs });
        expect(denied).toEqual({ status: "denied", reason: "access_denied: The user has denied your application access." });

        const e = await startDeviceAuthorization(p, { scopes: [], timeoutMs });
        flows.deviceScript.push("expire");
        expect(await pollDeviceToken(p, e.deviceCode, { timeoutMs })).toEqual({ status: "expired" });
        expect(await pollDeviceToken(p, "no-such-code", { timeoutMs })).toEqual({ status: "expired" });
      });
    });
  }

  it("GitHub answers every device poll with HTTP 200 (errors included)", async () => {
    const { fake, flows, p } = await useLinkFake({ mode: "github" });
    flows.enforceInterval = false;
    const d = await startDeviceAuthorization(p, { scopes: [], timeoutMs });
    const raw = await fetch(fake.tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({ client_id: fake.clientId, client_secret: fake.clientSecret, device_code: d.deviceCode, grant_type: "urn:ietf:params:oauth:grant-type:device_code" }),
    });
    expect(raw.status).toBe(200);
    expect(await raw.json()).toMatchObject({ error: "authorization_pending" });
    expect(await pollDeviceToken(p, d.deviceCode, { timeoutMs })).toEqual({ status: "pending" });
  });

  it("bad client credentials and transport failures throw classified errors instead of a status", async () => {
    const { fake, p } = await useLinkFake();
    const d = await startDeviceAuthorization(p, { scopes: [], timeoutMs });
    await expectOAuthError(pollDeviceToken({ ...p, clientSecret: "wrong" }, d.deviceCode, { timeoutMs }), { kind: "client_credentials", status: 401, error: "invalid_client" });
    fake.failNext(1, { status: 502 });
    await expectOAuthError(pollDeviceToken(p, d.deviceCode, { timeoutMs }), { kind: "transient", status: 502 });
  });

  it("a caller loop that honours interval and slow_down (+5 s): pending, slow_down, then linked", async () => {
    const { fake, flows, p } = await useLinkFake({}, { deviceIntervalSec: 1 });
    const d = await startDeviceAuthorization(p, { scopes: [], timeoutMs });
    flows.deviceScript.push("pending", "slow_down", "approve");
    let interval = d.intervalSec;
    const statuses: string[] = [];
    for (let i = 0; i < 5; i++) {
      if (i > 0) await sleep(interval * 1000);
      const r = await pollDeviceToken(p, d.deviceCode, { timeoutMs });
      statuses.push(r.status);
      if (r.status === "slow_down") interval += SLOW_DOWN_INCREMENT_SEC;
      if (r.status === "linked") {
        expect(fake.isValid(r.tokens.accessToken)).toBe(true);
        break;
      }
    }
    expect(statuses).toEqual(["pending", "slow_down", "linked"]);
    const polls = flows.session().polls;
    const gaps = polls.slice(1).map((t, i) => t - polls[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(1000);
    expect(gaps[1]).toBeGreaterThanOrEqual(6000); // 1 s + 5 s after slow_down
    expect(gaps[1]).toBeLessThan(8000);
  }, 20_000);

  it("a caller that polls too fast is told slow_down by the fake, as RFC 8628 servers do", async () => {
    const { flows, p } = await useLinkFake({}, { deviceIntervalSec: 2 });
    const d = await startDeviceAuthorization(p, { scopes: [], timeoutMs });
    expect(await pollDeviceToken(p, d.deviceCode, { timeoutMs })).toEqual({ status: "pending" });
    expect(await pollDeviceToken(p, d.deviceCode, { timeoutMs })).toEqual({ status: "slow_down" });
    expect(flows.session().intervalSec).toBe(7);
  });
});
