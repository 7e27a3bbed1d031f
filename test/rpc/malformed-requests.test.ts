import * as grpc from "@grpc/grpc-js";
import { gzipSync } from "node:zlib";
import { create, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { AdminService } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService, ObtainAccessTokenRequestSchema } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { TEST_CALLER_TOKEN, daemonConfig, startServe, type ServingDaemon } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";
import { detailOf, grpcClient, unary } from "../support/grpc.js";
import {
  INVALID_UTF8,
  MALFORMED_PROTOBUF,
  badStringRequests,
  grpcRaw,
  grpcRawBidi,
  lenField,
  singleRequestMethods,
  webRaw,
  type WebProtocol,
} from "../support/raw-requests.js";

/**
 * Request bytes that are not a valid message — malformed protobuf, invalid
 * UTF-8 in any string field, invalid UTF-8 or broken JSON on Connect — are
 * INVALID_ARGUMENT with the ErrorDetail (reason INVALID_ARGUMENT) on gRPC,
 * Connect (binary and JSON, unary and streaming) and gRPC-Web, for every
 * service; caller auth still comes first, and the daemon keeps serving.
 */

const SERVICES: DescService[] = [TokenService, LinkService, AdminService, Health];
const AUTH = { authorization: `Bearer ${TEST_CALLER_TOKEN}` };

/** Every (method, field, bytes) with invalid UTF-8 in one string field. */
const badStrings = SERVICES.flatMap((s) =>
  singleRequestMethods(s.methods).flatMap((method) =>
    INVALID_UTF8.flatMap((bad, i) => badStringRequests(method.input, bad).map((b) => ({ method, label: `${s.name}.${method.name} ${b.field} #${i}`, bytes: b.bytes }))),
  ),
);
const malformed = SERVICES.flatMap((s) =>
  singleRequestMethods(s.methods).flatMap((method) => MALFORMED_PROTOBUF.map((m) => ({ method, label: `${s.name}.${method.name}: ${m.what}`, bytes: m.bytes }))),
);
const obtain = TokenService.method.obtainAccessToken;

