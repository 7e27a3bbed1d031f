/**
 * The link-lifecycle endpoints for the fake provider of fake-provider.ts:
 * an authorization endpoint that approves at once (no UI) and redirects as a
 * browser would be redirected, single-use authorization codes bound to the
 * redirect URI and a PKCE challenge, an RFC 8628 device flow that enforces
 * its polling interval, and three revocation styles (RFC 7009, GitHub's
 * grant deletion, Slack's auth.revoke). Tokens come from the fake's own
 * families, so they refresh, validate and revoke like any other.
 */
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { clientCredentials, readBody, send, type FakeProvider, type GrantDecision, type IssuedTokens } from "./fake-provider.js";

const JSON_TYPE = "application/json";

export interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  scope: string | undefined;
  codeChallenge: string | undefined;
  codeChallengeMethod: string | undefined;
  expiresAt: number;
  used: boolean;
  issued?: IssuedTokens;
}

export interface DeviceSession {
  deviceCode: string;
  userCode: string;
  scope: string | undefined;
  intervalSec: number;
  expiresAt: number;
  state: "pending" | "approved" | "denied" | "done";
  /** Epoch ms of every poll, for interval assertions. */
  polls: number[];
}

export type DeviceStep = "pending" | "slow_down" | "approve" | "deny" | "expire";

export type RevokeFault = { status: number; body?: string } | { hangMs: number };

export interface Revocation {
  style: "rfc7009" | "github-grant" | "slack";
  tokenTypeHint?: string | undefined;
  clientAuth: "basic" | "post" | "none" | "bearer";
  /** The presented token was one the fake issued. */
  tokenKnown: boolean;
  token: string;
}

export interface LinkFlowsOptions {
  codeTtlSec?: number;
  deviceIntervalSec?: number;
  deviceExpiresInSec?: number;
  /** Add verification_uri_complete to device authorization responses. */
  verificationUriComplete?: boolean;
}

export class LinkFlows {
  readonly authorizeUrl: string;
  readonly deviceCodeUrl: string;
  readonly revokeUrl: string;
  /** GitHub-style API base: DELETE {apiBaseUrl}/applications/{client_id}/grant. */
  readonly apiBaseUrl: string;
  readonly slackRevokeUrl: string;

  /** "deny" redirects back with error=access_denied. */
  authorizeDecision: "approve" | "deny" = "approve";
  /** Poll sooner than the interval → slow_down and interval += 5 s (RFC 8628 §3.5). */
  enforceInterval = true;
  codeTtlSec: number;
  deviceIntervalSec: number;
  deviceExpiresInSec: number;
  verificationUriComplete: boolean;

  /** Consumed one per device poll, before the session's own state. */
  readonly deviceScript: DeviceStep[] = [];
  readonly revokeFaults: RevokeFault[] = [];

  // Observations.
  readonly authorizeRequests: URLSearchParams[] = [];
  readonly codes = new Map<string, AuthorizationCode>();
  readonly devices = new Map<string, DeviceSession>();
  readonly revocations: Revocation[] = [];
  /** Form of every device authorization request. */
  readonly deviceRequests: URLSearchParams[] = [];
  codeExchanges = 0;

  constructor(
    private readonly fake: FakeProvider,
    opts: LinkFlowsOptions,
  ) {
    this.authorizeUrl = `${fake.url}/authorize`;
    this.deviceCodeUrl = `${fake.url}/device/code`;
    this.revokeUrl = `${fake.url}/revoke`;
    this.apiBaseUrl = fake.url;
    this.slackRevokeUrl = `${fake.url}/auth.revoke`;
    this.codeTtlSec = opts.codeTtlSec ?? 60;
    this.deviceIntervalSec = opts.deviceIntervalSec ?? 5;
    this.deviceExpiresInSec = opts.deviceExpiresInSec ?? 900;
    this.verificationUriComplete = opts.verificationUriComplete ?? false;
    fake.grantHandlers.set("authorization_code", (form) => this.exchange(form));
    fake.grantHandlers.set("urn:ietf:params:oauth:grant-type:device_code", (form) => this.poll(form));
    fake.extraRoutes.push((req, res, path) => this.route(req, res, path));
  }

  /** The one device session (tests usually start exactly one). */
  session(): DeviceSession {
    const s = [...this.devices.values()].at(-1);
    if (s === undefined) throw new Error("no device session");
    return s;
  }

  approveDevice(userCode = this.session().userCode): void {
    this.byUserCode(userCode).state = "approved";
  }

  denyDevice(userCode = this.session().userCode): void {
    this.byUserCode(userCode).state = "denied";
  }

  private byUserCode(userCode: string): DeviceSession {
    const s = [...this.devices.values()].find((d) => d.userCode === userCode);
    if (s === undefined) throw new Error(`no device session for ${userCode}`);
    return s;
  }

  private github(): boolean {
    return this.fake.mode === "github";
  }

