import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { TEST_CALLERS, startServe, type ServingDaemon } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";
import { clientCredentials, readBody, startFakeProvider, type FakeProvider } from "../support/fake-provider.js";
import { grpcClient, unary } from "../support/grpc.js";

/**
 * Issue 13: a GitHub whose REST API lives on another host than its OAuth
 * endpoints (GHE.com: SUBDOMAIN.ghe.com and api.SUBDOMAIN.ghe.com) validates
 * a refreshed token and revokes the grant at that API host, through the
 * daemon process. Loopback cannot resolve *.ghe.com, so the tenant is the
 * fake provider and its API host a second loopback server, given as
 * api_base_url; the rule that derives api.SUBDOMAIN.ghe.com from a ghe.com
 * auth_url is pinned without I/O in test/config/provider-catalog.test.ts.
 * Before the fix the daemon validated and revoked at {tenant}/api/v3.
 */

interface ApiRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  githubApiVersion: string | undefined;
  body: string;
}

/** The tenant's API host: knows the fake provider's tokens, deletes grants as GitHub does. */
class ApiHost {
  readonly requests: ApiRequest[] = [];
  url = "";
  private server: Server | undefined;

  constructor(private readonly fake: FakeProvider) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.answer(req).then(({ status, body }) => {
        const text = body === undefined ? "" : JSON.stringify(body);
        res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async answer(req: IncomingMessage): Promise<{ status: number; body?: unknown }> {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const body = await readBody(req);
    const header = (name: string): string | undefined => {
      const v = req.headers[name];
      return typeof v === "string" ? v : undefined;
    };
    this.requests.push({ method: req.method ?? "", path, authorization: header("authorization"), githubApiVersion: header("x-github-api-version"), body });
    if (req.method === "GET" && path === "/user") {
      const token = /^Bearer (\S+)$/i.exec(header("authorization") ?? "")?.[1];
      return token !== undefined && this.fake.isValid(token) ? { status: 200, body: { login: "octocat", id: 1 } } : { status: 401, body: { message: "Bad credentials" } };
    }
    if (req.method === "DELETE" && path === `/applications/${encodeURIComponent(this.fake.clientId)}/grant`) {
      const client = clientCredentials(new URLSearchParams(), header("authorization"));
      if (client.method !== "basic" || client.id !== this.fake.clientId || client.secret !== this.fake.clientSecret) return { status: 404, body: { message: "Not Found" } };
      const token = (JSON.parse(body || "{}") as { access_token?: string }).access_token;
      if (token === undefined || !this.fake.isValid(token)) return { status: 422, body: { message: "Validation Failed" } };
      this.fake.revoke(token);
      return { status: 204 };
    }
    return { status: 404, body: { message: "Not Found" } };
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe("GitHub with its API on its own host (GHE.com style), through the daemon process", () => {
  let dir: string;
  let fake: FakeProvider;
  let api: ApiHost;
  let daemon: ServingDaemon;
  /** Paths the tenant host was asked for besides its token endpoint. */
  const tenantOther: string[] = [];

  beforeAll(async () => {
    dir = tempDir("tb-github-api-");
    fake = await startFakeProvider({ mode: "github", expiresInSec: 120 });
    fake.extraRoutes.push((req, _res, path) => {
      tenantOther.push(`${req.method} ${path}`);
      return false;
    });
    api = new ApiHost(fake);
    await api.start();
    daemon = await startServe(
      {
        listen: { grpc: [`unix://${dir}/tb.sock`] },
        store: { sqlite: { path: `${dir}/tb.db` } },
        encryption: { keys_file: `${dir}/keys` },
        refresh: { timeout: "2s", retry_budget: "3s", initial_backoff: "50ms", max_backoff: "200ms" },
        shutdown_grace: "3s",
        callers: TEST_CALLERS,
        providers: [
          {
            id: "ghe",
            type: "github",
            client_id: fake.clientId,
            client_secret: fake.clientSecret,
            auth_url: `${fake.url}/login/oauth/authorize`,
            token_url: fake.tokenUrl,
            api_base_url: api.url,
          },
        ],
      },
      dir,
    );
  });
  afterAll(async () => {
    await daemon?.stop();
    await api?.close();
    await fake?.close();
  });

  it("a refreshed token is validated at the API host; Unlink deletes the grant there; the tenant host sees neither", async () => {
    const links = grpcClient(LinkService, daemon.unixTarget!);
    const tokens = grpcClient(TokenService, daemon.unixTarget!);
    try {
      const seed = fake.issue({ accessTtlSec: 5 });
      await unary<{ link: Link }>(links, "importLink", {
        userId: "mona",
        providerId: "ghe",
        accessToken: seed.accessToken,
        refreshToken: seed.refreshToken,
        expiresAt: timestampFromMs(seed.expiresAt),
      });

      // 5 s left is below the default min_valid_for (60 s): a refresh, then its validation.
      const { token } = await unary<{ token: Token }>(tokens, "obtainAccessToken", { userId: "mona", providerId: "ghe" });
      expect(fake.refreshes).toBe(1);
      expect(token.accessToken).not.toBe(seed.accessToken);
      expect(api.requests.map((r) => [r.method, r.path, r.authorization])).toEqual([["GET", "/user", `Bearer ${token.accessToken}`]]);

      const res = await unary<{ tokenRevoked: boolean; revocationError: string }>(links, "unlink", { userId: "mona", providerId: "ghe" });
      expect(res).toMatchObject({ tokenRevoked: true, revocationError: "" });
      const deletion = api.requests[1]!;
      expect(deletion).toMatchObject({ method: "DELETE", path: `/applications/${fake.clientId}/grant`, githubApiVersion: "2022-11-28" });
      expect(deletion.authorization).toBe(`Basic ${Buffer.from(`${fake.clientId}:${fake.clientSecret}`).toString("base64")}`);
      expect(JSON.parse(deletion.body)).toEqual({ access_token: token.accessToken });
      expect(fake.isValid(token.accessToken)).toBe(false);

      expect(api.requests).toHaveLength(2);
      // The tenant host got the token request and nothing else: no /user, no /api/v3/... (its 404s would read as "unknown").
      expect(fake.validateRequests).toBe(0);
      expect(tenantOther).toEqual([]);
      expect(fake.tokenRequests).toBe(1);
    } finally {
      links.close();
      tokens.close();
    }
  });
});
