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
  const ttl = opts.accessTtlSec ?? 120;
  const clientId = "tokenbroker-demo";
  const refreshTokens = new Map<string, Family>();
  const accessTokens = new Map<string, { expiresAt: number; family: Family }>();
  const codes = new Map<string, PendingCode>();
  const devices = new Map<string, DeviceGrant>();
  const saved = opts.stateFile === undefined ? undefined : loadState(opts.stateFile);
  const clientSecret = saved?.clientSecret ?? randomBytes(16).toString("hex");
  if (saved !== undefined) {
    for (const f of saved.families) {
      const family: Family = { current: f.current, revoked: f.revoked };
      for (const rt of f.refreshTokens) refreshTokens.set(rt, family);
      for (const at of f.accessTokens) accessTokens.set(at.token, { expiresAt: at.expiresAt, family });
    }
  }
  /** Writes the grants to `stateFile` (dev mode: a restart keeps every link's refresh token valid). */
  const persist = (): void => {
    if (opts.stateFile === undefined) return;
    const families = new Map<Family, PersistedFamily>();
    const entry = (family: Family): PersistedFamily => {
      let e = families.get(family);
      if (e === undefined) families.set(family, (e = { current: family.current, revoked: family.revoked, refreshTokens: [], accessTokens: [] }));
      return e;
    };
    for (const [rt, family] of refreshTokens) entry(family).refreshTokens.push(rt);
    const now = Date.now();
    for (const [token, at] of accessTokens) if (at.expiresAt > now) entry(at.family).accessTokens.push({ token, expiresAt: at.expiresAt });
    const state: PersistedState = { version: 1, clientSecret, port: boundPort, families: [...families.values()] };
    const tmp = `${opts.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    renameSync(tmp, opts.stateFile);
  };
  let boundPort = 0;

  const mint = (family?: Family, accessTtlSec = ttl): { accessToken: string; refreshToken: string; expiresAt: number } => {
    const refreshToken = `demo_rt_${randomBytes(18).toString("base64url")}`;
    const accessToken = `demo_at_${randomBytes(18).toString("base64url")}`;
    const fam = family ?? { current: refreshToken, revoked: false };
    fam.current = refreshToken;
    refreshTokens.set(refreshToken, fam);
    const expiresAt = Date.now() + accessTtlSec * 1000;
    accessTokens.set(accessToken, { expiresAt, family: fam });
    persist();
    return { accessToken, refreshToken, expiresAt };
  };

  const server: Server = createServer((req, res) => {
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method === "GET" && url.pathname === "/user") {
      const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1];
      const at = token === undefined ? undefined : accessTokens.get(token);
      if (at === undefined || at.family.revoked || at.expiresAt <= Date.now()) return json(401, { message: "Bad credentials" });
      return json(200, { login: "demo" });
    }
    if (req.method === "GET" && url.pathname === "/authorize") return authorize(url, res);
    if (req.method === "GET" && url.pathname === "/device") return devicePage(url, res);
    if (req.method === "POST" && (url.pathname === "/token" || url.pathname === "/device/code")) {
      void readForm(req).then((form) => {
        const [id, secret] = clientAuth(req, form);
        if (id !== clientId || secret !== clientSecret) return json(401, { error: "invalid_client" });
        if (url.pathname === "/device/code") return json(200, startDevice());
        const answer = grant(form);
        json(answer.status, answer.body);
      }, () => json(400, { error: "invalid_request" }));
      return;
    }
    json(404, { error: "not_found" });
  });
  const tokens = (family?: Family): { status: number; body: unknown } => {
    const t = mint(family);
    return { status: 200, body: { access_token: t.accessToken, token_type: "bearer", expires_in: ttl, refresh_token: t.refreshToken } };
  };
  const refused = (error: string, description: string): { status: number; body: unknown } => ({ status: 400, body: { error, error_description: description } });

  const grant = (form: URLSearchParams): { status: number; body: unknown } => {
    switch (form.get("grant_type")) {
      case "refresh_token": {
        const presented = form.get("refresh_token") ?? "";
        const family = refreshTokens.get(presented);
        if (family === undefined || family.revoked) return refused("invalid_grant", "unknown or revoked refresh token");
        if (family.current !== presented) {
          family.revoked = true; // reuse detection: the whole grant dies
          persist();
          return refused("invalid_grant", "refresh token reused; grant revoked");
        }
        return tokens(family);
      }
      case "authorization_code": {
        const code = form.get("code") ?? "";
        const pending = codes.get(code);
        codes.delete(code); // single use
        if (pending === undefined || pending.expiresAt <= Date.now()) return refused("invalid_grant", "unknown, used or expired code");
        if (form.get("redirect_uri") !== pending.redirectUri) return refused("invalid_grant", "redirect_uri differs from the authorization request");
        const verifier = form.get("code_verifier") ?? "";
        if (pending.challenge !== undefined && createHash("sha256").update(verifier).digest("base64url") !== pending.challenge) {
          return refused("invalid_grant", "code_verifier does not match the code_challenge");
        }
        return tokens();
      }
      case DEVICE_GRANT: {
        const deviceCode = form.get("device_code") ?? "";
        const device = devices.get(deviceCode);
        if (device === undefined) return refused("invalid_grant", "unknown device code");
        if (device.expiresAt <= Date.now()) return refused("expired_token", "the device code expired");
        if (!device.approved) return refused("authorization_pending", "not approved yet");
        devices.delete(deviceCode);
        return tokens();
      }
      default:
        return refused("unsupported_grant_type", "");
    }
  };

  const authorize = (url: URL, res: ServerResponse): void => {
    const redirectUri = url.searchParams.get("redirect_uri");
    const state = url.searchParams.get("state");
    if (url.searchParams.get("client_id") !== clientId || redirectUri === null || state === null || url.searchParams.get("response_type") !== "code") {
      page(res, 400, "Bad authorization request: client_id, redirect_uri, state and response_type=code are required.");
      return;
    }
    const method = url.searchParams.get("code_challenge_method");
    if (method !== null && method !== "S256") {
      page(res, 400, "Only code_challenge_method=S256 is supported.");
      return;
    }
    const code = `demo_code_${randomBytes(18).toString("base64url")}`;
    codes.set(code, { redirectUri, challenge: url.searchParams.get("code_challenge") ?? undefined, expiresAt: Date.now() + CODE_TTL_MS });
    const back = new URL(redirectUri);
    back.searchParams.set("code", code);
    back.searchParams.set("state", state);
    res.writeHead(302, { location: back.toString(), "cache-control": "no-store" }).end();
  };

  const startDevice = (): Record<string, unknown> => {
    const deviceCode = `demo_dc_${randomBytes(18).toString("base64url")}`;
    const userCode = `${randomBytes(2).toString("hex")}-${randomBytes(2).toString("hex")}`.toUpperCase();
    devices.set(deviceCode, { userCode, approved: false, expiresAt: Date.now() + DEVICE_TTL_SEC * 1000 });
    return {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: `${base}/device`,
      verification_uri_complete: `${base}/device?user_code=${encodeURIComponent(userCode)}`,
      expires_in: DEVICE_TTL_SEC,
      interval: DEVICE_INTERVAL_SEC,
    };
  };

  const devicePage = (url: URL, res: ServerResponse): void => {
    const userCode = (url.searchParams.get("user_code") ?? "").trim().toUpperCase();
    if (userCode === "") {
      page(res, 200, '<form method="get">Code: <input name="user_code" autofocus> <button>Approve</button></form>');
      return;
    }
    const device = [...devices.values()].find((d) => d.userCode === userCode && d.expiresAt > Date.now());
    if (device === undefined) {
      page(res, 404, "No pending device authorization with that code.");
      return;
    }
    device.approved = true;
    page(res, 200, "Approved. You can close this page; the command line finishes on its own.");
  };

  let base = "";
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
  const port = typeof addr === "object" && addr !== null ? addr.port : 0;
  boundPort = port;
  base = `http://127.0.0.1:${port}`;
  persist();
  return {
    url: base,
    authUrl: `${base}/authorize`,
    deviceCodeUrl: `${base}/device/code`,
    tokenUrl: `${base}/token`,
    validateUrl: `${base}/user`,
    clientId,
    clientSecret,
    issue: (accessTtlSec) => mint(undefined, accessTtlSec),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
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
