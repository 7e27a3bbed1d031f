import { createHash, randomBytes } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export interface DemoProvider {
  readonly url: string;
  readonly tokenUrl: string;
  readonly validateUrl: string;
  readonly authUrl: string;
  readonly deviceCodeUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Mints a fresh grant (access + refresh token) for seeding the demo link; its access token lives `accessTtlSec` (default: the provider's). */
  issue(accessTtlSec?: number): { accessToken: string; refreshToken: string; expiresAt: number };
  close(): Promise<void>;
}

interface Family {
  current: string;
  revoked: boolean;
}

interface PendingCode {
  redirectUri: string;
  challenge: string | undefined;
  expiresAt: number;
}

interface DeviceGrant {
  userCode: string;
  approved: boolean;
  expiresAt: number;
}

const CODE_TTL_MS = 60_000;
const DEVICE_TTL_SEC = 600;
const DEVICE_INTERVAL_SEC = 1;
const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

/**
 * The dev-mode authorization server: behaves like the providers tokenbroker
 * exists for. Access tokens live two minutes; refresh tokens are single-use
 * and rotate; replaying a spent one revokes the whole grant, as Auth0 and
 * Okta do. Linking works without a person at a login page: the authorize
 * endpoint approves at once (a 302 back to the redirect URI with a code;
 * PKCE S256 is checked at the exchange), and a device code is approved when
 * its verification page is opened. Loopback only.
 */
export async function startDemoProvider(opts: { port?: number; accessTtlSec?: number; stateFile?: string } = {}): Promise<DemoProvider> {
  const saved = opts.stateFile === undefined ? undefined : loadState(opts.stateFile);
  const demo = new DemoAuthServer(opts.accessTtlSec ?? 120, opts.stateFile, saved);
  const server: Server = createServer((req, res) => demo.handle(req, res));
  const listen = (port: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  // The same address as last time when it is free (an authorize URL printed before a restart keeps working); any other when not.
  const wanted = opts.port ?? saved?.port ?? 0;
  try {
    await listen(wanted);
  } catch (err) {
    if (opts.port !== undefined || wanted === 0) throw err;
    await listen(0);
  }
  const addr = server.address();
  const base = demo.bound(typeof addr === "object" && addr !== null ? addr.port : 0);
  return {
    url: base,
    authUrl: `${base}/authorize`,
    deviceCodeUrl: `${base}/device/code`,
    tokenUrl: `${base}/token`,
    validateUrl: `${base}/user`,
    clientId: CLIENT_ID,
    clientSecret: demo.clientSecret,
    issue: (accessTtlSec) => demo.mint(undefined, accessTtlSec),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const CLIENT_ID = "tokenbroker-demo";

type Answer = { status: number; body: unknown };

/** The demo provider's grants and its endpoints, one method each. */
class DemoAuthServer {
  readonly clientSecret: string;
  readonly #refreshTokens = new Map<string, Family>();
  readonly #accessTokens = new Map<string, { expiresAt: number; family: Family }>();
  readonly #codes = new Map<string, PendingCode>();
  readonly #devices = new Map<string, DeviceGrant>();
  #port = 0;
  #base = "";

  constructor(
    readonly ttlSec: number,
    readonly stateFile: string | undefined,
    saved: PersistedState | undefined,
  ) {
    this.clientSecret = saved?.clientSecret ?? randomBytes(16).toString("hex");
    for (const persisted of saved?.families ?? []) {
      const family: Family = { current: persisted.current, revoked: persisted.revoked };
      for (const rt of persisted.refreshTokens) this.#refreshTokens.set(rt, family);
      for (const at of persisted.accessTokens) this.#accessTokens.set(at.token, { expiresAt: at.expiresAt, family });
    }
  }

  /** The server listens on `port`: its base URL, and the state file names the port. */
  bound(port: number): string {
    this.#port = port;
    this.#base = `http://127.0.0.1:${port}`;
    this.#persist();
    return this.#base;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method === "GET" && url.pathname === "/user") {
      const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1];
      const at = token === undefined ? undefined : this.#accessTokens.get(token);
      if (at === undefined || at.family.revoked || at.expiresAt <= Date.now()) return json(401, { message: "Bad credentials" });
      return json(200, { login: "demo" });
    }
    if (req.method === "GET" && url.pathname === "/authorize") return this.#authorize(url, res);
    if (req.method === "GET" && url.pathname === "/device") return this.#devicePage(url, res);
    if (req.method === "POST" && (url.pathname === "/token" || url.pathname === "/device/code")) {
      void readForm(req).then((form) => {
        const [id, secret] = clientAuth(req, form);
        if (id !== CLIENT_ID || secret !== this.clientSecret) return json(401, { error: "invalid_client" });
        if (url.pathname === "/device/code") return json(200, this.#startDevice());
        const answer = this.#grant(form);
        json(answer.status, answer.body);
      }, () => json(400, { error: "invalid_request" }));
      return;
    }
    json(404, { error: "not_found" });
  }

  mint(family?: Family, accessTtlSec = this.ttlSec): { accessToken: string; refreshToken: string; expiresAt: number } {
    const refreshToken = `demo_rt_${randomBytes(18).toString("base64url")}`;
    const accessToken = `demo_at_${randomBytes(18).toString("base64url")}`;
    const grantFamily = family ?? { current: refreshToken, revoked: false };
    grantFamily.current = refreshToken;
    this.#refreshTokens.set(refreshToken, grantFamily);
    const expiresAt = Date.now() + accessTtlSec * 1000;
    this.#accessTokens.set(accessToken, { expiresAt, family: grantFamily });
    this.#persist();
    return { accessToken, refreshToken, expiresAt };
  }

  /** Writes the grants to the state file (dev mode: a restart keeps every link's refresh token valid). */
  #persist(): void {
    if (this.stateFile === undefined) return;
    const families = new Map<Family, PersistedFamily>();
    const persisted = (family: Family): PersistedFamily => {
      let found = families.get(family);
      if (found === undefined) families.set(family, (found = { current: family.current, revoked: family.revoked, refreshTokens: [], accessTokens: [] }));
      return found;
    };
    for (const [rt, family] of this.#refreshTokens) persisted(family).refreshTokens.push(rt);
    const now = Date.now();
    for (const [token, at] of this.#accessTokens) if (at.expiresAt > now) persisted(at.family).accessTokens.push({ token, expiresAt: at.expiresAt });
    const state: PersistedState = { version: 1, clientSecret: this.clientSecret, port: this.#port, families: [...families.values()] };
    const tmp = `${this.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    renameSync(tmp, this.stateFile);
  }

  #tokens(family?: Family): Answer {
    const minted = this.mint(family);
    return { status: 200, body: { access_token: minted.accessToken, token_type: "bearer", expires_in: this.ttlSec, refresh_token: minted.refreshToken } };
  }

  #grant(form: URLSearchParams): Answer {
    switch (form.get("grant_type")) {
      case "refresh_token":
        return this.#refreshGrant(form);
      case "authorization_code":
        return this.#codeGrant(form);
      case DEVICE_GRANT:
        return this.#deviceGrant(form);
      default:
        return refused("unsupported_grant_type", "");
    }
  }

  #refreshGrant(form: URLSearchParams): Answer {
    const presented = form.get("refresh_token") ?? "";
    const family = this.#refreshTokens.get(presented);
    if (family === undefined || family.revoked) return refused("invalid_grant", "unknown or revoked refresh token");
    if (family.current !== presented) {
      family.revoked = true; // reuse detection: the whole grant dies
      this.#persist();
      return refused("invalid_grant", "refresh token reused; grant revoked");
    }
    return this.#tokens(family);
  }

  #codeGrant(form: URLSearchParams): Answer {
    const code = form.get("code") ?? "";
    const pending = this.#codes.get(code);
    this.#codes.delete(code); // single use
    if (pending === undefined || pending.expiresAt <= Date.now()) return refused("invalid_grant", "unknown, used or expired code");
    if (form.get("redirect_uri") !== pending.redirectUri) return refused("invalid_grant", "redirect_uri differs from the authorization request");
    const verifier = form.get("code_verifier") ?? "";
    if (pending.challenge !== undefined && createHash("sha256").update(verifier).digest("base64url") !== pending.challenge) {
      return refused("invalid_grant", "code_verifier does not match the code_challenge");
    }
    return this.#tokens();
  }

  #deviceGrant(form: URLSearchParams): Answer {
    const deviceCode = form.get("device_code") ?? "";
    const device = this.#devices.get(deviceCode);
    if (device === undefined) return refused("invalid_grant", "unknown device code");
    if (device.expiresAt <= Date.now()) return refused("expired_token", "the device code expired");
    if (!device.approved) return refused("authorization_pending", "not approved yet");
    this.#devices.delete(deviceCode);
    return this.#tokens();
  }

  #authorize(url: URL, res: ServerResponse): void {
    const redirectUri = url.searchParams.get("redirect_uri");
    const state = url.searchParams.get("state");
    if (url.searchParams.get("client_id") !== CLIENT_ID || redirectUri === null || state === null || url.searchParams.get("response_type") !== "code") {
      page(res, 400, "Bad authorization request: client_id, redirect_uri, state and response_type=code are required.");
      return;
    }
    const method = url.searchParams.get("code_challenge_method");
    if (method !== null && method !== "S256") {
      page(res, 400, "Only code_challenge_method=S256 is supported.");
      return;
    }
    const code = `demo_code_${randomBytes(18).toString("base64url")}`;
    this.#codes.set(code, { redirectUri, challenge: url.searchParams.get("code_challenge") ?? undefined, expiresAt: Date.now() + CODE_TTL_MS });
    const back = new URL(redirectUri);
    back.searchParams.set("code", code);
    back.searchParams.set("state", state);
    res.writeHead(302, { location: back.toString(), "cache-control": "no-store" }).end();
  }

  #startDevice(): Record<string, unknown> {
    const deviceCode = `demo_dc_${randomBytes(18).toString("base64url")}`;
    const userCode = `${randomBytes(2).toString("hex")}-${randomBytes(2).toString("hex")}`.toUpperCase();
    this.#devices.set(deviceCode, { userCode, approved: false, expiresAt: Date.now() + DEVICE_TTL_SEC * 1000 });
    return {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: `${this.#base}/device`,
      verification_uri_complete: `${this.#base}/device?user_code=${encodeURIComponent(userCode)}`,
      expires_in: DEVICE_TTL_SEC,
      interval: DEVICE_INTERVAL_SEC,
    };
  }

  #devicePage(url: URL, res: ServerResponse): void {
    const userCode = (url.searchParams.get("user_code") ?? "").trim().toUpperCase();
    if (userCode === "") {
      page(res, 200, '<form method="get">Code: <input name="user_code" autofocus> <button>Approve</button></form>');
      return;
    }
    const device = [...this.#devices.values()].find((d) => d.userCode === userCode && d.expiresAt > Date.now());
    if (device === undefined) {
      page(res, 404, "No pending device authorization with that code.");
      return;
    }
    device.approved = true;
    page(res, 200, "Approved. You can close this page; the command line finishes on its own.");
  }
}

function refused(error: string, description: string): Answer {
  return { status: 400, body: { error, error_description: description } };
}

interface PersistedFamily {
  current: string;
  revoked: boolean;
  refreshTokens: string[];
  accessTokens: { token: string; expiresAt: number }[];
}

interface PersistedState {
  version: 1;
  clientSecret: string;
  port: number;
  families: PersistedFamily[];
}

/** The saved grants, or undefined when there are none yet (a first start) or the file is not ours. */
function loadState(path: string): PersistedState | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<PersistedState>;
  if (parsed.version !== 1 || typeof parsed.clientSecret !== "string" || !Array.isArray(parsed.families)) {
    throw new Error(`${path} is not a demo provider state file; remove it to start the demo provider afresh`);
  }
  return { version: 1, clientSecret: parsed.clientSecret, port: typeof parsed.port === "number" ? parsed.port : 0, families: parsed.families };
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => {
      body += d;
      if (body.length > 65_536) req.destroy();
    });
    req.on("end", () => resolve(new URLSearchParams(body)));
    req.on("error", reject);
  });
}

function clientAuth(req: IncomingMessage, form: URLSearchParams): [string | undefined, string | undefined] {
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? "")?.[1];
  if (basic !== undefined) {
    const decoded = Buffer.from(basic, "base64").toString("utf8");
    const cut = decoded.indexOf(":");
    return [decodeURIComponent(decoded.slice(0, cut).replace(/\+/g, " ")), decodeURIComponent(decoded.slice(cut + 1).replace(/\+/g, " "))];
  }
  return [form.get("client_id") ?? undefined, form.get("client_secret") ?? undefined];
}

function page(res: ServerResponse, status: number, body: string): void {
  res
    .writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "content-security-policy": "default-src 'none'", "referrer-policy": "no-referrer" })
    .end(`<!doctype html><title>tokenbroker demo provider</title><p>${body}</p>\n`);
}
