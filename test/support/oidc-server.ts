import { generateKeyPairSync } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A real oidc-provider (v9) authorization server on 127.0.0.1, for tests that
 * need a provider with genuine refresh-token rotation: with
 * `rotateRefreshToken: true` every refresh consumes the presented token, and
 * presenting a consumed one answers `invalid_grant` AND revokes the whole
 * grant (every token issued under it stops working).
 *
 * Tokens are minted without a browser: a Grant is saved directly, then a
 * RefreshToken bound to it.
 */
export interface OidcServer {
  issuer: string;
  tokenUrl: string;
  introspectionUrl: string;
  revocationUrl: string;
  clientId: string;
  clientSecret: string;
  /** Scope carried by minted refresh tokens. */
  scope: string;
  /** Saves a grant for `accountId` and a refresh token under it. */
  mintRefreshToken(accountId: string): Promise<{ refreshToken: string; grantId: string }>;
  /** True once the grant was revoked (replay detection, revocation) or is gone. */
  isGrantRevoked(grantId: string): Promise<boolean>;
  /** RFC 7662 introspection with this client's credentials. */
  introspect(token: string): Promise<{ active: boolean } & Record<string, unknown>>;
  /** A refresh_token grant with this client's credentials; the raw status and JSON body. */
  refresh(refreshToken: string): Promise<{ status: number; body: Record<string, unknown> }>;
  stats: {
    /** POST /token requests of any grant type, counted as they arrive. */
    tokenRequests: number;
    /** Successful refresh_token grants. */
    refreshes: number;
    /** Errors answered by the token endpoint, e.g. "invalid_grant: refresh token already used". */
    tokenErrors: string[];
    revokedGrants: Set<string>;
  };
  close(): Promise<void>;
}

export interface OidcServerOptions {
  /** Access token lifetime in seconds (default 60). */
  accessTokenTtlSec?: number;
  clientId?: string;
  clientSecret?: string;
}

const SCOPE = "openid offline_access";

/** oidc-provider warns on import (Node 20 is "unsupported") and on construction (memory adapter). */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const { warn, info } = console;
  const keep =
    (orig: (...a: unknown[]) => void) =>
    (...a: unknown[]): void => {
      if (typeof a[0] === "string" && a[0].includes("oidc-provider ")) return;
      orig.apply(console, a);
    };
  console.warn = keep(warn);
  console.info = keep(info);
  try {
    return await fn();
  } finally {
    console.warn = warn;
    console.info = info;
  }
}

// oidc-provider ships no type declarations; a non-literal specifier keeps tsc from looking.
const MODULE = "oidc-provider";

export async function startOidcServer(opts: OidcServerOptions = {}): Promise<OidcServer> {
  const clientId = opts.clientId ?? "tokenbroker-test";
  const clientSecret = opts.clientSecret ?? "s3cret-for-oidc-rotation-tests";
  const stats: OidcServer["stats"] = { tokenRequests: 0, refreshes: 0, tokenErrors: [], revokedGrants: new Set() };

  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    if (req.method === "POST" && new URL(req.url ?? "/", "http://x").pathname === "/token") stats.tokenRequests++;
    if (handler === undefined) {
      res.writeHead(503).end();
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const jwk = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  const ttl = opts.accessTokenTtlSec ?? 60;
  const provider: any = await quietly(async () => {
    const { default: Provider } = (await import(MODULE)) as { default: new (issuer: string, config: object) => any };
    return new Provider(issuer, {
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
          redirect_uris: ["http://127.0.0.1/cb"],
          token_endpoint_auth_method: "client_secret_basic",
        },
      ],
      jwks: { keys: [{ ...jwk, kid: "test", use: "sig", alg: "RS256" }] },
      scopes: ["openid", "offline_access"],
      rotateRefreshToken: true,
      features: {
        devInteractions: { enabled: false },
        introspection: { enabled: true, allowedPolicy: () => true },
        revocation: { enabled: true, allowedPolicy: () => true },
      },
      ttl: { AccessToken: ttl, RefreshToken: 86_400, Grant: 86_400, IdToken: 3600, Session: 86_400, Interaction: 600 },
      findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    });
  });
  provider.on("grant.success", (ctx: { oidc: { params: { grant_type?: string } } }) => {
    if (ctx.oidc.params.grant_type === "refresh_token") stats.refreshes++;
  });
  provider.on("grant.error", (_ctx: unknown, err: { error?: string; error_description?: string; error_detail?: string }) => {
    stats.tokenErrors.push(`${err.error}: ${err.error_detail ?? err.error_description}`);
  });
  provider.on("grant.revoked", (_ctx: unknown, grantId: string) => stats.revokedGrants.add(grantId));
  provider.on("server_error", (_ctx: unknown, err: unknown) => console.error("oidc-provider server_error", err));
  handler = provider.callback();

  const basic = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64")}`;
  const post = async (path: string, form: Record<string, string>) => {
    const res = await fetch(`${issuer}${path}`, {
      method: "POST",
      headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams(form),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    introspectionUrl: `${issuer}/token/introspection`,
    revocationUrl: `${issuer}/token/revocation`,
    clientId,
    clientSecret,
    scope: SCOPE,
    stats,
    async mintRefreshToken(accountId) {
      const grant = new provider.Grant({ accountId, clientId });
      grant.addOIDCScope(SCOPE);
      const grantId = (await grant.save()) as string;
      const client = await provider.Client.find(clientId);
      const rt = new provider.RefreshToken({ accountId, client, grantId, scope: SCOPE, gty: "authorization_code" });
      return { refreshToken: (await rt.save()) as string, grantId };
    },
    async isGrantRevoked(grantId) {
      return stats.revokedGrants.has(grantId) || (await provider.Grant.find(grantId)) === undefined;
    },
    async introspect(token) {
      const { body } = await post("/token/introspection", { token });
      return body as { active: boolean } & Record<string, unknown>;
    },
    refresh: (refreshToken) => post("/token", { grant_type: "refresh_token", refresh_token: refreshToken }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
