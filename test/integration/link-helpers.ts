/**
 * Shared by the link-*.test.ts acceptance tests (issue 5): a daemon whose web
 * listener is bound where its public_url says, gRPC clients for it, a
 * browser-like callback visit, raw SQLite file scans, and an oidc-provider
 * whose registered redirect URI is the daemon's real callback.
 */
import { readFileSync, readdirSync } from "node:fs";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import type { Client as GrpcClient } from "@grpc/grpc-js";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient } from "../support/grpc.js";
import { startOidcProvider } from "../support/oidc-server.js";

/** A port that was free a moment ago (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export interface LinkDaemon {
  daemon: ServingDaemon;
  publicUrl: string;
  dir: string;
  links: GrpcClient & Record<string, (...args: unknown[]) => unknown>;
  tokens: GrpcClient & Record<string, (...args: unknown[]) => unknown>;
  callbackUrl(providerId: string): string;
  stop(): Promise<void>;
}

/**
 * Starts `tokenbroker serve` with the web listener on tcp://127.0.0.1:PORT and
 * public_url http://127.0.0.1:PORT (PORT picked free first), gRPC on a Unix
 * socket and on TCP (callers authenticate with TEST_CALLER_TOKEN). `port`
 * may be given when something (an OIDC client registration) needs it early.
 */
export async function startLinkDaemon(
  dir: string,
  providers: Record<string, unknown>[],
  opts: { port?: number; extra?: Record<string, unknown>; refresh?: Record<string, unknown> } = {},
): Promise<LinkDaemon> {
  let lastErr: unknown;
  // The port was free a moment ago; if another process took it since, try another (only when we picked it).
  for (let attempt = 0; attempt < (opts.port === undefined ? 3 : 1); attempt++) {
    const port = opts.port ?? (await freePort());
    const publicUrl = `http://127.0.0.1:${port}`;
    const config = {
      listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"], http: `tcp://127.0.0.1:${port}` },
      public_url: publicUrl,
      store: { sqlite: { path: `${dir}/tb.db` } },
      encryption: { keys_file: `${dir}/keys` },
      refresh: { timeout: "2s", retry_budget: "3s", initial_backoff: "50ms", max_backoff: "200ms", ...opts.refresh },
      shutdown_grace: "3s",
      callers: TEST_CALLERS,
      providers,
      ...opts.extra,
    };
    let daemon: ServingDaemon;
    try {
      daemon = await startServe(config, dir);
    } catch (err) {
      lastErr = err;
      if (String(err).includes("EADDRINUSE")) continue;
      throw err;
    }
    if (daemon.httpBaseUrl !== publicUrl) {
      await daemon.stop();
      throw new Error(`web listener bound at ${daemon.httpBaseUrl}, public_url is ${publicUrl}`);
    }
    const links = grpcClient(LinkService, daemon.tcpTarget!, { callerToken: TEST_CALLER_TOKEN });
    const tokens = grpcClient(TokenService, daemon.tcpTarget!, { callerToken: TEST_CALLER_TOKEN });
    return {
      daemon,
      publicUrl,
      dir,
      links,
      tokens,
      callbackUrl: (providerId) => `${publicUrl}/oauth/${providerId}/callback`,
      async stop() {
        links.close();
        tokens.close();
        await daemon.stop();
      },
    };
  }
  throw lastErr;
}

/** What the daemon's callback answered a browser. */
export interface CallbackAnswer {
  status: number;
  location: string | null;
  body: string;
  headers: Headers;
}

/** One browser visit of the daemon's callback URL, redirects not followed. */
export async function visit(url: string | URL): Promise<CallbackAnswer> {
  const res = await fetch(url, { redirect: "manual" });
  return { status: res.status, location: res.headers.get("location"), body: await res.text(), headers: res.headers };
}

/** Every file of the SQLite store (tb.db, tb.db-wal, tb.db-shm) that exists now, with its bytes. */
export function storeFiles(dir: string): Array<{ name: string; bytes: Buffer }> {
  return readdirSync(dir)
    .filter((n) => n.startsWith("tb.db"))
    .map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
}

