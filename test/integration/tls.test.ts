import * as grpc from "@grpc/grpc-js";
import { copyFileSync } from "node:fs";
import { connect as tlsConnect, type PeerCertificate } from "node:tls";
import { X509Certificate } from "node:crypto";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, runCli, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { detailOf, grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { makeCa, makeCert, type Pem } from "./tls-certs.js";

const bearer = (token: string): Interceptor => (next) => (req) => {
  req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};

/** The certificate a new TLS connection to `port` is shown. */
function presented(port: number, ca: Buffer): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", servername: "localhost", port, ca, ALPNProtocols: ["h2", "http/1.1"] }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.once("error", reject);
  });
}

const serialOf = (pem: Buffer): string => new X509Certificate(pem).serialNumber;

describe("TLS and mTLS on the TCP gRPC listener and the web listener", () => {
  let dir: string;
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let ca: Pem;
  let server: Pem;
  let agent: Pem;
  let stranger: Pem;
  let grpcPort: number;
  let webUrl: string;
  let seed: { accessToken: string };

  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: 3600 });
    ca = makeCa(dir, "ca", "tokenbroker test CA");
    server = makeCert(dir, "server", ca, "tokenbroker", "server");
    agent = makeCert(dir, "agent", ca, "build-agent", "client");
    const otherCa = makeCa(dir, "other-ca", "someone else's CA");
    stranger = makeCert(dir, "stranger", otherCa, "build-agent", "client");
    const tls = { cert_file: `${dir}/live.crt`, key_file: `${dir}/live.key`, client_ca_file: ca.cert };
    copyFileSync(server.cert, tls.cert_file);
    copyFileSync(server.key, tls.key_file);
    daemon = await startServe(
      {
        listen: { grpc: [`unix://${dir}/tb.sock`, { address: "tcp://127.0.0.1:0", tls }], http: { address: "tcp://127.0.0.1:0", tls } },
        store: { sqlite: { path: `${dir}/tb.db` } },
        encryption: { keys_file: `${dir}/keys` },
        shutdown_grace: "3s",
        callers: [...TEST_CALLERS, { name: "agent", cert_names: ["build-agent"], scopes: ["token"] }],
        providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl }],
      },
      dir,
    );
    grpcPort = Number(daemon.tcpTarget!.split(":").at(-1));
    webUrl = daemon.http!.replace(/^tcp:\/\//, "https://");
    seed = fake.issue();
    const links = grpcClient(LinkService, daemon.unixTarget!);
    await unary(links, "importLink", { userId: "alice", providerId: "fake", ...seed, expiresAt: timestampFromMs(Date.now() + 3_600_000) });
    links.close();
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  const tlsClient = (opts: { ca?: Buffer; cert?: Pem; token?: string } = {}) =>
    grpcClient(TokenService, `127.0.0.1:${grpcPort}`, {
      credentials: grpc.credentials.createSsl(opts.ca ?? null, opts.cert?.keyPem ?? null, opts.cert?.certPem ?? null),
      ...(opts.token !== undefined ? { callerToken: opts.token } : {}),
    });
  const connectClient = (opts: { ca?: Buffer; cert?: Pem; token?: string } = {}) =>
    createClient(
      TokenService,
      createConnectTransport({
        baseUrl: webUrl,
        httpVersion: "1.1",
        nodeOptions: { ...(opts.ca !== undefined ? { ca: opts.ca } : {}), ...(opts.cert !== undefined ? { cert: opts.cert.certPem, key: opts.cert.keyPem } : {}) },
        interceptors: opts.token !== undefined ? [bearer(opts.token)] : [],
      }),
    );

  it("a grpc-js TLS client and a Connect TLS client obtain a token with a bearer token", async () => {
    const client = tlsClient({ ca: ca.certPem, token: TEST_CALLER_TOKEN });
    const res = await unary<{ token: Token }>(client, "obtainAccessToken", { userId: "alice", providerId: "fake" });
    client.close();
    expect(res.token.accessToken).toBe(seed.accessToken);
    const viaConnect = await connectClient({ ca: ca.certPem, token: TEST_CALLER_TOKEN }).obtainAccessToken({ userId: "alice", providerId: "fake" });
    expect(viaConnect.token?.accessToken).toBe(seed.accessToken);
  });

  it("the CLI reaches the TLS web listener with --addr https://…, trusting the CA through NODE_EXTRA_CA_CERTS", async () => {
    const res = await runCli(["token", "--user", "alice", "--provider", "fake", "--addr", webUrl, "--caller-token", TEST_CALLER_TOKEN], { env: { NODE_EXTRA_CA_CERTS: ca.cert } });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(seed.accessToken);
  });

  it("a client that does not trust the CA cannot connect", async () => {
    const client = tlsClient({ token: TEST_CALLER_TOKEN });
    const err = await grpcFailure(unary(client, "obtainAccessToken", { userId: "alice", providerId: "fake" }, { deadlineMs: 3000 }));
    client.close();
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    const viaConnect = await connectClient({ token: TEST_CALLER_TOKEN })
      .obtainAccessToken({ userId: "alice", providerId: "fake" })
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    // connect-node reports a failed handshake as INTERNAL, with OpenSSL's reason.
    expect(viaConnect).toBeInstanceOf(ConnectError);
    expect(viaConnect?.message).toMatch(/self-signed certificate|unable to verify|unable to get local issuer/);
  });

  it("mTLS: a client certificate maps to its caller and that caller's scopes", async () => {
    const client = tlsClient({ ca: ca.certPem, cert: agent });
    const res = await unary<{ token: Token }>(client, "obtainAccessToken", { userId: "alice", providerId: "fake" });
    client.close();
    expect(res.token.accessToken).toBe(seed.accessToken);
    const viaConnect = await connectClient({ ca: ca.certPem, cert: agent }).obtainAccessToken({ userId: "alice", providerId: "fake" });
    expect(viaConnect.token?.accessToken).toBe(seed.accessToken);

    // "agent" has the token scope only.
    const links = grpcClient(LinkService, `127.0.0.1:${grpcPort}`, { credentials: grpc.credentials.createSsl(ca.certPem, agent.keyPem, agent.certPem) });
    const denied = await grpcFailure(unary(links, "getLink", { userId: "alice", providerId: "fake" }));
    links.close();
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(detailOf(denied)?.reason).toBe("SCOPE_MISSING");
    expect(denied.details).toContain("caller agent");

    const audit = daemon.output().split("\n").filter((l) => l.includes('"audit":true') && l.includes('"name":"agent"'));
    expect(audit.some((l) => l.includes('"transport":"grpc+tls"') && l.includes('"auth":"certificate"'))).toBe(true);
    expect(audit.some((l) => l.includes('"transport":"connect+tls"'))).toBe(true);
    // The audit line names the certificate and the TCP peer (issue 21).
    for (const l of audit) expect(JSON.parse(l)).toMatchObject({ caller: { cert: "build-agent", peer: expect.stringMatching(/^(127\.0\.0\.1|::ffff:127\.0\.0\.1):\d+$/) } });
  });

  it("mTLS: a certificate of the same name from another CA is no credential", async () => {
    const client = tlsClient({ ca: ca.certPem, cert: stranger });
    const err = await grpcFailure(unary(client, "obtainAccessToken", { userId: "alice", providerId: "fake" }));
    client.close();
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(detailOf(err)?.reason).toBe("CALLER_UNKNOWN");
    const viaConnect = await connectClient({ ca: ca.certPem, cert: stranger })
      .obtainAccessToken({ userId: "alice", providerId: "fake" })
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(viaConnect?.code).toBe(Code.Unauthenticated);
  });

  it("after the certificate files are replaced and SIGHUP, new connections see the new certificate; an open one keeps working", async () => {
    const open = tlsClient({ ca: ca.certPem, token: TEST_CALLER_TOKEN });
    await unary(open, "obtainAccessToken", { userId: "alice", providerId: "fake" });
    expect((await presented(grpcPort, ca.certPem)).serialNumber).toBe(serialOf(server.certPem));
    const webPort = Number(new URL(webUrl).port);
    expect((await presented(webPort, ca.certPem)).serialNumber).toBe(serialOf(server.certPem));

    const renewed = makeCert(dir, "renewed", ca, "tokenbroker", "server");
    copyFileSync(renewed.cert, `${dir}/live.crt`);
    copyFileSync(renewed.key, `${dir}/live.key`);
    daemon.child.kill("SIGHUP");
    await waitFor(() => daemon.output().includes("TLS certificates reloaded"));

    expect((await presented(grpcPort, ca.certPem)).serialNumber).toBe(serialOf(renewed.certPem));
    expect((await presented(webPort, ca.certPem)).serialNumber).toBe(serialOf(renewed.certPem));
    const again = await unary<{ token: Token }>(open, "obtainAccessToken", { userId: "alice", providerId: "fake" });
    expect(again.token.accessToken).toBe(seed.accessToken);
    expect(open.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
    open.close();
    const fresh = tlsClient({ ca: ca.certPem, token: TEST_CALLER_TOKEN });
    await unary(fresh, "obtainAccessToken", { userId: "alice", providerId: "fake" });
    fresh.close();
  });

  it("a reload whose files do not go together keeps the certificate in use", async () => {
    const before = (await presented(grpcPort, ca.certPem)).serialNumber;
    copyFileSync(agent.key, `${dir}/live.key`); // another certificate's key
    daemon.child.kill("SIGHUP");
    await waitFor(() => daemon.output().includes("TLS reload failed"));
    expect((await presented(grpcPort, ca.certPem)).serialNumber).toBe(before);
    expect(daemon.output()).not.toContain(agent.keyPem.toString().split("\n")[1]!);
  });
});

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