describe("malformed requests, through the daemon process", () => {
  let dir: string;
  let daemon: ServingDaemon;
  let raw: grpc.Client;
  let rawAnon: grpc.Client;
  const md = (): grpc.Metadata => {
    const m = new grpc.Metadata();
    m.set("authorization", AUTH.authorization);
    return m;
  };

  beforeAll(async () => {
    dir = tempDir("tb-malformed-");
    daemon = await startServe(daemonConfig(dir, { listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"], http: "tcp://127.0.0.1:0" } }), dir);
    raw = new grpc.Client(daemon.tcpTarget!, grpc.credentials.createInsecure());
    rawAnon = new grpc.Client(daemon.tcpTarget!, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    raw?.close();
    rawAnon?.close();
    await daemon?.stop();
  });

  it("the tables cover every service that takes strings", () => {
    const covered = new Set(badStrings.map((c) => `${c.method.parent.name}.${c.method.name}`));
    for (const m of ["TokenService.ObtainAccessToken", "TokenService.ObtainAccessTokens", "TokenService.MatchProvider", "LinkService.StartLink", "LinkService.ImportLink", "LinkService.ListLinks", "Health.Check", "Health.Watch"]) {
      expect(covered).toContain(m);
    }
    expect(badStrings.map((c) => c.label)).toContain("LinkService.ImportLink extra{value} #0");
  });

  /** Refused for what it is (not, say, for an id that decoded as empty). */
  const notValid = (method: DescMethod): string => `the request is not a valid ${method.input.typeName}`;

  function expectInvalid(err: grpc.ServiceError | null, method: DescMethod, label: string): void {
    expect(err?.code, label).toBe(grpc.status.INVALID_ARGUMENT);
    expect(detailOf(err)?.reason, label).toBe("INVALID_ARGUMENT");
    expect(err?.details, label).toContain(notValid(method));
  }

  it("gRPC: invalid UTF-8 in any string field → INVALID_ARGUMENT with the reason detail", async () => {
    for (const c of badStrings) expectInvalid(await grpcRaw(raw, c.method, c.bytes, md()), c.method, c.label);
  });

  it("gRPC: malformed protobuf → INVALID_ARGUMENT with the reason detail, also inside a nested message", async () => {
    for (const c of malformed) expectInvalid(await grpcRaw(raw, c.method, c.bytes, md()), c.method, c.label);
    // min_valid_for (a Duration) holding a varint cut short.
    expectInvalid(await grpcRaw(raw, obtain, lenField(3, Uint8Array.of(0x08, 0x80)), md()), obtain, "nested Duration");
  });

  it("gRPC: a malformed message in a request stream (reflection) → INVALID_ARGUMENT", async () => {
    const info = ServerReflection.method.serverReflectionInfo;
    expectInvalid(await grpcRawBidi(raw, info, [lenField(1, Uint8Array.of(0xff))]), info, "reflection host");
    expectInvalid(await grpcRawBidi(raw, info, [Uint8Array.of(0x0f)]), info, "reflection wire type 7");
  });

  it("gRPC: caller auth comes first; a malformed request from an unknown caller is UNAUTHENTICATED", async () => {
    const err = await grpcRaw(rawAnon, obtain, Uint8Array.of(0x0f));
    expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(detailOf(err)?.reason).toBe("CALLER_UNKNOWN");
  });

  for (const protocol of ["connect", "grpc-web"] as const satisfies WebProtocol[]) {
    const invalid = protocol === "connect" ? "invalid_argument" : String(Code.InvalidArgument);

    it(`${protocol} binary: invalid UTF-8 and malformed protobuf → INVALID_ARGUMENT with the reason detail`, async () => {
      for (const c of [...badStrings.filter((b) => b.method.methodKind === "unary"), ...malformed.filter((m) => m.method.methodKind === "unary")]) {
        const out = await webRaw(daemon.httpBaseUrl!, c.method, c.bytes, { protocol, headers: AUTH });
        expect(out.code, c.label).toBe(invalid);
        expect(out.detail?.reason, c.label).toBe("INVALID_ARGUMENT");
        expect(out.message, c.label).toContain(notValid(c.method));
        if (protocol === "connect") expect(out.httpStatus, c.label).toBe(400);
      }
    });

    it(`${protocol} JSON: invalid UTF-8 is refused (not replaced by U+FFFD), and so is broken JSON`, async () => {
      const bodies: Array<[string, Uint8Array]> = [
        ...INVALID_UTF8.map((bad, i): [string, Uint8Array] => [`invalid UTF-8 #${i}`, Buffer.concat([Buffer.from('{"userId":"'), bad, Buffer.from('","providerId":"p"}')])]),
        ["invalid UTF-8 in a key", Buffer.concat([Buffer.from('{"user'), Buffer.of(0xff), Buffer.from('Id":"u","providerId":"p"}')])],
        ["a lone surrogate escape", Buffer.from('{"userId":"\\ud800","providerId":"p"}')],
        ["truncated JSON", Buffer.from('{"userId":"u"')],
        ["a number for a string", Buffer.from('{"userId":5,"providerId":"p"}')],
      ];
      for (const [label, body] of bodies) {
        const out = await webRaw(daemon.httpBaseUrl!, obtain, body, { protocol, json: true, headers: AUTH });
        expect(out.code, label).toBe(invalid);
        expect(out.detail?.reason, label).toBe("INVALID_ARGUMENT");
        expect(out.message, label).toContain(notValid(obtain));
      }
    });

    it(`${protocol}: a gzip-compressed malformed message is refused the same way; a valid one is served`, async () => {
      const bad = Uint8Array.of(0x0a, 0x02, 0xc3, 0x28);
      const refused = await webRaw(daemon.httpBaseUrl!, obtain, bad, { protocol, headers: AUTH, gzip: gzipSync(bad) });
      expect(refused.code).toBe(invalid);
      expect(refused.detail?.reason).toBe("INVALID_ARGUMENT");
      expect(refused.message).toContain(notValid(obtain));
      const good = toBinary(ObtainAccessTokenRequestSchema, create(ObtainAccessTokenRequestSchema, { userId: "nobody", providerId: "p" }));
      const served = await webRaw(daemon.httpBaseUrl!, obtain, good, { protocol, headers: AUTH, gzip: gzipSync(good) });
      expect(served.detail?.reason).toBe("LINK_NOT_FOUND");
    });
  }

  it("Connect streaming (Health.Watch): a malformed request ends the stream with INVALID_ARGUMENT and the detail", async () => {
    for (const bytes of [lenField(1, Uint8Array.of(0xc3, 0x28)), Uint8Array.of(0x0f)]) {
      const out = await webRaw(daemon.httpBaseUrl!, Health.method.watch, bytes, { protocol: "connect-stream" });
      expect(out.code).toBe("invalid_argument");
      expect(out.detail?.reason).toBe("INVALID_ARGUMENT");
      expect(out.message).toContain(notValid(Health.method.watch));
    }
    const body = Buffer.concat([Buffer.from('{"service":"'), Buffer.of(0xff), Buffer.from('"}')]);
    const json = await webRaw(daemon.httpBaseUrl!, Health.method.watch, body, { protocol: "connect-stream", json: true });
    expect(json.code).toBe("invalid_argument");
  });

  it("web: caller auth comes first there too", async () => {
    const out = await webRaw(daemon.httpBaseUrl!, obtain, Uint8Array.of(0x0f), { protocol: "connect" });
    expect(out.code).toBe("unauthenticated");
    expect(out.detail?.reason).toBe("CALLER_UNKNOWN");
  });

  it("valid requests with non-ASCII strings still work on every transport, and the daemon kept serving", async () => {
    const links = grpcClient(LinkService, daemon.unixTarget!);
    await unary(links, "importLink", { userId: "jürgen-ü", providerId: "p", accessToken: "at-ü" });
    links.close();
    const tokens = grpcClient(TokenService, daemon.tcpTarget!, { callerToken: TEST_CALLER_TOKEN });
    expect((await unary<{ token: Token }>(tokens, "obtainAccessToken", { userId: "jürgen-ü", providerId: "p" })).token.accessToken).toBe("at-ü");
    tokens.close();
    const json = await fetch(`${daemon.httpBaseUrl}/tokenbroker.v1.TokenService/ObtainAccessToken`, {
      method: "POST",
      headers: { ...AUTH, "content-type": "application/json" },
      body: JSON.stringify({ userId: "jürgen-ü", providerId: "p" }),
    });
    expect(((await json.json()) as { token: { accessToken: string } }).token.accessToken).toBe("at-ü");
    for (const protocol of ["connect", "grpc-web"] as const) {
      const body = toBinary(ObtainAccessTokenRequestSchema, create(ObtainAccessTokenRequestSchema, { userId: "jürgen-ü", providerId: "p" }));
      expect((await webRaw(daemon.httpBaseUrl!, obtain, body, { protocol, headers: AUTH })).code, protocol).toBe("");
    }
  });

  it("the refusals went through the call wrapper: counted as INVALID_ARGUMENT in /metrics", async () => {
    const metrics = await (await fetch(`${daemon.httpBaseUrl}/metrics`)).text();
    expect(metrics).toMatch(/tokenbroker_rpc_calls_total\{service="tokenbroker\.v1\.TokenService",method="ObtainAccessToken",code="INVALID_ARGUMENT",reason="INVALID_ARGUMENT"\} \d+/);
  });
});

