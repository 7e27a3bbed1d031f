/**
 * The error contract against a daemon process (`tokenbroker serve`), for the
 * reasons a caller can bring it to without faults: the same google.rpc
 * details on the Unix socket and TCP (grpc-js, the trailer decoded by hand)
 * and on the web listener (connect-node), and the CLI prints the Help.
 * test/rpc/error-details.test.ts covers every reason through the adapters;
 * test/faults/ provokes the fault reasons (STORE_UNAVAILABLE,
 * DEADLINE_EXCEEDED, MIN_VALIDITY_UNREACHABLE) in their own daemons.
 */
import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { HELP_URL } from "../../src/rpc/wire-error.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, daemonConfig, runCli, startServe, type ServingDaemon } from "../support/cli.js";
import { detailsOfStatus, statusOfGrpcError, type ErrorDetails } from "../support/error-details.js";
import { detailOf, grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { tempDir } from "../support/temp-dir.js";

const TOKEN_ONLY = "token-scope-only-caller-0123";

interface Seen {
  code: number;
  details: ErrorDetails | undefined;
}

describe("errors of a daemon process carry the google.rpc details on every listener", () => {
  let daemon: ServingDaemon;
  beforeAll(async () => {
    const dir = tempDir();
    daemon = await startServe(
      daemonConfig(dir, {
        listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"], http: "tcp://127.0.0.1:0" },
        callers: [...TEST_CALLERS, { name: "token-only", token_sha256: createHash("sha256").update(TOKEN_ONLY).digest("hex"), scopes: ["token"] }],
      }),
      dir,
    );
    // A link whose access token expired and that has no refresh token: REAUTH_REQUIRED.
    const links = grpcClient(LinkService, daemon.unixTarget!);
    await unary(links, "importLink", { userId: "stale", providerId: "p", accessToken: "at-expired-0123456789", expiresAt: timestampFromMs(Date.now() - 60_000) });
    links.close();
  });
  afterAll(async () => daemon?.stop());

  /** Calls `method` of `service` on every listener; returns what each caller saw. */
  async function everywhere(service: typeof TokenService | typeof LinkService, method: string, req: Record<string, unknown>, callerToken?: string): Promise<Record<string, Seen>> {
    const out: Record<string, Seen> = {};
    for (const [via, target] of [
      ["unix", daemon.unixTarget!],
      ["tcp", daemon.tcpTarget!],
    ] as const) {
      const client = grpcClient(service, target, callerToken === undefined ? {} : { callerToken });
      const err = await grpcFailure(unary(client, method, req));
      client.close();
      const status = statusOfGrpcError(err);
      expect(status?.code, via).toBe(err.code);
      out[via] = { code: err.code, details: status === undefined ? undefined : detailsOfStatus(status) };
    }
    const web = createClient(service, createConnectTransport({ baseUrl: daemon.httpBaseUrl!, httpVersion: "1.1" })) as unknown as Client<typeof TokenService> &
      Record<string, (r: unknown, o: unknown) => Promise<unknown>>;
    const headers = callerToken === undefined ? {} : { authorization: `Bearer ${callerToken}` };
    const err = await web[method]!(req, { headers }).then(() => new Error("expected the call to fail"), (e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    out.connect = { code: (err as ConnectError).code, details: detailOf(err) };
    return out;
  }

  function expectAll(seen: Record<string, Seen>, code: grpc.status, check: (d: ErrorDetails, via: string) => void): void {
    expect(Object.keys(seen)).toEqual(["unix", "tcp", "connect"]);
    for (const [via, s] of Object.entries(seen)) {
      expect(s.code, via).toBe(code);
      expect(s.details, via).toBeDefined();
      expect(s.details!.info.domain, via).toBe("tokenbroker");
      check(s.details!, via);
    }
  }

  it("INVALID_ARGUMENT: BadRequest names the field", async () => {
    const seen = await everywhere(TokenService, "obtainAccessToken", { userId: "", providerId: "p" }, TEST_CALLER_TOKEN);
    expectAll(seen, grpc.status.INVALID_ARGUMENT, (d, via) => {
      expect(d.reason, via).toBe("INVALID_ARGUMENT");
      expect(d.field, via).toBe("user_id");
      expect(d.badRequest?.fieldViolations.map((v) => v.field), via).toEqual(["user_id"]);
    });
  });

  it("PROVIDER_NOT_FOUND and LINK_NOT_FOUND: who, and Help with the link command", async () => {
    expectAll(await everywhere(TokenService, "obtainAccessToken", { userId: "ann", providerId: "nope" }, TEST_CALLER_TOKEN), grpc.status.NOT_FOUND, (d, via) => {
      expect(d.reason, via).toBe("PROVIDER_NOT_FOUND");
      expect(d.metadata, via).toMatchObject({ user_id: "ann", provider_id: "nope" });
      expect(d.help?.links[0]?.description, via).toMatch(/ListProviders/);
    });
    expectAll(await everywhere(TokenService, "obtainAccessToken", { userId: "ann", providerId: "p" }, TEST_CALLER_TOKEN), grpc.status.NOT_FOUND, (d, via) => {
      expect(d.reason, via).toBe("LINK_NOT_FOUND");
      expect(d.help?.links, via).toEqual([expect.objectContaining({ description: "link first: tokenbroker link --user ann --provider p", url: HELP_URL })]);
    });
  });

  it("REAUTH_REQUIRED: failure_reason and the re-link command; the CLI prints them", async () => {
    expectAll(await everywhere(TokenService, "obtainAccessToken", { userId: "stale", providerId: "p" }, TEST_CALLER_TOKEN), grpc.status.FAILED_PRECONDITION, (d, via) => {
      expect(d.reason, via).toBe("REAUTH_REQUIRED");
      expect(d.metadata, via).toMatchObject({ user_id: "stale", provider_id: "p", failure_reason: "no refresh token" });
      expect(d.help?.links[0]?.description, via).toBe("link again: tokenbroker link --user stale --provider p");
      expect(d.retry, via).toBeUndefined();
    });
    const cli = await runCli(["token", "--user", "stale", "--provider", "p", "--addr", daemon.unixTarget!.replace(/^unix:/, "unix://")]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain("tokenbroker: REAUTH_REQUIRED:");
    expect(cli.stderr).toContain("hint: link again: tokenbroker link --user stale --provider p");
    expect(cli.stderr + cli.stdout).not.toContain("at-expired-0123456789");
  });

  it("NOT_FOUND: an unknown device session", async () => {
    expectAll(await everywhere(LinkService, "pollDeviceLink", { sessionId: "no-such-session" }, TEST_CALLER_TOKEN), grpc.status.NOT_FOUND, (d, via) => {
      expect(d.reason, via).toBe("NOT_FOUND");
    });
  });

  it("CALLER_UNKNOWN and SCOPE_MISSING on the listeners that check them", async () => {
    const unknown = await everywhere(TokenService, "obtainAccessToken", { userId: "ann", providerId: "p" }, "not-a-configured-token");
    expectAll(unknown, grpc.status.UNAUTHENTICATED, (d, via) => expect(d.reason, via).toBe("CALLER_UNKNOWN"));
    const scope = await everywhere(LinkService, "getLink", { userId: "ann", providerId: "p" }, TOKEN_ONLY);
    expectAll(scope, grpc.status.PERMISSION_DENIED, (d, via) => {
      expect(d.reason, via).toBe("SCOPE_MISSING");
      expect(d.metadata.user_id, via).toBe("ann");
    });
  });
});
