/**
 * ObtainAccessTokens with per-provider errors on every transport of a daemon
 * process (issue 23, item 1): gRPC (grpc-js), Connect binary, Connect JSON,
 * gRPC-Web binary and gRPC-Web JSON answer the same per-provider results —
 * codes, reasons, metadata, RetryInfo, Help — and the audit line and
 * `tokenbroker_rpc_calls_total` record what each caller got. Connect JSON
 * used to fail the whole call (HTTP 500, an Any not in the type registry)
 * while both records said OK.
 */
import * as grpc from "@grpc/grpc-js";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { createRegistry } from "@bufbuild/protobuf";
import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import type { Status } from "../../gen/google/rpc/status_pb.js";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService, type ObtainAccessTokensResponse } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import { detailsOfStatus } from "../support/error-details.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, unary } from "../support/grpc.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";

/** The client side's registry: every google.rpc detail type (what a caller in another language has). */
const clientRegistry = createRegistry(file_google_rpc_error_details);
const AUTH = { authorization: `Bearer ${TEST_CALLER_TOKEN}` };
const PROVIDERS = ["ok", "nope", "gone", "busy"];

type Via = "grpc" | "connect-binary" | "connect-json" | "grpc-web-binary" | "grpc-web-json";
const VIAS: Via[] = ["grpc", "connect-binary", "connect-json", "grpc-web-binary", "grpc-web-json"];
/** The audit line's `caller.transport` of each. */
const TRANSPORT: Record<Via, string> = {
  grpc: "grpc+unix",
  "connect-binary": "connect+tcp",
  "connect-json": "connect+tcp",
  "grpc-web-binary": "grpc-web+tcp",
  "grpc-web-json": "grpc-web+tcp",
};

interface AuditLine {
  audit: true;
  event: string;
  method: string;
  caller: { transport: string };
  user_id: string | null;
  provider_ids?: string[];
  outcome: { grpc_code: string; reason: string };
}

function auditLines(text: string, userId: string): AuditLine[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l): l is AuditLine & Record<string, unknown> => l.audit === true && l.event === "rpc" && l.user_id === userId);
}

/** One per-provider result, as a caller reads it. */
function resultView(r: ObtainAccessTokensResponse["results"][number]): Record<string, unknown> {
  if (r.outcome.case === "token") {
    const t = r.outcome.value;
    return { providerId: r.providerId, token: t.accessToken, expiresAt: t.expiresAt === undefined ? undefined : timestampMs(t.expiresAt) };
  }
  const status = r.outcome.value as Status;
  const d = detailsOfStatus(status);
  return {
    providerId: r.providerId,
    code: status.code,
    message: status.message,
    details: status.details.map((a) => a.typeUrl),
    reason: d?.reason,
    domain: d?.info.domain,
    metadata: d?.metadata,
    retryDelay: d?.retry?.retryDelay === undefined ? undefined : `${d.retry.retryDelay.seconds}s+${d.retry.retryDelay.nanos}ns`,
    help: d?.help?.links.map((l) => [l.description, l.url]),
  };
}