/** The secrets (by label) whose UTF-8 bytes occur in any store file. */
export function secretsInStore(dir: string, secrets: Map<string, string>): string[] {
  const found: string[] = [];
  for (const f of storeFiles(dir)) {
    for (const [label, value] of secrets) if (value !== "" && f.bytes.includes(Buffer.from(value, "utf8"))) found.push(`${label} in ${f.name}`);
  }
  return found;
}

/** The secrets (by label) that occur in a text (the daemon's log output). */
export function secretsInText(text: string, secrets: Map<string, string>): string[] {
  return [...secrets].filter(([, v]) => v !== "" && text.includes(v)).map(([label]) => label);
}

/** Records the code_verifier of every authorization_code grant the fake provider receives. */
export function recordVerifiers(fake: FakeProvider): string[] {
  const verifiers: string[] = [];
  const inner = fake.grantHandlers.get("authorization_code");
  if (inner === undefined) throw new Error("enableLinkFlows first");
  fake.grantHandlers.set("authorization_code", (form) => {
    const v = form.get("code_verifier");
    if (v !== null) verifiers.push(v);
    return inner(form);
  });
  return verifiers;
}

// ---------------------------------------------------------------------------
// oidc-provider with login and consent answered in code (startOidcProvider in
// test/support/oidc-server.ts), its client registering the daemon's real
// callback: a web client's redirect_uri must match exactly, and the daemon
// listens on its own port.

export interface OidcIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  accountId: string;
  /** Every opaque token value oidc-provider saved (access and refresh tokens, codes), and the PKCE verifiers it was sent. */
  issued: { accessTokens: string[]; refreshTokens: string[]; codes: string[]; verifiers: string[] };
  /** Token-endpoint and revocation-endpoint requests, by grant type or "revocation". */
  requests: string[];
  introspect(token: string): Promise<{ active: boolean } & Record<string, unknown>>;
  userinfo(accessToken: string): Promise<number>;
  close(): Promise<void>;
}

export async function startOidcIdp(opts: { redirectUris: string[]; clientId?: string; clientSecret?: string }): Promise<OidcIdp> {
  const clientId = opts.clientId ?? "tb-link-acceptance";
  const clientSecret = opts.clientSecret ?? "oidc-client-secret-for-link-acceptance-7f3a";
  const issued: OidcIdp["issued"] = { accessTokens: [], refreshTokens: [], codes: [], verifiers: [] };
  const requests: string[] = [];
  const idp = await startOidcProvider({
    clientId,
    clientSecret,
    redirectUris: opts.redirectUris,
    kid: "link-acceptance",
    accessTokenTtlSec: 300,
    authorizationCodeTtlSec: 60,
    loginAs: () => out.accountId,
    onRequest: (req, path) => {
      if (req.method === "POST" && path === "/token/revocation") requests.push("revocation");
    },
    subscribe: (provider) => {
      provider.on("access_token.saved", (t: { jti: string }) => issued.accessTokens.push(t.jti));
      provider.on("refresh_token.saved", (t: { jti: string }) => issued.refreshTokens.push(t.jti));
      provider.on("authorization_code.saved", (t: { jti: string }) => issued.codes.push(t.jti));
      const onToken = (ctx: { oidc: { params: { grant_type?: string; code_verifier?: string } } }): void => {
        requests.push(ctx.oidc.params.grant_type ?? "?");
        if (typeof ctx.oidc.params.code_verifier === "string") issued.verifiers.push(ctx.oidc.params.code_verifier);
      };
      provider.on("grant.success", onToken);
      provider.on("grant.error", onToken);
      provider.on("grant.revoked", (_ctx: unknown, grantId: string) => requests.push(`grant revoked ${grantId}`));
    },
  });

  const out: OidcIdp = {
    issuer: idp.issuer,
    clientId,
    clientSecret,
    accountId: "oidc-user-1",
    issued,
    requests,
    introspect: idp.introspect,
    async userinfo(accessToken) {
      const res = await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      await res.arrayBuffer();
      return res.status;
    },
    close: idp.close,
  };
  return out;
}
