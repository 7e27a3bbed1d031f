import * as grpc from "@grpc/grpc-js";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { statSync } from "node:fs";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionAlpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { AdminService } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";
import { detailOf, grpcClient, grpcFailure, unary } from "../support/grpc.js";

const run = promisify(execFile);

function baseConfig(dir: string): Record<string, unknown> {
  return {
    listen: { grpc: [`unix://${dir}/sock/tokenbroker.sock`, "tcp://127.0.0.1:0"], http: "tcp://127.0.0.1:0" },
    store: { sqlite: { path: `${dir}/tokenbroker.db` } },
    encryption: { keys_file: `${dir}/keys` },
    shutdown_grace: "3s",
    callers: [...TEST_CALLERS, { name: "token-only", token_sha256: createHash("sha256").update("token-scope-only").digest("hex"), scopes: ["token"] }],
  };
}

const EXPECTED_SERVICES = [
  "grpc.health.v1.Health",
  "tokenbroker.v1.TokenService",
  "tokenbroker.v1.LinkService",
  "tokenbroker.v1.AdminService",
  "tokenbroker.v1.CallerService",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

describe("both transports against one daemon process", () => {
  let dir: string;
  let daemon: ServingDaemon;
  beforeAll(async () => {
    dir = tempDir();
    daemon = await startServe(baseConfig(dir), dir);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it("creates the Unix socket 0660", () => {
    const st = statSync(`${dir}/sock/tokenbroker.sock`);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect(statSync(`${dir}/sock`).mode & 0o777).toBe(0o750);
  });

  for (const via of ["unix", "tcp"] as const) {
    it(`answers health Check over gRPC (${via})`, async () => {
      const target = via === "unix" ? daemon.unixTarget! : daemon.tcpTarget!;
      const client = grpcClient(Health, target);
      const res = await unary<{ status: Status }>(client, "check", { service: "" });
      expect(res.status).toBe(Status.SERVING);
      const svc = await unary<{ status: Status }>(client, "check", { service: "tokenbroker.v1.TokenService" });
      expect(svc.status).toBe(Status.SERVING);
      const unknown = await grpcFailure(unary(client, "check", { service: "no.such.Service" }));
      expect(unknown.code).toBe(grpc.status.NOT_FOUND);
      client.close();
    });

    it(`answers errors with the reason detail over gRPC (${via})`, async () => {
      const target = via === "unix" ? daemon.unixTarget! : daemon.tcpTarget!;
      const client = grpcClient(LinkService, target, { callerToken: TEST_CALLER_TOKEN });
      const err = await grpcFailure(unary(client, "startDeviceLink", { userId: "u", providerId: "p" }));
      expect(err.code).toBe(grpc.status.NOT_FOUND);
      expect(detailOf(err)?.reason).toBe("PROVIDER_NOT_FOUND");
      client.close();
    });
  }

  it("serves Connect and gRPC-Web on the web listener with the same reason detail", async () => {
    for (const transport of [
      createConnectTransport({ baseUrl: daemon.httpBaseUrl!, httpVersion: "1.1" }),
      createGrpcWebTransport({ baseUrl: daemon.httpBaseUrl!, httpVersion: "1.1" }),
    ]) {
      const health = createClient(Health, transport);
      expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
      const links = createClient(LinkService, transport);
      const err = await links.startDeviceLink({ userId: "u", providerId: "p" }, { headers: { authorization: `Bearer ${TEST_CALLER_TOKEN}` } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.NotFound);
      expect(detailOf(err)?.reason).toBe("PROVIDER_NOT_FOUND");
    }
  });

  it("answers plain curl with JSON", async () => {
    const { stdout } = await run("curl", [
      "-sS",
      "-X",
      "POST",
      "-H",
      "content-type: application/json",
      "-d",
      '{"service":""}',
      `${daemon.httpBaseUrl}/grpc.health.v1.Health/Check`,
    ]);
    expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
    const failed = await run("curl", [
      "-sS",
      "-X",
      "POST",
      "-H",
      "content-type: application/json",
      "-H",
      `authorization: Bearer ${TEST_CALLER_TOKEN}`,
      "-d",
      '{"userId":"u","providerId":"p"}',
      `${daemon.httpBaseUrl}/tokenbroker.v1.LinkService/StartDeviceLink`,
    ]);
    const body = JSON.parse(failed.stdout) as { code: string; details: Array<{ type: string; debug: { reason: string; domain: string } }> };
    expect(body.code).toBe("not_found");
    expect(body.details[0]?.type).toBe("google.rpc.ErrorInfo");
    expect(body.details[0]?.debug).toMatchObject({ reason: "PROVIDER_NOT_FOUND", domain: "tokenbroker" });
    const healthz = await run("curl", ["-sS", `${daemon.httpBaseUrl}/healthz`]);
    expect(healthz.stdout).toBe("ok\n");
    const metrics = await run("curl", ["-sS", `${daemon.httpBaseUrl}/metrics`]);
    expect(metrics.stdout).toMatch(/tokenbroker_rpc_calls_total\{service="tokenbroker\.v1\.LinkService",method="StartDeviceLink",code="NOT_FOUND",reason="PROVIDER_NOT_FOUND"\} \d+/);
    expect(metrics.stdout).toMatch(/tokenbroker_refresh_locks 0/);
    expect(metrics.stdout).not.toContain('user_id');
  });

  for (const [name, desc] of [
    ["v1", ServerReflection],
    ["v1alpha", ServerReflectionAlpha],
  ] as const) {
    it(`lists every service and resolves their files through reflection ${name}`, async () => {
      const client = grpcClient(desc, daemon.unixTarget!);
      const call = (client as unknown as { serverReflectionInfo: () => grpc.ClientDuplexStream<unknown, Record<string, unknown>> }).serverReflectionInfo();
      const responses: Array<{ messageResponse: { case: string; value: Record<string, unknown> } }> = [];
      const done = new Promise<void>((resolve, reject) => {
        call.on("data", (r: (typeof responses)[number]) => responses.push(r));
        call.on("end", resolve);
        call.on("error", reject);
      });
      call.write({ host: "", messageRequest: { case: "listServices", value: "*" } });
      call.write({ host: "", messageRequest: { case: "fileContainingSymbol", value: "tokenbroker.v1.TokenService" } });
      call.write({ host: "", messageRequest: { case: "fileContainingSymbol", value: "tokenbroker.v1.TokenService.ObtainAccessToken" } });
      call.write({ host: "", messageRequest: { case: "fileByFilename", value: "tokenbroker/v1/token.proto" } });
      call.write({ host: "", messageRequest: { case: "fileContainingSymbol", value: "no.such.Symbol" } });
      // No service imports the error detail types, yet clients resolving details through reflection need them.
      call.write({ host: "", messageRequest: { case: "fileContainingSymbol", value: "google.rpc.ErrorInfo" } });
      call.write({ host: "", messageRequest: { case: "fileContainingSymbol", value: "tokenbroker.v1.ErrorReason" } });
      call.end();
      await done;
      client.close();
      expect(responses).toHaveLength(7);
      const listed = (responses[0]!.messageResponse.value as { service: Array<{ name: string }> }).service.map((s) => s.name);
      expect(listed.sort()).toEqual([...EXPECTED_SERVICES].sort());
      for (const i of [1, 2, 3]) {
        expect(responses[i]!.messageResponse.case).toBe("fileDescriptorResponse");
        expect((responses[i]!.messageResponse.value as { fileDescriptorProto: Uint8Array[] }).fileDescriptorProto.length).toBeGreaterThan(1);
      }
      expect(responses[4]!.messageResponse.case).toBe("errorResponse");
      for (const i of [5, 6]) expect(responses[i]!.messageResponse.case).toBe("fileDescriptorResponse");
    });
  }

  it("authenticates callers: optional on the Unix socket, required on TCP and the web listener, scopes enforced", async () => {
    const req = { userId: "nobody", providerId: "nope" };
    // Unix socket without a token: allowed through to the handler (NOT_FOUND).
    const unixAnon = grpcClient(TokenService, daemon.unixTarget!);
    expect((await grpcFailure(unary(unixAnon, "obtainAccessToken", req))).code).toBe(grpc.status.NOT_FOUND);
    unixAnon.close();
    // ...but a wrong token is refused there too.
    const unixWrong = grpcClient(TokenService, daemon.unixTarget!, { callerToken: "wrong" });
    const wrong = await grpcFailure(unary(unixWrong, "obtainAccessToken", req));
    expect(wrong.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(detailOf(wrong)?.reason).toBe("CALLER_UNKNOWN");
    unixWrong.close();
    // TCP without a token: refused before the handler.
    const tcpAnon = grpcClient(TokenService, daemon.tcpTarget!);
    const anon = await grpcFailure(unary(tcpAnon, "obtainAccessToken", req));
    expect(anon.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(detailOf(anon)?.reason).toBe("CALLER_UNKNOWN");
    // Health stays open for probes.
    expect((await unary<{ status: Status }>(grpcClient(Health, daemon.tcpTarget!), "check", { service: "" })).status).toBe(Status.SERVING);
    tcpAnon.close();
    const tcpOk = grpcClient(TokenService, daemon.tcpTarget!, { callerToken: TEST_CALLER_TOKEN });
    expect((await grpcFailure(unary(tcpOk, "obtainAccessToken", req))).code).toBe(grpc.status.NOT_FOUND);
    tcpOk.close();
    // A caller without the admin scope.
    const tokenOnly = grpcClient(AdminService, daemon.unixTarget!, { callerToken: "token-scope-only" });
    const denied = await grpcFailure(unary(tokenOnly, "listProviders", {}));
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(detailOf(denied)?.reason).toBe("SCOPE_MISSING");
    tokenOnly.close();
    // The web listener is TCP: Connect without a token is refused the same way.
    const web = createClient(TokenService, createConnectTransport({ baseUrl: daemon.httpBaseUrl!, httpVersion: "1.1" }));
    const webErr = await web.obtainAccessToken(req).catch((e: unknown) => e);
    expect((webErr as ConnectError).code).toBe(Code.Unauthenticated);
    expect(detailOf(webErr)?.reason).toBe("CALLER_UNKNOWN");
  });

  it("propagates a client deadline: DEADLINE_EXCEEDED", async () => {
    const client = grpcClient(Health, daemon.tcpTarget!);
    const call = (client as unknown as { watch: (req: unknown, opts: grpc.CallOptions) => grpc.ClientReadableStream<{ status: Status }> }).watch(
      { service: "" },
      { deadline: Date.now() + 300 },
    );
    const seen: Status[] = [];
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      call.on("data", (r: { status: Status }) => seen.push(r.status));
      call.on("error", resolve);
      call.on("end", () => resolve(new Error("ended without error") as grpc.ServiceError));
    });
    expect(seen).toEqual([Status.SERVING]);
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    client.close();
  });
});

describe("shutdown", () => {
  it("Watch sees SERVING then NOT_SERVING; SIGTERM with an idle client still connected exits 0 within the grace period", async () => {
    const dir = tempDir();
    const daemon = await startServe(baseConfig(dir), dir);
    const watcher = grpcClient(Health, daemon.unixTarget!);
    const seen: Status[] = [];
    const call = (watcher as unknown as { watch: (req: unknown) => grpc.ClientReadableStream<{ status: Status }> }).watch({ service: "" });
    const ended = new Promise<void>((resolve) => {
      call.on("data", (r: { status: Status }) => seen.push(r.status));
      call.on("end", resolve);
      call.on("error", () => resolve());
    });
    // An idle connection on each transport: a finished call, then nothing.
    const idle = grpcClient(Health, daemon.tcpTarget!);
    await unary(idle, "check", { service: "" });
    const transport = createConnectTransport({ baseUrl: daemon.httpBaseUrl!, httpVersion: "1.1" });
    await createClient(Health, transport).check({ service: "" });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([Status.SERVING]);

    const { code, ms } = await daemon.stop("SIGTERM");
    await ended;
    expect(code).toBe(0);
    expect(ms).toBeLessThan(3000);
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
    expect(() => statSync(`${dir}/sock/tokenbroker.sock`)).toThrow();
    watcher.close();
    idle.close();
  });

  it("replaces a stale socket file but refuses one a live daemon holds", async () => {
    const dir = tempDir();
    const first = await startServe(baseConfig(dir), dir);
    // A second daemon on the same socket must not steal it.
    const { runCli } = await import("../support/cli.js");
    const { writeFileSync } = await import("node:fs");
    const { stringify } = await import("yaml");
    const cfg2 = { ...baseConfig(dir), listen: { grpc: [`unix://${dir}/sock/tokenbroker.sock`] } };
    writeFileSync(`${dir}/second.yaml`, stringify(cfg2));
    const second = await runCli(["serve", "--config", `${dir}/second.yaml`]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("another process is listening");
    // SIGKILL leaves the socket file behind; the next start replaces it.
    await first.stop("SIGKILL");
    expect(statSync(`${dir}/sock/tokenbroker.sock`).isSocket()).toBe(true);
    const third = await startServe(baseConfig(dir), dir);
    const client = grpcClient(Health, third.unixTarget!);
    expect((await unary<{ status: Status }>(client, "check", { service: "" })).status).toBe(Status.SERVING);
    client.close();
    expect((await third.stop()).code).toBe(0);
  });
});
