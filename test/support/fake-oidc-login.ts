/**
 * A real oidc-provider (v9) authorization server on 127.0.0.1 whose login
 * and consent interactions are answered by code instead of a UI: the
 * interaction URL logs in `accountId` and grants every requested scope, so
 * a test can follow the authorization-code flow's redirects as a browser
 * would (cookies included) and end with a code at the redirect URI.
 * Introspection and revocation are on, for checking that revocation worked.
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface OidcLoginServer {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** Which account the interaction logs in. */
  accountId: string;
  /** Requests to the discovery document. */
  discoveryRequests: number;
  introspect(token: string): Promise<{ active: boolean } & Record<string, unknown>>;
  close(): Promise<void>;
}

export interface OidcLoginOptions {
  clientId?: string;
  clientSecret?: string;
  tokenEndpointAuthMethod?: "client_secret_basic" | "client_secret_post";
}

// oidc-provider ships no type declarations; a non-literal specifier keeps tsc from looking.
const MODULE = "oidc-provider";

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

export async function startOidcLoginServer(opts: OidcLoginOptions = {}): Promise<OidcLoginServer> {
  const clientId = opts.clientId ?? "tb-link-test";
  const clientSecret = opts.clientSecret ?? "s3cret-for-link-tests-0123456789";
  const redirectUri = "http://127.0.0.1/oauth/oidc/callback";
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const state = { discoveryRequests: 0 };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/.well-known/openid-configuration") state.discoveryRequests++;
    if (path.startsWith("/interaction/")) {
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

  const provider: any = await quietly(async () => {
    const { default: Provider } = (await import(MODULE)) as { default: new (issuer: string, config: object) => any };
    return new Provider(issuer, {
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
          redirect_uris: [redirectUri],
          token_endpoint_auth_method: opts.tokenEndpointAuthMethod ?? "client_secret_basic",
        },
      ],
      jwks: { keys: [{ ...jwk, kid: "link", use: "sig", alg: "RS256" }] },
      scopes: ["openid", "offline_access"],
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      features: {
        devInteractions: { enabled: false },
        introspection: { enabled: true, allowedPolicy: () => true },
        revocation: { enabled: true, allowedPolicy: () => true },
      },
      ttl: { AccessToken: 300, RefreshToken: 86_400, Grant: 86_400, IdToken: 3600, Session: 86_400, Interaction: 600, AuthorizationCode: 60 },
      findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    });
  });
  provider.on("server_error", (_ctx: unknown, err: unknown) => console.error("oidc-provider server_error", err));
  handler = provider.callback();

  const out: OidcLoginServer = {
    issuer,
    clientId,
    clientSecret,
    redirectUri,
    accountId: "user-1",
    get discoveryRequests() {
      return state.discoveryRequests;
    },
    async introspect(token) {
      const basic = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64")}`;
      const res = await fetch(`${issuer}/token/introspection`, {
        method: "POST",
        headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: new URLSearchParams({ token }),
      });
      return (await res.json()) as { active: boolean } & Record<string, unknown>;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };

  /** Login, then consent to everything asked for; oidc-provider redirects onwards. */
  async function interact(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params } = details as { prompt: { name: string; details: Record<string, unknown> }; params: Record<string, string> };
    if (prompt.name === "login") {
      await provider.interactionFinished(req, res, { login: { accountId: out.accountId } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: out.accountId, clientId: params.client_id });
    const missingScope = prompt.details.missingOIDCScope as string[] | undefined;
    grant.addOIDCScope((missingScope ?? params.scope?.split(" ") ?? []).join(" "));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  return out;
}

/**
 * Follows redirects from `url` the way a browser does (cookies kept per
 * host, relative Locations resolved) until one points at `stopAt`'s origin
 * and path; returns that final URL (the callback with code and state).
 */
export async function followToCallback(url: string, stopAt: string, maxHops = 10): Promise<URL> {
  const jar = new Map<string, string>();
  const stop = new URL(stopAt);
  let next = new URL(url);
  for (let hop = 0; hop < maxHops; hop++) {
    if (next.origin === stop.origin && next.pathname === stop.pathname) return next;
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(next, { redirect: "manual", headers: cookie === "" ? {} : { cookie } });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair!.indexOf("=");
      jar.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    await res.arrayBuffer();
    const location = res.headers.get("location");
    if (location === null) throw new Error(`no redirect from ${next.pathname} (HTTP ${res.status})`);
    next = new URL(location, next);
  }
  throw new Error("too many redirects");
}
