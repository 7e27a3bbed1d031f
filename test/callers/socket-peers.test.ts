/**
 * Kernel-attested socket callers (docs/design.md §6): the daemon reads each
 * Unix socket connection's peer pid/uid/gid (SO_PEERCRED, the project's
 * addon) and writes them into the call's audit line; a caller matched by
 * uid/gid gets exactly its scopes, however open the socket is otherwise.
 */
import { spawn } from "node:child_process";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { CLI, TEST_CALLERS, TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import { detailOf } from "../support/error-details.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { pollUntil } from "../support/poll.js";
import { tempDir } from "../support/temp-dir.js";

interface AuditLine {
  audit: true;
  method: string;
  user_id: string | null;
  caller: { name: string | null; transport: string; auth: string; uid?: number; gid?: number; pid?: number };
  outcome: { grpc_code: string; reason: string };
  token_fingerprints?: Record<string, string>;
}

const auditLines = (text: string): AuditLine[] =>
  text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as AuditLine)
    .filter((l) => l.audit === true);

/** Runs `tokenbroker token` in a child process; resolves with its pid and what it printed. */
function childToken(addr: string): Promise<{ pid: number; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, "token", "--user", "alice", "--provider", "gh", "--addr", addr], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ pid: child.pid!, code, stdout, stderr }));
  });
}

describe("socket callers named by the kernel", () => {
  let dir: string;
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let sock: string;

  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: 3600 });
    daemon = await startServe(
      {
        listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"], http: `unix://${dir}/web.sock` },
        store: { sqlite: { path: `${dir}/tb.db` } },
        encryption: { keys_file: `${dir}/keys` },
        shutdown_grace: "3s",
        callers: [
          ...TEST_CALLERS,
          // Not this process's group: must not match.
          { name: "other-group", match: { gid: process.getgid!() + 4242 }, scopes: ["token", "link", "admin"] },
          { name: "build-user", match: { uid: process.getuid!() }, scopes: ["token"] },
        ],
        providers: [{ id: "gh", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl }],
      },
      dir,
    );
    sock = daemon.unixTarget!;
    // Linked over TCP with the full-scope token: the socket's peer match has no link scope.
    const links = grpcClient(LinkService, daemon.tcpTarget!, { callerToken: TEST_CALLER_TOKEN });
    const seed = fake.issue({ accessTtlSec: 3600 });
    await unary(links, "importLink", { userId: "alice", providerId: "gh", accessToken: seed.accessToken, refreshToken: seed.refreshToken, expiresAt: timestampFromMs(seed.expiresAt) });
    links.close();
  });
  afterAll(async () => daemon?.stop());

  it("a socket caller's uid, gid and pid in its audit line are the calling process's", async () => {
    const child = await childToken(sock);
    expect(child.stderr).toBe("");
    expect(child.code).toBe(0);
    expect(child.pid).not.toBe(process.pid);
    // Written once the daemon finished the call, maybe after the client had its answer.
    const line = (await pollUntil("the call's audit line", () => auditLines(daemon.output()).find((l) => l.method === "/tokenbroker.v1.TokenService/ObtainAccessToken" && l.caller.pid === child.pid), (l) => l !== undefined, 5_000)).value;
    expect(line, `no audit line with pid ${child.pid}:\n${daemon.output()}`).toBeDefined();
    expect(line!.caller).toEqual({ name: "build-user", transport: "grpc+unix", auth: "peer", uid: process.getuid!(), gid: process.getgid!(), pid: child.pid });
    expect(line!.user_id).toBe("alice");
    expect(line!.token_fingerprints?.gh).toMatch(/^[0-9a-f]{12}$/);
    // The token printed is not in the daemon's output; its fingerprint is.
    const printed = child.stdout.trim();
    expect(printed.length).toBeGreaterThan(0);
    expect(daemon.output()).not.toContain(printed);
  });

  it("Connect on a web listener bound to a Unix socket: the same peer credentials and the same scopes", async () => {
    const transport = createConnectTransport({ baseUrl: "http://localhost", httpVersion: "1.1", nodeOptions: { socketPath: `${dir}/web.sock` } });
    const got = await createClient(TokenService, transport).obtainAccessToken({ userId: "alice", providerId: "gh" });
    expect(got.token?.userId).toBe("alice");
    const refused = await createClient(AdminService, transport).listProviders({}).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(detailOf(refused)?.reason).toBe("SCOPE_MISSING");
    // Written once the daemon finished the call, maybe after the client had its answer.
    const line = (await pollUntil("the call's audit line", () => auditLines(daemon.output()).find((l) => l.method === "/tokenbroker.v1.TokenService/ObtainAccessToken" && l.caller.transport === "connect+unix"), (l) => l !== undefined, 5_000)).value;
    expect(line?.caller).toEqual({ name: "build-user", transport: "connect+unix", auth: "peer", uid: process.getuid!(), gid: process.getgid!(), pid: process.pid });
  });

  it("a uid-matched caller gets exactly its scopes: token yes, link and admin no, even on a socket that serves tokenless calls", async () => {
    const tokens = grpcClient(TokenService, sock);
    const links = grpcClient(LinkService, sock);
    const admin = grpcClient(AdminService, sock);
    try {
      expect(((await unary(tokens, "obtainAccessToken", { userId: "alice", providerId: "gh" })) as { token: { userId: string } }).token.userId).toBe("alice");
      for (const refused of [await grpcFailure(unary(links, "getLink", { userId: "alice", providerId: "gh" })), await grpcFailure(unary(admin, "listProviders", {}))]) {
        expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
        expect(detailOf(refused)?.reason).toBe("SCOPE_MISSING");
        expect(refused.details).toContain("caller build-user lacks the");
      }
      // A bearer token sent on the socket still wins over the peer match.
      const full = grpcClient(LinkService, sock, { callerToken: TEST_CALLER_TOKEN });
      expect(((await unary(full, "getLink", { userId: "alice", providerId: "gh" })) as { link: { userId: string } }).link.userId).toBe("alice");
      full.close();
    } finally {
      for (const c of [tokens, links, admin]) c.close();
    }
    // A call's audit line is written once the daemon has finished the call, which may be after the
    // client has its answer: wait for the last call's line to reach the daemon's output.
    const isTokenGetLink = (l: ReturnType<typeof auditLines>[number]): boolean => l.method === "/tokenbroker.v1.LinkService/GetLink" && l.caller.auth === "token";
    await pollUntil("the token-authenticated GetLink's audit line", () => auditLines(daemon.output()), (lines) => lines.some(isTokenGetLink), 5_000);
    const own = auditLines(daemon.output()).filter((l) => l.caller.pid === process.pid);
    expect(own.find((l) => l.method === "/tokenbroker.v1.AdminService/ListProviders")).toMatchObject({ caller: { name: "build-user", auth: "peer" }, outcome: { grpc_code: "PERMISSION_DENIED", reason: "SCOPE_MISSING" } });
    expect(own.find(isTokenGetLink)).toMatchObject({ caller: { name: "test", uid: process.getuid!() } });
  });
});
