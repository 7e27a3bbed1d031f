import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";

export interface DemoProvider {
  readonly url: string;
  readonly tokenUrl: string;
  readonly validateUrl: string;
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

/**
 * The dev-mode authorization server: behaves like the providers tokenbroker
 * exists for. Access tokens live two minutes; refresh tokens are single-use
 * and rotate; replaying a spent one revokes the whole grant, as Auth0 and
 * Okta do. Loopback only.
 */
export async function startDemoProvider(opts: { port?: number; accessTtlSec?: number } = {}): Promise<DemoProvider> {
  const ttl = opts.accessTtlSec ?? 120;
  const clientId = "tokenbroker-demo";
  const clientSecret = randomBytes(16).toString("hex");
  const refreshTokens = new Map<string, Family>();
  const accessTokens = new Map<string, { expiresAt: number; family: Family }>();

  const mint = (family?: Family, accessTtlSec = ttl): { accessToken: string; refreshToken: string; expiresAt: number } => {
    const refreshToken = `demo_rt_${randomBytes(18).toString("base64url")}`;
    const accessToken = `demo_at_${randomBytes(18).toString("base64url")}`;
    const fam = family ?? { current: refreshToken, revoked: false };
    fam.current = refreshToken;
    refreshTokens.set(refreshToken, fam);
    const expiresAt = Date.now() + accessTtlSec * 1000;
    accessTokens.set(accessToken, { expiresAt, family: fam });
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
    if (req.method === "POST" && url.pathname === "/token") {
      void readForm(req).then((form) => {
        const [id, secret] = clientAuth(req, form);
        if (id !== clientId || secret !== clientSecret) return json(401, { error: "invalid_client" });
        if (form.get("grant_type") !== "refresh_token") return json(400, { error: "unsupported_grant_type" });
        const presented = form.get("refresh_token") ?? "";
        const family = refreshTokens.get(presented);
        if (family === undefined || family.revoked) return json(400, { error: "invalid_grant", error_description: "unknown or revoked refresh token" });
        if (family.current !== presented) {
          family.revoked = true; // reuse detection: the whole grant dies
          return json(400, { error: "invalid_grant", error_description: "refresh token reused; grant revoked" });
        }
        const t = mint(family);
        json(200, { access_token: t.accessToken, token_type: "bearer", expires_in: ttl, refresh_token: t.refreshToken });
      }, () => json(400, { error: "invalid_request" }));
      return;
    }
    json(404, { error: "not_found" });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : 0;
  const base = `http://127.0.0.1:${port}`;
  return {
    url: base,
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