  private async route(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (path === "/authorize" && req.method === "GET") return this.authorize(req, res);
    if (path === "/device/code" && req.method === "POST") return this.deviceAuthorization(req, res);
    if (path === "/revoke" && req.method === "POST") return this.revokeRfc7009(req, res);
    if (path === "/auth.revoke" && req.method === "POST") return this.revokeSlack(req, res);
    const grant = /^\/applications\/([^/]+)\/grant$/.exec(path);
    if (grant?.[1] !== undefined && req.method === "DELETE") return this.revokeGithub(req, res, decodeURIComponent(grant[1]));
    return false;
  }

  private authorize(req: IncomingMessage, res: ServerResponse): boolean {
    const q = new URL(req.url ?? "/", this.fake.url).searchParams;
    this.authorizeRequests.push(q);
    const redirectUri = q.get("redirect_uri");
    if (q.get("client_id") !== this.fake.clientId || redirectUri === null || !URL.canParse(redirectUri)) {
      // RFC 6749 §4.1.2.1: never redirect to an unverified redirect URI.
      send(res, 400, "text/plain", "bad client_id or redirect_uri");
      return true;
    }
    const back = new URL(redirectUri);
    const state = q.get("state");
    if (state !== null) back.searchParams.set("state", state);
    const method = q.get("code_challenge_method") ?? (q.get("code_challenge") !== null ? "plain" : null);
    if (q.get("response_type") !== "code") {
      back.searchParams.set("error", "unsupported_response_type");
    } else if (method !== null && method !== "S256" && method !== "plain") {
      back.searchParams.set("error", "invalid_request");
    } else if (this.authorizeDecision === "deny") {
      back.searchParams.set("error", "access_denied");
    } else {
      const code = `fake_code_${randomBytes(16).toString("base64url")}`;
      this.codes.set(code, {
        clientId: this.fake.clientId,
        redirectUri,
        scope: q.get("scope") ?? undefined,
        codeChallenge: q.get("code_challenge") ?? undefined,
        codeChallengeMethod: method ?? undefined,
        expiresAt: Date.now() + this.codeTtlSec * 1000,
        used: false,
      });
      back.searchParams.set("code", code);
    }
    res.writeHead(302, { location: back.toString(), "content-length": "0" });
    res.end();
    return true;
  }

  private exchange(form: URLSearchParams): GrantDecision {
    this.codeExchanges++;
    const bad = (description: string) => ({ error: this.github() ? "bad_verification_code" : "invalid_grant", description });
    const code = this.codes.get(form.get("code") ?? "");
    if (code === undefined) return bad("The code passed is incorrect or expired.");
    if (code.used) {
      // RFC 6749 §4.1.2: a replayed code SHOULD revoke what it already issued.
      if (code.issued !== undefined) this.fake.revoke(code.issued.refreshToken);
      return bad("The code was already used.");
    }
    code.used = true;
    if (code.expiresAt <= Date.now()) return bad("The code passed is incorrect or expired.");
    if (form.get("redirect_uri") !== code.redirectUri) return bad("The redirect_uri does not match.");
    const verifier = form.get("code_verifier");
    if (code.codeChallenge !== undefined) {
      if (verifier === null) return bad("code_verifier required.");
      const computed = code.codeChallengeMethod === "S256" ? createHash("sha256").update(verifier).digest("base64url") : verifier;
      if (computed !== code.codeChallenge) return bad("code_verifier does not match the challenge.");
    } else if (verifier !== null) {
      return bad("code_verifier sent but no challenge was.");
    }
    return { issue: true, onIssued: (t) => (code.issued = t) };
  }

  private async deviceAuthorization(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const form = new URLSearchParams(await readBody(req));
    this.deviceRequests.push(form);
    const client = clientCredentials(form, req.headers.authorization);
    if (client.id !== this.fake.clientId) {
      send(res, this.github() ? 200 : 401, JSON_TYPE, JSON.stringify({ error: "invalid_client", error_description: "unknown client" }));
      return true;
    }
    const deviceCode = `fake_dc_${randomBytes(16).toString("base64url")}`;
    const letters = () => randomBytes(4).toString("hex").toUpperCase();
    const session: DeviceSession = {
      deviceCode,
      userCode: `${letters()}-${letters()}`,
      scope: form.get("scope") ?? undefined,
      intervalSec: this.deviceIntervalSec,
      expiresAt: Date.now() + this.deviceExpiresInSec * 1000,
      state: "pending",
      polls: [],
    };
    this.devices.set(deviceCode, session);
    const body: Record<string, unknown> = {
      device_code: deviceCode,
      user_code: session.userCode,
      verification_uri: `${this.fake.url}/device`,
      expires_in: this.deviceExpiresInSec,
      interval: this.deviceIntervalSec,
    };
    if (this.verificationUriComplete) body.verification_uri_complete = `${this.fake.url}/device?user_code=${session.userCode}`;
    send(res, 200, JSON_TYPE, JSON.stringify(body));
    return true;
  }

