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

/**
 * What differs between the oidc-provider test servers; everything else (the
 * HTTP server, one confidential client, an RS256 key, `findAccount`, the
 * scopes, introspection and revocation, and optionally login and consent
 * answered in code) is the same for all of them and built by
 * `startOidcProvider`.
 */
export interface OidcProviderSetup {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  tokenEndpointAuthMethod?: "client_secret_basic" | "client_secret_post";
  /** `kid` of the signing key. */
  kid: string;
  accessTokenTtlSec: number;
  /** Authorization code lifetime; left to oidc-provider's default when absent. */
  authorizationCodeTtlSec?: number;
  rotateRefreshToken?: boolean;
  /**
   * When given, interactions live at /interaction/:uid and are answered in
   * code: login as the account this returns (asked anew each time), then
   * consent to every scope asked for.
   */
  loginAs?: () => string;
  /** Sees every request (with its path) before anything answers it. */
  onRequest?: (req: IncomingMessage, path: string) => void;
  /** Attaches event listeners to the provider before it serves anything. */
  subscribe?: (provider: any) => void;
}

export interface OidcProviderHandle {
  issuer: string;
  /** The oidc-provider instance (untyped: the package ships no declarations). */
  provider: any;
  /** A form POST to `path` with this client's Basic credentials; the raw status and JSON body. */
  post(path: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }>;
  /** RFC 7662 introspection with this client's credentials. */
  introspect(token: string): Promise<{ active: boolean } & Record<string, unknown>>;
  close(): Promise<void>;
}

/** An oidc-provider (v9) authorization server on 127.0.0.1, built from `setup`. */
export async function startOidcProvider(setup: OidcProviderSetup): Promise<OidcProviderHandle> {
  const { clientId, clientSecret, loginAs } = setup;
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let provider: any;
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    setup.onRequest?.(req, path);
    if (loginAs !== undefined && path.startsWith("/interaction/")) {
      interact(req, res).catch((e: unknown) => {
        console.error("interaction failed", e);
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    if (handler === undefined) return void res.writeHead(503).end();
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const jwk = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  const ttl: Record<string, number> = { AccessToken: setup.accessTokenTtlSec, RefreshToken: 86_400, Grant: 86_400, IdToken: 3600, Session: 86_400, Interaction: 600 };
  if (setup.authorizationCodeTtlSec !== undefined) ttl.AuthorizationCode = setup.authorizationCodeTtlSec;
  provider = await quietly(async () => {
    const { default: Provider } = (await import(MODULE)) as { default: new (issuer: string, config: object) => any };
    return new Provider(issuer, {
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
          redirect_uris: setup.redirectUris,
          token_endpoint_auth_method: setup.tokenEndpointAuthMethod ?? "client_secret_basic",
        },
      ],
      jwks: { keys: [{ ...jwk, kid: setup.kid, use: "sig", alg: "RS256" }] },
      scopes: ["openid", "offline_access"],
      ...(setup.rotateRefreshToken === undefined ? {} : { rotateRefreshToken: setup.rotateRefreshToken }),
      ...(loginAs === undefined ? {} : { interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` } }),
      features: {
        devInteractions: { enabled: false },
        introspection: { enabled: true, allowedPolicy: () => true },
        revocation: { enabled: true, allowedPolicy: () => true },
      },
      ttl,
      findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    });
  });
  provider.on("server_error", (_ctx: unknown, err: unknown) => console.error("oidc-provider server_error", err));
  setup.subscribe?.(provider);
  handler = provider.callback();

  /** Login, then consent to everything asked for; oidc-provider redirects onwards. */
  async function interact(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params } = details as { prompt: { name: string; details: Record<string, unknown> }; params: Record<string, string> };
    if (prompt.name === "login") {
      await provider.interactionFinished(req, res, { login: { accountId: loginAs!() } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: loginAs!(), clientId: params.client_id });
    const missingScope = prompt.details.missingOIDCScope as string[] | undefined;
    grant.addOIDCScope((missingScope ?? params.scope?.split(" ") ?? []).join(" "));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  const basic = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64")}`;
  const post: OidcProviderHandle["post"] = async (path, form) => {
    const res = await fetch(`${issuer}${path}`, {
      method: "POST",
      headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams(form),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  return {
    issuer,
    provider,
    post,
    async introspect(token) {
      const { body } = await post("/token/introspection", { token });
      return body as { active: boolean } & Record<string, unknown>;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/**
 * The rotation-test server: client redirect URI http://127.0.0.1/cb, no
 * interactions (tokens are minted directly), `rotateRefreshToken: true`.
 */
export async function startOidcServer(opts: OidcServerOptions = {}): Promise<OidcServer> {
  const clientId = opts.clientId ?? "tokenbroker-test";
  const clientSecret = opts.clientSecret ?? "s3cret-for-oidc-rotation-tests";
  const stats: OidcServer["stats"] = { tokenRequests: 0, refreshes: 0, tokenErrors: [], revokedGrants: new Set() };

  const idp = await startOidcProvider({
    clientId,
    clientSecret,
    redirectUris: ["http://127.0.0.1/cb"],
    kid: "test",
    accessTokenTtlSec: opts.accessTokenTtlSec ?? 60,
    rotateRefreshToken: true,
    onRequest: (req, path) => {
      if (req.method === "POST" && path === "/token") stats.tokenRequests++;
    },
    subscribe: (provider) => {
      provider.on("grant.success", (ctx: { oidc: { params: { grant_type?: string } } }) => {
        if (ctx.oidc.params.grant_type === "refresh_token") stats.refreshes++;
      });
      provider.on("grant.error", (_ctx: unknown, err: { error?: string; error_description?: string; error_detail?: string }) => {
        stats.tokenErrors.push(`${err.error}: ${err.error_detail ?? err.error_description}`);
      });
      provider.on("grant.revoked", (_ctx: unknown, grantId: string) => stats.revokedGrants.add(grantId));
    },
  });
  const { issuer, provider } = idp;

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
    introspect: idp.introspect,
    refresh: (refreshToken) => idp.post("/token", { grant_type: "refresh_token", refresh_token: refreshToken }),
    close: idp.close,
  };
}
