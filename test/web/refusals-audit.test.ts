/**
 * Web requests refused before any handler leave an audit line (issue 23
 * item 10): 415 (a content type the listener does not speak), 400 (a bad
 * `connect-timeout-ms`), 429 (a body over the read limit), and headers over
 * node:http's limit — which a Connect or gRPC-Web client now reads as
 * RESOURCE_EXHAUSTED instead of a bare 431. A call that reaches a handler
 * still leaves exactly one line.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";

const METHOD = "/tokenbroker.v1.TokenService/ObtainAccessToken";

interface AuditLine {
  method: string;
  caller: { name: string | null; transport: string };
  outcome: { grpc_code: string; reason: string };
  http_status?: number;
}

describe("refusals before a handler on the web listener", () => {
  let dir: string;
  let daemon: ServingDaemon;
  let url: string;
  beforeAll(async () => {
    dir = tempDir();
    daemon = await startServe(
      {
        listen: { grpc: [`unix://${dir}/tb.sock`], http: "tcp://127.0.0.1:0" },
        store: { sqlite: { path: `${dir}/tb.db` } },
        encryption: { keys_file: `${dir}/keys` },
        shutdown_grace: "3s",
        callers: TEST_CALLERS,
        providers: [{ id: "p", type: "oauth2", client_id: "c", client_secret: "s", token_url: "http://127.0.0.1:9/token" }],
      },
      dir,
    );
    url = `${daemon.httpBaseUrl!}${METHOD}`;
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  const audit = (): AuditLine[] =>
    daemon
      .output()
      .split("\n")
      .filter((l) => l.includes('"audit":true'))
      .map((l) => JSON.parse(l) as AuditLine);
  async function newLines<T>(act: () => Promise<T>): Promise<{ result: T; lines: AuditLine[] }> {
    const before = audit().length;
    const result = await act();
    // The line is written when the answer has been sent: give the daemon's stdout a moment to arrive.
    for (let i = 0; i < 500 && audit().length === before; i++) await new Promise((r) => setTimeout(r, 20));
    // A little longer, so a second line for the same request (node:http raises clientError per chunk) is seen.
    await new Promise((r) => setTimeout(r, 300));
    return { result, lines: audit().slice(before) };
  }
  const post = (headers: Record<string, string>, body: string | Buffer) =>
    fetch(url, { method: "POST", headers: { authorization: `Bearer ${TEST_CALLER_TOKEN}`, ...headers }, body });

  it.each([
    ["a content type it does not speak", { "content-type": "text/plain" }, "{}", 415, "UNKNOWN"],
    ["a bad connect-timeout-ms", { "content-type": "application/json", "connect-timeout-ms": "abc" }, '{"userId":"u","providerId":"p"}', 400, "INVALID_ARGUMENT"],
    ["a body over the read limit", { "content-type": "application/json" }, `{"userId":"${"u".repeat(1100 * 1024)}"}`, 429, "RESOURCE_EXHAUSTED"],
  ])("%s: answered %i before any handler, one audit line", async (_what, headers, body, status, code) => {
    const { result, lines } = await newLines(() => post(headers, body));
    expect(result.status).toBe(status);
    expect(lines).toEqual([
      expect.objectContaining({ method: METHOD, caller: { name: null, transport: "connect+tcp", auth: "none" }, outcome: { grpc_code: code, reason: "REFUSED_BEFORE_HANDLER" }, http_status: status }),
    ]);
  });

  it("headers over the limit: a Connect and a gRPC-Web client read RESOURCE_EXHAUSTED; both audited", async () => {
    const big = { "x-big": "x".repeat(200 * 1024) };
    for (const [transport, make] of [
      ["connect+tcp", createConnectTransport],
      ["grpcweb+tcp", createGrpcWebTransport],
    ] as const) {
      const client = createClient(TokenService, make({ baseUrl: daemon.httpBaseUrl!, httpVersion: "1.1" }));
      const { result, lines } = await newLines(() =>
        client.obtainAccessToken({ userId: "u", providerId: "p" }, { headers: { authorization: `Bearer ${TEST_CALLER_TOKEN}`, ...big } }).then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        ),
      );
      expect(result?.code, transport).toBe(Code.ResourceExhausted);
      expect(result?.rawMessage).toContain("headers exceed 16384 bytes");
      expect(lines).toEqual([expect.objectContaining({ method: METHOD, caller: { name: null, transport, auth: "none" }, outcome: { grpc_code: "RESOURCE_EXHAUSTED", reason: "REFUSED_BEFORE_HANDLER" } })]);
    }
  });

  it("no caller token in any line the daemon wrote", () => {
    expect(daemon.output()).not.toContain(TEST_CALLER_TOKEN);
  });

  it("a call that reaches its handler leaves exactly its own line", async () => {
    const { result, lines } = await newLines(() => post({ "content-type": "application/json" }, '{"userId":"u","providerId":"p"}'));
    expect(result.status).toBe(404);
    expect(lines).toEqual([expect.objectContaining({ method: METHOD, caller: { name: "test", transport: "connect+tcp", auth: "token", peer: expect.stringMatching(/^(127\.0\.0\.1|::ffff:127\.0\.0\.1):\d+$/) }, outcome: { grpc_code: "NOT_FOUND", reason: "LINK_NOT_FOUND" } })]);
  });
});
