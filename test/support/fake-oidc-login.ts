/**
 * A real oidc-provider (v9) authorization server on 127.0.0.1 whose login
 * and consent interactions are answered by code instead of a UI: the
 * interaction URL logs in `accountId` and grants every requested scope, so
 * a test can follow the authorization-code flow's redirects as a browser
 * would (cookies included) and end with a code at the redirect URI.
 * Introspection and revocation are on, for checking that revocation worked.
 */
import { startOidcProvider } from "./oidc-server.js";

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

export async function startOidcLoginServer(opts: OidcLoginOptions = {}): Promise<OidcLoginServer> {
  const clientId = opts.clientId ?? "tb-link-test";
  const clientSecret = opts.clientSecret ?? "s3cret-for-link-tests-0123456789";
  const redirectUri = "http://127.0.0.1/oauth/oidc/callback";
  const state = { discoveryRequests: 0 };
  const idp = await startOidcProvider({
    clientId,
    clientSecret,
    redirectUris: [redirectUri],
    tokenEndpointAuthMethod: opts.tokenEndpointAuthMethod ?? "client_secret_basic",
    kid: "link",
    accessTokenTtlSec: 300,
    authorizationCodeTtlSec: 60,
    loginAs: () => out.accountId,
    onRequest: (_req, path) => {
      if (path === "/.well-known/openid-configuration") state.discoveryRequests++;
    },
  });

  const out: OidcLoginServer = {
    issuer: idp.issuer,
    clientId,
    clientSecret,
    redirectUri,
    accountId: "user-1",
    get discoveryRequests() {
      return state.discoveryRequests;
    },
    introspect: idp.introspect,
    close: idp.close,
  };
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