  private poll(form: URLSearchParams): GrantDecision {
    const s = this.devices.get(form.get("device_code") ?? "");
    if (s === undefined) {
      return { error: this.github() ? "incorrect_device_code" : "invalid_grant", description: "The device_code provided is not valid." };
    }
    const now = Date.now();
    const last = s.polls.at(-1);
    s.polls.push(now);
    const step = this.deviceScript.shift();
    if (step === "approve") s.state = "approved";
    if (step === "deny") s.state = "denied";
    if (step === "expire") s.expiresAt = 0;
    const slowDown = () => {
      s.intervalSec += 5;
      return { error: "slow_down", description: "Too many requests have been made in the same timeframe." };
    };
    if (step === "pending") return { error: "authorization_pending", description: "The authorization request is still pending." };
    if (step === "slow_down") return slowDown();
    if (s.expiresAt <= now) return { error: "expired_token", description: "The device_code has expired." };
    if (this.enforceInterval && last !== undefined && now - last < s.intervalSec * 1000 - 100) return slowDown();
    switch (s.state) {
      case "denied":
        return { error: "access_denied", description: "The user has denied your application access." };
      case "done":
        return { error: this.github() ? "incorrect_device_code" : "invalid_grant", description: "The device_code was already used." };
      case "pending":
        return { error: "authorization_pending", description: "The authorization request is still pending." };
      case "approved":
        s.state = "done";
        return { issue: true };
    }
  }

  private nextFault(): RevokeFault | undefined {
    return this.revokeFaults.shift();
  }

  private async applyFault(fault: RevokeFault, res: ServerResponse): Promise<void> {
    if ("hangMs" in fault) {
      await new Promise((r) => setTimeout(r, fault.hangMs));
      send(res, 504, JSON_TYPE, "{}");
    } else {
      send(res, fault.status, JSON_TYPE, fault.body ?? "{}");
    }
  }

  private async revokeRfc7009(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const form = new URLSearchParams(await readBody(req));
    const fault = this.nextFault();
    if (fault !== undefined) return this.applyFault(fault, res).then(() => true);
    const client = clientCredentials(form, req.headers.authorization);
    if (client.id !== this.fake.clientId || client.secret !== this.fake.clientSecret) {
      send(res, 401, JSON_TYPE, JSON.stringify({ error: "invalid_client" }), { "www-authenticate": 'Basic realm="fake"' });
      return true;
    }
    const token = form.get("token");
    if (token === null || token === "") {
      send(res, 400, JSON_TYPE, JSON.stringify({ error: "invalid_request" }));
      return true;
    }
    const known = this.fake.issuedTokens().includes(token);
    this.revocations.push({ style: "rfc7009", tokenTypeHint: form.get("token_type_hint") ?? undefined, clientAuth: client.method, tokenKnown: known, token });
    this.fake.revoke(token);
    send(res, 200, JSON_TYPE, ""); // RFC 7009 §2.2: 200 whether or not the token was known
    return true;
  }

  private async revokeGithub(req: IncomingMessage, res: ServerResponse, clientId: string): Promise<boolean> {
    const raw = await readBody(req);
    const fault = this.nextFault();
    if (fault !== undefined) return this.applyFault(fault, res).then(() => true);
    const client = clientCredentials(new URLSearchParams(), req.headers.authorization);
    if (client.method !== "basic" || client.id !== clientId || client.id !== this.fake.clientId || client.secret !== this.fake.clientSecret) {
      send(res, 404, JSON_TYPE, JSON.stringify({ message: "Not Found" }));
      return true;
    }
    let token: unknown;
    try {
      token = (JSON.parse(raw) as { access_token?: unknown }).access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== "string" || !this.fake.isValid(token)) {
      send(res, 422, JSON_TYPE, JSON.stringify({ message: "Validation Failed" }));
      return true;
    }
    this.revocations.push({ style: "github-grant", clientAuth: "basic", tokenKnown: true, token });
    this.fake.revoke(token);
    res.writeHead(204).end();
    return true;
  }

  private async revokeSlack(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    await readBody(req);
    const fault = this.nextFault();
    if (fault !== undefined) return this.applyFault(fault, res).then(() => true);
    const m = /^bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    const token = m?.[1];
    if (token === undefined || !this.fake.isValid(token)) {
      send(res, 200, JSON_TYPE, JSON.stringify({ ok: false, error: "invalid_auth" }));
      return true;
    }
    this.revocations.push({ style: "slack", clientAuth: "bearer", tokenKnown: true, token });
    this.fake.revoke(token);
    send(res, 200, JSON_TYPE, JSON.stringify({ ok: true, revoked: true }));
    return true;
  }
}

/** Adds the link-lifecycle endpoints to a running fake provider. */
export function enableLinkFlows(fake: FakeProvider, opts: LinkFlowsOptions = {}): LinkFlows {
  return new LinkFlows(fake, opts);
}
