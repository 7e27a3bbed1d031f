/**
 * Issue 23 item 2: the CLI against every listener kind it documents — the
 * Unix socket, TCP, gRPC over TLS with --cacert, mTLS with --cert/--key, the
 * web listener over HTTP and HTTPS — answers a token; and each wrong pairing
 * (no trusted CA, tcp:// to TLS, the web listener's address to gRPC, http://
 * to the gRPC port, …) is one line naming what is wrong and what to use,
 * exit 2, never "is it running?" while it runs.
 */
import { copyFileSync } from "node:fs";
import { createServer } from "node:net";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { makeCa, makeCert, type Pem } from "../integration/tls-certs.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, runCli, startServe, type CliResult, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, unary } from "../support/grpc.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("the CLI on every listener kind", () => {
  let dir: string;
  let fake: FakeProvider;
  let a: ServingDaemon; // unix, tcp, tls gRPC with client_ca_file, web over HTTP
  let b: ServingDaemon; // unix, web over HTTPS with client_ca_file
  let ca: Pem;
  let agent: Pem;
  let seed: { accessToken: string; refreshToken: string };
  let tcp: string;
  let tlsHostPort: string;
  let web: string;
  let webTls: string;
  const secrets = (): string[] => [TEST_CALLER_TOKEN, seed.accessToken, seed.refreshToken];

  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: 3600 });
    ca = makeCa(dir, "ca", "tokenbroker test CA");
    const server = makeCert(dir, "server", ca, "tokenbroker", "server");
    agent = makeCert(dir, "agent", ca, "build-agent", "client");
    const tls = { cert_file: `${dir}/live.crt`, key_file: `${dir}/live.key`, client_ca_file: ca.cert };
    copyFileSync(server.cert, tls.cert_file);
    copyFileSync(server.key, tls.key_file);
    const common = {
      store: { sqlite: { path: `${dir}/tb.db` } },
      encryption: { keys_file: `${dir}/keys` },
      shutdown_grace: "3s",
      callers: [...TEST_CALLERS, { name: "agent", cert_names: ["build-agent"], scopes: ["token", "admin", "link"] }],
      providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl }],
    };
    a = await startServe({ ...common, listen: { grpc: [`unix://${dir}/a.sock`, "tcp://127.0.0.1:0", { address: "tcp://127.0.0.1:0", tls }], http: "tcp://127.0.0.1:0" } }, dir, { configName: "a.yaml" });
    // Same store: the two daemons share the SQLite file.
    b = await startServe({ ...common, listen: { grpc: [`unix://${dir}/b.sock`], http: { address: "tcp://127.0.0.1:0", tls } } }, dir, { configName: "b.yaml" });
    const plain = a.grpc.filter((u) => u.startsWith("tcp://"));
    tcp = plain[0]!;
    tlsHostPort = plain[1]!.slice("tcp://".length);
    web = a.http!.replace(/^tcp:/, "http:");
    webTls = b.http!.replace(/^tcp:/, "https:");
    seed = fake.issue();
    const links = grpcClient(LinkService, a.unixTarget!);
    await unary(links, "importLink", { userId: "alice", providerId: "fake", ...seed, expiresAt: timestampFromMs(Date.now() + 3_600_000) });
    links.close();
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  const token = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    runCli(["token", "--user", "alice", "--provider", "fake", ...args], { env: { TOKENBROKER_ADDR: "", TOKENBROKER_CALLER_TOKEN: "", NODE_EXTRA_CA_CERTS: "", ...env } });

  const expectToken = (r: CliResult): void => {
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${seed.accessToken}\n`);
  };
  /** One line on stderr, nothing on stdout, no secret, the exit code. */
  const expectOneLine = (r: CliResult, code: number, ...parts: Array<string | RegExp>): void => {
    expect(r.stdout).toBe("");
    expect(r.stderr.split("\n").filter(Boolean), r.stderr).toHaveLength(1);
    for (const p of parts) expect(r.stderr).toMatch(p);
    for (const s of secrets()) expect(r.stderr).not.toContain(s);
    expect(r.code, r.stderr).toBe(code);
  };

  it("the Unix socket, without a caller token", async () => {
    expectToken(await token(["--addr", a.unixTarget!]));
  });

  it("TCP with a caller token", async () => {
    expectToken(await token(["--addr", tcp, "--caller-token", TEST_CALLER_TOKEN]));
  });

  it("gRPC over TLS with --cacert, with TOKENBROKER_CACERT, and with NODE_EXTRA_CA_CERTS", async () => {
    expectToken(await token(["--addr", `tls://${tlsHostPort}`, "--cacert", ca.cert, "--caller-token", TEST_CALLER_TOKEN]));
    expectToken(await token([], { TOKENBROKER_ADDR: `tls://${tlsHostPort}`, TOKENBROKER_CACERT: ca.cert, TOKENBROKER_CALLER_TOKEN: TEST_CALLER_TOKEN }));
    expectToken(await token(["--addr", `tls://${tlsHostPort}`, "--caller-token", TEST_CALLER_TOKEN], { NODE_EXTRA_CA_CERTS: ca.cert }));
  });

  it("mTLS with --cert and --key: the certificate is the credential, no caller token", async () => {
    expectToken(await token(["--addr", `tls://${tlsHostPort}`, "--cacert", ca.cert, "--cert", agent.cert, "--key", agent.key]));
    expectToken(await token([], { TOKENBROKER_ADDR: `tls://${tlsHostPort}`, TOKENBROKER_CACERT: ca.cert, TOKENBROKER_CERT: agent.cert, TOKENBROKER_KEY: agent.key }));
  });

  it("the web listener over HTTP, and over HTTPS with --cacert or NODE_EXTRA_CA_CERTS", async () => {
    expectToken(await token(["--addr", web, "--caller-token", TEST_CALLER_TOKEN]));
    expectToken(await token(["--addr", webTls, "--cacert", ca.cert, "--caller-token", TEST_CALLER_TOKEN]));
    expectToken(await token(["--addr", webTls, "--caller-token", TEST_CALLER_TOKEN], { NODE_EXTRA_CA_CERTS: ca.cert }));
    expectToken(await token(["--addr", webTls, "--cacert", ca.cert, "--cert", agent.cert, "--key", agent.key]));
  });

  it("https:// without a trusted CA: one line naming the certificate problem and both fixes, exit 2", async () => {
    expectOneLine(await token(["--addr", webTls, "--caller-token", TEST_CALLER_TOKEN]), 2, /does not trust/, /--cacert FILE/, /NODE_EXTRA_CA_CERTS/);
  });

  it("tls:// without a trusted CA: the same", async () => {
    expectOneLine(await token(["--addr", `tls://${tlsHostPort}`, "--caller-token", TEST_CALLER_TOKEN]), 2, /does not trust/, /--cacert FILE/);
  });

  it("tcp:// to the TLS gRPC listener: it speaks TLS, use tls:// with --cacert", async () => {
    const r = await token(["--addr", `tcp://${tlsHostPort}`, "--caller-token", TEST_CALLER_TOKEN]);
    expectOneLine(r, 2, `tcp://${tlsHostPort} is a TLS gRPC listener`, `--addr tls://${tlsHostPort} with --cacert FILE`);
    expect(r.stderr).not.toContain("is it running");
  });

  it("the web listener's address as status prints it (tcp://…), to a gRPC command: use http://", async () => {
    const r = await token(["--addr", a.http!, "--caller-token", TEST_CALLER_TOKEN]);
    expectOneLine(r, 2, `${a.http} is the web listener`, `--addr ${web}`);
    expect(r.stderr).not.toContain("is it running");
  });

  it("http:// to the gRPC port: use tcp://", async () => {
    const r = await token(["--addr", tcp.replace(/^tcp:/, "http:"), "--caller-token", TEST_CALLER_TOKEN]);
    expectOneLine(r, 2, "is a gRPC listener without TLS", `--addr ${tcp}`);
    expect(r.stderr).not.toMatch(/EPIPE|is it running/);
  });

  it("http:// and https:// to the TLS gRPC port, tls:// to the plain gRPC port and to the web listener: each names what is there", async () => {
    expectOneLine(await token(["--addr", `http://${tlsHostPort}`, "--caller-token", TEST_CALLER_TOKEN]), 2, "is a TLS gRPC listener", `--addr tls://${tlsHostPort}`);
    expectOneLine(await token(["--addr", `https://${tlsHostPort}`, "--cacert", ca.cert, "--caller-token", TEST_CALLER_TOKEN]), 2, "is a TLS gRPC listener", `--addr tls://${tlsHostPort}`);
    expectOneLine(await token(["--addr", tcp.replace(/^tcp:/, "tls:"), "--cacert", ca.cert, "--caller-token", TEST_CALLER_TOKEN]), 2, "is a gRPC listener without TLS", `--addr ${tcp}`);
    expectOneLine(await token(["--addr", web.replace(/^http:/, "tls:"), "--cacert", ca.cert, "--caller-token", TEST_CALLER_TOKEN]), 2, "is the web listener", `--addr ${web}`);
    expectOneLine(await token(["--addr", b.http!, "--caller-token", TEST_CALLER_TOKEN]), 2, "is the web listener over TLS", `--addr ${webTls}`);
    expectOneLine(await token(["--addr", web.replace(/^http:/, "https:"), "--cacert", ca.cert, "--caller-token", TEST_CALLER_TOKEN]), 2, "is the web listener without TLS", `--addr ${web}`);
    expectOneLine(await token(["--addr", tcp.replace(/^tcp:/, "https:"), "--cacert", ca.cert, "--caller-token", TEST_CALLER_TOKEN]), 2, "is a gRPC listener without TLS", `--addr ${tcp}`);
  });

  it("--json: the same as one JSON object", async () => {
    const r = await runCli(["token", "--user", "alice", "--provider", "fake", "--json", "--addr", `tcp://${tlsHostPort}`, "--caller-token", TEST_CALLER_TOKEN]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr)).toMatchObject({ reason: "ADDRESS_MISMATCH", message: expect.stringContaining(`tls://${tlsHostPort}`) });
    const untrusted = await runCli(["token", "--user", "alice", "--provider", "fake", "--json", "--addr", webTls, "--caller-token", TEST_CALLER_TOKEN], { env: { NODE_EXTRA_CA_CERTS: "" } });
    expect(untrusted.code).toBe(2);
    expect(JSON.parse(untrusted.stderr)).toMatchObject({ reason: "TLS_UNTRUSTED" });
  });

  it("nothing listening: is it running?, exit 4", async () => {
    const port = await closedPort();
    for (const scheme of ["tcp", "tls", "http", "https"]) {
      expectOneLine(await token(["--addr", `${scheme}://127.0.0.1:${port}`, "--caller-token", TEST_CALLER_TOKEN]), 4, `cannot reach the daemon at ${scheme}://127.0.0.1:${port}`, "is it running?");
    }
  });

  it("TLS options with an address that is not TLS, or a certificate without its key, or an unreadable file: usage, exit 2", async () => {
    const usage = async (args: string[], message: string | RegExp): Promise<void> => {
      const r = await token([...args, "--caller-token", TEST_CALLER_TOKEN]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
    };
    await usage(["--addr", tcp, "--cacert", ca.cert], `--cacert: TLS options need a TLS address, not ${tcp} (${tcp.replace(/^tcp:/, "tls:")})`);
    await usage(["--addr", `tls://${tlsHostPort}`, "--cert", agent.cert], "--cert needs --key FILE");
    await usage(["--addr", `tls://${tlsHostPort}`, "--cacert", `${dir}/missing.pem`], /--cacert ".*missing.pem": cannot read it \(ENOENT\)/);
  });

  it("status over TLS says which listener speaks what", async () => {
    const r = await runCli(["status", "--json", "--addr", `tls://${tlsHostPort}`, "--cacert", ca.cert, "--cert", agent.cert, "--key", agent.key]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { listener_details: unknown[] };
    expect(s.listener_details).toEqual([
      { address: a.unixTarget, protocol: "grpc", tls: false, mtls: false, cli_address: a.unixTarget },
      { address: tcp, protocol: "grpc", tls: false, mtls: false, cli_address: tcp },
      { address: `tcp://${tlsHostPort}`, protocol: "grpc", tls: true, mtls: true, cli_address: `tls://${tlsHostPort}` },
      { address: a.http, protocol: "connect", tls: false, mtls: false, cli_address: web },
    ]);
    // The serve log says the same.
    const serving = JSON.parse(b.output().split("\n").find((l) => l.includes('"msg":"serving"'))!) as { listeners: string[] };
    expect(serving.listeners).toEqual([`${b.unixTarget} (gRPC, no TLS)`, `${b.http} (Connect, gRPC-Web, TLS, mTLS; --addr ${webTls})`]);
  });
});
