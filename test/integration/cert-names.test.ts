/**
 * mTLS `cert_names` kind for kind (issue 23 item 10): a bare entry is a DNS
 * name or the subject CN, so an email or URI subjectAltName spelling the same
 * text is no credential; `email:`, `uri:`, `ip:` and `cn:` entries match
 * only their kind; a bare entry that looks like an email, a URI or an IP
 * address is refused at load, naming the prefix to write.
 */
import * as grpc from "@grpc/grpc-js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { ConfigError, resolveConfig } from "../../src/config/load.js";
import { certNameMatches } from "../../src/listen/cert-names.js";
import { TEST_CALLERS, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { detailOf, grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { makeCa, makeCert, type Pem } from "./tls-certs.js";

describe("cert_names entries", () => {
  it.each([
    ["ops@example.com", "write email:ops@example.com"],
    ["spiffe://example.org/agent", "write uri:spiffe://example.org/agent"],
    ["10.0.0.7", "write ip:10.0.0.7"],
    ["email:", 'the name after "email:" is empty'],
  ])("a bare %s is refused at load, naming what to write", (entry, words) => {
    const dir = tempDir();
    let err: unknown;
    try {
      resolveConfig(
        {
          listen: { grpc: [`unix://${dir}/tb.sock`] },
          store: { sqlite: { path: `${dir}/tb.db` } },
          encryption: { keys_file: `${dir}/keys` },
          callers: [{ name: "x", cert_names: [entry], scopes: ["token"] }],
          providers: [],
        },
        "c.yaml",
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join("\n")).toMatch(new RegExp(`^callers\\[0\\]\\.cert_names\\[0\\]: .*${words.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`, "m"));
  });

  it("match kind for kind: bare and dns: take a DNS SAN or the CN, the others only their own kind", () => {
    const peer = ["cn:agent", "dns:agent.ci.example", "email:ops@example.com", "uri:spiffe://example.org/agent", "ip:10.0.0.7"];
    expect(certNameMatches("agent", peer)).toBe(true);
    expect(certNameMatches("agent.ci.example", peer)).toBe(true);
    expect(certNameMatches("dns:agent.ci.example", peer)).toBe(true);
    expect(certNameMatches("cn:agent", peer)).toBe(true);
    expect(certNameMatches("cn:agent.ci.example", peer)).toBe(false);
    expect(certNameMatches("email:ops@example.com", peer)).toBe(true);
    expect(certNameMatches("uri:spiffe://example.org/agent", peer)).toBe(true);
    expect(certNameMatches("ip:10.0.0.7", peer)).toBe(true);
    // Text of another kind is not a DNS name.
    expect(certNameMatches("dns:ops@example.com", peer)).toBe(false);
    expect(certNameMatches("uri:agent.ci.example", peer)).toBe(false);
  });
});

describe("an mTLS listener with typed cert_names", () => {
  let dir: string;
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let ca: Pem;
  let grpcPort: number;
  let seed: { accessToken: string };

  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: 3600 });
    ca = makeCa(dir, "ca", "tokenbroker test CA");
    const server = makeCert(dir, "server", ca, "tokenbroker", "server");
    const tls = { cert_file: server.cert, key_file: server.key, client_ca_file: ca.cert };
    daemon = await startServe(
      {
        listen: { grpc: [`unix://${dir}/tb.sock`, { address: "tcp://127.0.0.1:0", tls }] },
        store: { sqlite: { path: `${dir}/tb.db` } },
        encryption: { keys_file: `${dir}/keys` },
        shutdown_grace: "3s",
        callers: [
          ...TEST_CALLERS,
          { name: "dns-agent", cert_names: ["build-agent.ci.example"], scopes: ["token"] },
          { name: "mail-agent", cert_names: ["email:ops@example.com"], scopes: ["token"] },
          { name: "spiffe-agent", cert_names: ["uri:spiffe://example.org/agent"], scopes: ["token"] },
        ],
        providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl }],
      },
      dir,
    );
    grpcPort = Number(daemon.tcpTarget!.split(":").at(-1));
    seed = fake.issue();
    const links = grpcClient(LinkService, daemon.unixTarget!);
    await unary(links, "importLink", { userId: "alice", providerId: "fake", ...seed, expiresAt: timestampFromMs(Date.now() + 3_600_000) });
    links.close();
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  async function callWith(cert: Pem): Promise<{ token?: string; code?: number; reason?: string | undefined }> {
    const client = grpcClient(TokenService, `127.0.0.1:${grpcPort}`, { credentials: grpc.credentials.createSsl(ca.certPem, cert.keyPem, cert.certPem) });
    try {
      const res = await unary<{ token: Token }>(client, "obtainAccessToken", { userId: "alice", providerId: "fake" });
      return { token: res.token.accessToken };
    } catch (e) {
      const err = await grpcFailure(Promise.reject(e));
      return { code: err.code, reason: detailOf(err)?.reason };
    } finally {
      client.close();
    }
  }

  const auditCaller = (): string[] =>
    daemon
      .output()
      .split("\n")
      .filter((l) => l.includes('"audit":true') && l.includes('"auth":"certificate"'))
      .map((l) => (JSON.parse(l) as { caller: { name: string } }).caller.name);

  it("a DNS SAN matches a bare entry; an email or URI SAN spelling the same text does not", async () => {
    const dns = makeCert(dir, "dns", ca, "someone", "client", { san: "DNS:build-agent.ci.example" });
    expect(await callWith(dns)).toEqual({ token: seed.accessToken });
    for (const [name, san] of [
      ["email-lookalike", "email:build-agent.ci.example"],
      ["uri-lookalike", "URI:build-agent.ci.example"],
    ] as const) {
      const cert = makeCert(dir, name, ca, "someone", "client", { san });
      expect(await callWith(cert), san).toEqual({ code: grpc.status.UNAUTHENTICATED, reason: "CALLER_UNKNOWN" });
    }
  });

  it("email: and uri: entries match their own kind only", async () => {
    expect(await callWith(makeCert(dir, "mail", ca, "someone", "client", { san: "email:ops@example.com" }))).toEqual({ token: seed.accessToken });
    expect(await callWith(makeCert(dir, "spiffe", ca, "someone", "client", { san: "URI:spiffe://example.org/agent" }))).toEqual({ token: seed.accessToken });
    // The same text as a DNS SAN or the CN is not the email caller.
    expect(await callWith(makeCert(dir, "mail-cn", ca, "ops@example.com", "client", { san: "DNS:other.example" }))).toEqual({ code: grpc.status.UNAUTHENTICATED, reason: "CALLER_UNKNOWN" });
    expect(auditCaller()).toEqual(["dns-agent", "mail-agent", "spiffe-agent"]);
  });
});