describe("ObtainAccessTokens with failing providers on every transport", () => {
  let dir: string;
  let ok: FakeProvider;
  let gone: FakeProvider;
  let busy: FakeProvider;
  let daemon: ServingDaemon;

  beforeAll(async () => {
    dir = tempDir();
    [ok, gone, busy] = await Promise.all([useFakeProvider(), useFakeProvider(), useFakeProvider()]);
    const provider = (id: string, f: FakeProvider): Record<string, unknown> => ({ id, type: "oauth2", client_id: f.clientId, client_secret: f.clientSecret, token_url: f.tokenUrl });
    daemon = await startServe(
      {
        listen: { grpc: [`unix://${dir}/tb.sock`], http: "tcp://127.0.0.1:0" },
        store: { sqlite: { path: `${dir}/tb.db` } },
        encryption: { keys_file: `${dir}/keys` },
        refresh: { timeout: "2s", retry_budget: "2s", initial_backoff: "50ms", max_backoff: "200ms" },
        shutdown_grace: "3s",
        callers: TEST_CALLERS,
        providers: [provider("ok", ok), provider("gone", gone), provider("busy", busy)],
      },
      dir,
    );
  });
  afterAll(async () => daemon?.stop());

  async function importLink(userId: string, providerId: string, t: { accessToken: string; refreshToken: string }, expiresAt: number): Promise<void> {
    const links = grpcClient(LinkService, daemon.unixTarget!);
    await unary(links, "importLink", { userId, providerId, accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: timestampFromMs(expiresAt) });
    links.close();
  }

  function webTransport(via: Exclude<Via, "grpc">): Transport {
    const common = { baseUrl: daemon.httpBaseUrl!, httpVersion: "1.1" as const, jsonOptions: { registry: clientRegistry } };
    switch (via) {
      case "connect-binary":
        return createConnectTransport({ ...common, useBinaryFormat: true });
      case "connect-json":
        return createConnectTransport({ ...common, useBinaryFormat: false });
      case "grpc-web-binary":
        return createGrpcWebTransport({ ...common, useBinaryFormat: true });
      case "grpc-web-json":
        return createGrpcWebTransport({ ...common, useBinaryFormat: false });
    }
  }

  async function obtain(via: Via, req: { userId: string; providerIds: string[] }): Promise<ObtainAccessTokensResponse> {
    if (via === "grpc") {
      const client = grpcClient(TokenService, daemon.unixTarget!);
      try {
        return await unary<ObtainAccessTokensResponse>(client, "obtainAccessTokens", req);
      } finally {
        client.close();
      }
    }
    return createClient(TokenService, webTransport(via)).obtainAccessTokens(req, { headers: AUTH });
  }

  async function callsTotal(method: string, code: string, reason: string): Promise<number> {
    const text = await (await fetch(`${daemon.httpBaseUrl!}/metrics`)).text();
    const line = `tokenbroker_rpc_calls_total{service="tokenbroker.v1.TokenService",method="${method}",code="${code}",reason="${reason}"} `;
    const found = text.split("\n").find((l) => l.startsWith(line));
    return found === undefined ? 0 : Number(found.slice(line.length));
  }

  it("answers the same per-provider results on gRPC, Connect and gRPC-Web, binary and JSON; audit and metrics say OK", async () => {
    await importLink("ann", "ok", ok.issue({ accessTtlSec: 600 }), Date.now() + 600_000);
    await importLink("ann", "gone", gone.issue(), Date.now() - 60_000);
    await importLink("ann", "busy", busy.issue(), Date.now() - 60_000);
    // The refresh of "gone" fails for good: the first call finds out, every later one reads the stored failure.
    gone.failNext(1, { oauthError: "invalid_grant" });
    busy.failNext(1, { status: 503, retryAfterSec: 30 });
    await obtain("grpc", { userId: "ann", providerIds: PROVIDERS });
    expect(gone.tokenRequests).toBe(1);

    const okBefore = await callsTotal("ObtainAccessTokens", "OK", "");
    const seen: Partial<Record<Via, Array<Record<string, unknown>>>> = {};
    for (const via of VIAS) {
      busy.failNext(1, { status: 503, retryAfterSec: 30 });
      const res = await obtain(via, { userId: "ann", providerIds: PROVIDERS });
      seen[via] = res.results.map(resultView);
    }
    expect(busy.tokenFaults).toEqual([]);

    const reference = seen.grpc!;
    expect(reference.map((r) => r.providerId)).toEqual(PROVIDERS);
    const [good, unknown, reauth, unavailable] = reference;
    expect(good).toMatchObject({ providerId: "ok" });
    expect(ok.isValid(good!.token as string)).toBe(true);
    expect(unknown).toMatchObject({ code: grpc.status.NOT_FOUND, reason: "PROVIDER_NOT_FOUND", domain: "tokenbroker", metadata: { user_id: "ann", provider_id: "nope" } });
    expect(reauth).toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      reason: "REAUTH_REQUIRED",
      metadata: { user_id: "ann", provider_id: "gone" },
      help: [["link again: tokenbroker link --user ann --provider gone", "README.md#errors"]],
      retryDelay: undefined,
    });
    expect(unavailable).toMatchObject({
      code: grpc.status.UNAVAILABLE,
      reason: "PROVIDER_UNAVAILABLE",
      metadata: { user_id: "ann", provider_id: "busy" },
      retryDelay: "30s+0ns",
      details: expect.arrayContaining(["type.googleapis.com/google.rpc.ErrorInfo", "type.googleapis.com/google.rpc.RetryInfo"]),
    });
    for (const via of VIAS) expect(seen[via], via).toEqual(reference);

    // One audit line per call, each saying what its caller got: OK, with the providers it asked for.
    const lines = auditLines(daemon.output(), "ann").filter((l) => l.method === "/tokenbroker.v1.TokenService/ObtainAccessTokens");
    expect(lines.map((l) => [l.caller.transport, l.outcome.grpc_code, l.outcome.reason, l.provider_ids])).toEqual(
      ["grpc", ...VIAS].map((via) => [TRANSPORT[via as Via], "OK", "", PROVIDERS]),
    );
    expect((await callsTotal("ObtainAccessTokens", "OK", "")) - okBefore).toBe(VIAS.length);
    expect(await callsTotal("ObtainAccessTokens", "INTERNAL", "INTERNAL")).toBe(0);
  });

  it("Connect JSON spells each detail out under its @type, as buf curl and curl users read it", async () => {
    const res = await fetch(`${daemon.httpBaseUrl!}/tokenbroker.v1.TokenService/ObtainAccessTokens`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-protocol-version": "1", ...AUTH },
      body: JSON.stringify({ userId: "bob", providerIds: ["nope"] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: Array<{ providerId: string; error: { code: number; message: string; details: Array<Record<string, unknown>> } }> };
    expect(body.results).toHaveLength(1);
    expect(body.results[0]!.providerId).toBe("nope");
    expect(body.results[0]!.error.code).toBe(grpc.status.NOT_FOUND);
    expect(body.results[0]!.error.details[0]).toMatchObject({
      "@type": "type.googleapis.com/google.rpc.ErrorInfo",
      reason: "PROVIDER_NOT_FOUND",
      domain: "tokenbroker",
      metadata: { user_id: "bob", provider_id: "nope" },
    });
    expect(body.results[0]!.error.details.map((d) => d["@type"])).toContain("type.googleapis.com/google.rpc.Help");
  });

  it("an answer JSON cannot encode reaches the caller as INTERNAL, and the audit line and metrics say INTERNAL", async () => {
    // A Timestamp past 9999-12-31 encodes in binary but has no JSON form.
    const farFuture = Date.UTC(12000, 0, 1);
    await importLink("far", "ok", ok.issue({ accessTtlSec: 600 }), farFuture);
    const internalBefore = await callsTotal("ObtainAccessTokens", "INTERNAL", "INTERNAL");

    const binary = await obtain("connect-binary", { userId: "far", providerIds: ["ok"] });
    expect(binary.results[0]!.outcome.case).toBe("token");
    const err = await obtain("connect-json", { userId: "far", providerIds: ["ok"] }).then(
      () => new Error("expected the call to fail"),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(grpc.status.INTERNAL);
    expect((err as ConnectError).rawMessage).toBe("internal error");

    const lines = auditLines(daemon.output(), "far").filter((l) => l.method === "/tokenbroker.v1.TokenService/ObtainAccessTokens");
    expect(lines.map((l) => [l.caller.transport, l.outcome.grpc_code, l.outcome.reason])).toEqual([
      ["connect+tcp", "OK", ""],
      ["connect+tcp", "INTERNAL", "INTERNAL"],
    ]);
    expect((await callsTotal("ObtainAccessTokens", "INTERNAL", "INTERNAL")) - internalBefore).toBe(1);
    expect(daemon.output()).toMatch(/"name":"AnswerEncodingError"/);
  });
});
