/**
 * Callers in other languages (README "Clients in other languages"): the Go and Python clients in
 * test/clients/, generated from proto/ with Debian's toolchains through buf.gen.go.yaml and
 * buf.gen.python.yaml, call a real daemon over its Unix socket without a caller token, over TCP
 * and TLS with one, and over mTLS with a client certificate instead,
 * and decode errors with their languages' stock google.rpc types (docs/design.md §2).
 */
import { execFile } from "node:child_process";
import { readFileSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { makeCa, makeCert, type Pem } from "../integration/tls-certs.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, daemonConfig, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, unary } from "../support/grpc.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { buildGoClient, generatePython, goToolchain, pythonToolchain } from "./toolchains.js";

const PYTHON_CLIENT = resolve(import.meta.dirname, "python/client.py");
const go = goToolchain();
const python = pythonToolchain();

/** What a client printed (one JSON line) and how it exited. */
interface ClientRun {
  exitCode: number;
  out: Record<string, unknown>;
  stderr: string;
}

/** Runs one client for `user` at `provider` (default "fake"); `tls` names the CA (and a client certificate) for a TLS listener. */
type Client = (args: { addr: string; user: string; provider?: string; callerToken?: string; tls?: { ca: string; cert?: Pem } }) => Promise<ClientRun>;

function runClient(file: string, args: string[], env: NodeJS.ProcessEnv, callerToken: string | undefined): Promise<ClientRun> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.TOKENBROKER_CALLER_TOKEN;
  if (callerToken !== undefined) childEnv.TOKENBROKER_CALLER_TOKEN = callerToken;
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { env: childEnv, timeout: 30_000 }, (err, stdout, stderr) => {
      const exitCode = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      const lines = stdout.trim().split("\n");
      if (lines.length !== 1 || lines[0] === "") return reject(new Error(`${file} printed ${JSON.stringify(stdout)} (exit ${exitCode}), stderr: ${stderr}`));
      resolvePromise({ exitCode, out: JSON.parse(lines[0]!) as Record<string, unknown>, stderr });
    });
  });
}

let dir: string;
let fake: FakeProvider;
let daemon: ServingDaemon;
let goBinary: string | undefined;
/** Where the Go client was built (its build cache is reused by the README's build). */
let goDir: string | undefined;
let ca: Pem;
let agent: Pem;
/** host:port of the TLS gRPC listener (client_ca_file: mTLS too). */
let tlsTarget: string;
let pythonPath: string | undefined;

beforeAll(async () => {
  dir = tempDir("tb-clients-");
  fake = await useFakeProvider({ expiresInSec: 3600 });
  ca = makeCa(dir, "ca", "tokenbroker clients CA");
  const server = makeCert(dir, "server", ca, "tokenbroker", "server");
  agent = makeCert(dir, "agent", ca, "build-agent", "client");
  const config = daemonConfig(dir, {
    listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0", { address: "tcp://127.0.0.1:0", tls: { cert_file: server.cert, key_file: server.key, client_ca_file: ca.cert } }] },
    callers: [...TEST_CALLERS, { name: "agent", cert_names: ["build-agent"], scopes: ["token"] }],
    // A Retry-After beyond the budget is answered at once, not waited out.
    refresh: { timeout: "2s", retry_budget: "2s", initial_backoff: "50ms", max_backoff: "200ms" },
    providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl, validate_url: fake.validateUrl }],
  });
  // The cold Go build (grpc-go from source) is the long pole: it runs while the daemon starts.
  const building = Promise.all([
    go.missing.length === 0 ? buildGoClient((goDir = tempDir("tb-go-"))) : undefined,
    python.missing.length === 0 ? generatePython(tempDir("tb-python-")) : undefined,
  ]);
  building.catch(() => {}); // awaited below, once the daemon is up (and stopped by afterAll)
  daemon = await startServe(config, dir);
  tlsTarget = daemon.grpc.filter((u) => u.startsWith("tcp://"))[1]!.slice("tcp://".length);
  [goBinary, pythonPath] = await building;
}, 180_000);

afterAll(async () => {
  await daemon?.stop();
});

/** Stores a link for `user` through LinkService; its access token lives `accessTtlSec`. */
async function importLink(user: string, accessTtlSec: number, extra: Record<string, string> = {}): Promise<{ accessToken: string; refreshToken: string; expiresAt: number }> {
  const seed = fake.issue({ accessTtlSec });
  const links = grpcClient(LinkService, daemon.unixTarget!);
  await unary(links, "importLink", {
    userId: user,
    providerId: "fake",
    accessToken: seed.accessToken,
    refreshToken: seed.refreshToken,
    tokenType: "bearer",
    expiresAt: timestampFromMs(seed.expiresAt),
    extra,
  });
  links.close();
  return { accessToken: seed.accessToken, refreshToken: seed.refreshToken!, expiresAt: seed.expiresAt };
}

// The binary and the PYTHONPATH exist once beforeAll has run, before any test calls these.
const clients: Array<[string, string[], Client]> = [
  [
    "Go",
    go.missing,
    ({ addr, user, provider = "fake", callerToken, tls }) =>
      runClient(goBinary!, ["-addr", addr, "-user", user, "-provider", provider, ...(tls ? ["-cacert", tls.ca, ...(tls.cert ? ["-cert", tls.cert.cert, "-key", tls.cert.key] : [])] : [])], {}, callerToken),
  ],
  [
    "Python",
    python.missing,
    ({ addr, user, provider = "fake", callerToken, tls }) =>
      runClient(
        python.python!,
        [PYTHON_CLIENT, "--addr", addr, "--user", user, "--provider", provider, ...(tls ? ["--cacert", tls.ca, ...(tls.cert ? ["--cert", tls.cert.cert, "--key", tls.cert.key] : [])] : [])],
        { PYTHONPATH: pythonPath! },
        callerToken,
      ),
  ],
];

for (const [language, missing, client] of clients) {
  const name = missing.length === 0 ? `the ${language} client` : `the ${language} client (skipped, toolchain absent: ${missing.join(", ")})`;
  if (missing.length > 0) console.warn(`test/clients: ${name}; README "Clients in other languages" has the apt line`);
  describe.skipIf(missing.length > 0)(name, () => {
    const id = language.toLowerCase();

    it.each([
      ["the Unix socket, without a caller token", "unix"],
      ["TCP with a caller token", "tcp"],
      ["TLS with a caller token", "tls"],
      ["mTLS: the client certificate instead of a caller token", "mtls"],
    ] as const)("obtains the stored token over %s", async (_transport, via) => {
      const user = `${id}-${via}`;
      const seed = await importLink(user, 3600, { team: "platform", region: "eu-1" });
      const target = {
        unix: { addr: daemon.unixTarget! },
        tcp: { addr: daemon.tcpTarget!, callerToken: TEST_CALLER_TOKEN },
        tls: { addr: tlsTarget, callerToken: TEST_CALLER_TOKEN, tls: { ca: ca.cert } },
        mtls: { addr: tlsTarget, tls: { ca: ca.cert, cert: agent } },
      }[via];
      const { exitCode, out, stderr } = await client({ ...target, user });
      expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: "" });
      expect(out).toMatchObject({ access_token: seed.accessToken, token_type: "bearer", user_id: user, provider_id: "fake" });
      expect(out.extra).toEqual({ team: "platform", region: "eu-1" });
      expect(Math.abs(Date.parse(out.expires_at as string) - seed.expiresAt)).toBeLessThan(1000);
    });

    it("TLS without trusting the CA fails the handshake: UNAVAILABLE, no reason, no token", async () => {
      const { exitCode, out } = await client({ addr: tlsTarget, user: `${id}-tcp`, callerToken: TEST_CALLER_TOKEN });
      expect(exitCode).toBe(1);
      expect(out).toMatchObject({ code: "UNAVAILABLE" });
      expect(out).not.toHaveProperty("access_token");
    });

    it("over TCP without the caller token: UNAUTHENTICATED, reason CALLER_UNKNOWN", async () => {
      const user = `${id}-anonymous`;
      await importLink(user, 3600);
      const { exitCode, out } = await client({ addr: daemon.tcpTarget!, user });
      expect(exitCode).toBe(1);
      expect(out).toMatchObject({ code: "UNAUTHENTICATED", reason: "CALLER_UNKNOWN", error_reason: "CALLER_UNKNOWN", domain: "tokenbroker", action: "fail" });
      expect(out).not.toHaveProperty("access_token");
    });

    it("a link whose refresh failed permanently: REAUTH_REQUIRED with the failure, a Help link, no RetryInfo", async () => {
      const user = `${id}-relink`;
      const seed = await importLink(user, 5);
      fake.failNext(1, { oauthError: "invalid_grant", description: "the grant was revoked" });
      const first = await client({ addr: daemon.tcpTarget!, callerToken: TEST_CALLER_TOKEN, user });
      // Cached: the second call is answered from the recorded failure, over the other transport.
      const again = await client({ addr: daemon.unixTarget!, user });
      for (const { exitCode, out } of [first, again]) {
        expect(exitCode).toBe(1);
        expect(out).toMatchObject({
          code: "FAILED_PRECONDITION",
          reason: "REAUTH_REQUIRED",
          error_reason: "REAUTH_REQUIRED",
          action: "link",
          domain: "tokenbroker",
          metadata: { provider_id: "fake", user_id: user, failure_reason: expect.stringContaining("invalid_grant") },
          help_url: expect.stringMatching(/\S/),
          help_description: expect.stringMatching(/\S/),
        });
        expect(Date.parse((out.metadata as Record<string, string>).failed_at!)).toBeGreaterThan(Date.now() - 60_000);
        expect(out).not.toHaveProperty("retry_delay_ms");
        expect(JSON.stringify(out)).not.toContain(seed.refreshToken);
        expect(JSON.stringify(out)).not.toContain(seed.accessToken);
      }
      expect(again.out.metadata).toEqual(first.out.metadata);
    });

    it.each([
      ["a provider rate limit", 429, "RESOURCE_EXHAUSTED", "PROVIDER_RATE_LIMITED"],
      ["a provider outage", 503, "UNAVAILABLE", "PROVIDER_UNAVAILABLE"],
    ] as const)("%s: %s, %s with the provider's Retry-After as RetryInfo", async (_case, status, code, reason) => {
      const user = `${id}-${status}`;
      const seed = await importLink(user, 5);
      fake.failNext(1, { status, retryAfterSec: 30 });
      const { exitCode, out } = await client({ addr: daemon.unixTarget!, user });
      expect(exitCode).toBe(1);
      expect(out).toMatchObject({ code, reason, error_reason: reason, action: "retry", domain: "tokenbroker", retry_delay_ms: 30_000, metadata: { provider_id: "fake", user_id: user } });
      expect(JSON.stringify(out)).not.toContain(seed.refreshToken);
      expect(JSON.stringify(out)).not.toContain(seed.accessToken);
    });

    it.each([
      ["no link", { user: `${id}-nobody` }, { code: "NOT_FOUND", reason: "LINK_NOT_FOUND", error_reason: "LINK_NOT_FOUND", action: "link", help_url: expect.stringMatching(/\S/) }],
      ["an unknown provider", { user: `${id}-nobody`, provider: "nope" }, { code: "NOT_FOUND", reason: "PROVIDER_NOT_FOUND", error_reason: "PROVIDER_NOT_FOUND", action: "fail" }],
      ["an empty user id", { user: "" }, { code: "INVALID_ARGUMENT", reason: "INVALID_ARGUMENT", error_reason: "INVALID_ARGUMENT", action: "fail", metadata: { field: "user_id" } }],
    ])("%s: the reason arrives as ErrorInfo", async (_case, args, expected) => {
      const { exitCode, out } = await client({ addr: daemon.unixTarget!, ...args });
      expect(exitCode).toBe(1);
      expect(out).toMatchObject({ ...expected, domain: "tokenbroker" });
      expect(out).not.toHaveProperty("retry_delay_ms");
    });
  });
}

// README "Clients in other languages": the Python commands as written, with Debian's interpreter
// named (a python3 first in PATH may be pyenv's, without python3-grpcio); only the address,
// the CA file, the caller token, the ids and where the generated code is are this test's.
describe.skipIf(python.missing.length > 0 || python.python !== "/usr/bin/python3")("the README's Python commands", () => {
  it("run as written with /usr/bin/python3: on the socket without a caller token, and over TLS with one", async () => {
    const readme = readFileSync(resolve(import.meta.dirname, "../../README.md"), "utf8");
    const lines = readme.split("\n").filter((l) => /PYTHONPATH=gen-python \/usr\/bin\/python3 test\/clients\/python\/client\.py/.test(l));
    expect(lines).toHaveLength(2);
    const seed = await importLink("readme-python", 3600);
    for (const line of lines) {
      const command = line
        .replace("unix:///run/tokenbroker/tokenbroker.sock", daemon.unixTarget!)
        .replace("tokenbroker.example.com:7443", tlsTarget)
        .replace("/etc/tokenbroker/tls/ca.crt", ca.cert)
        .replace("TOKENBROKER_CALLER_TOKEN=…", `TOKENBROKER_CALLER_TOKEN=${TEST_CALLER_TOKEN}`)
        .replace("PYTHONPATH=gen-python", `PYTHONPATH=${pythonPath!}`)
        .replace("--user alice --provider github", "--user readme-python --provider fake");
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.TOKENBROKER_CALLER_TOKEN;
      const out = await new Promise<{ code: number; stdout: string; stderr: string }>((res) =>
        execFile("bash", ["-c", command], { cwd: resolve(import.meta.dirname, "../.."), env, timeout: 30_000 }, (err, stdout, stderr) => res({ code: err === null ? 0 : 1, stdout, stderr })),
      );
      expect(out.stderr, line).toBe("");
      expect(out.code, line).toBe(0);
      expect(JSON.parse(out.stdout)).toMatchObject({ access_token: seed.accessToken, user_id: "readme-python" });
    }
  });
});

// README "Clients in other languages": the Go build and its two runs as written (GOPATH mode
// against Debian's Go sources), in a checkout-like directory with gen-go generated, under a
// HOME of this test's; only the address, the CA file, the caller token and the ids are this
// test's. The build cache of the client built above is reused (GOCACHE), so this build is warm.
describe.skipIf(go.missing.length > 0)("the README's Go commands", () => {
  it("build and run as written: on the socket without a caller token, and over TLS with one", async () => {
    const root = resolve(import.meta.dirname, "../..");
    const readme = readFileSync(resolve(root, "README.md"), "utf8");
    const block = /The Go one builds offline[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    expect(block).toContain("go build -o tbclient");
    const work = tempDir("tb-go-readme-");
    const home = tempDir("tb-go-home-");
    await new Promise<void>((res, rej) => execFile(resolve(root, "node_modules/.bin/buf"), ["generate", "--template", "buf.gen.go.yaml", "-o", work], { cwd: root }, (err) => (err ? rej(err) : res())));
    symlinkSync(resolve(root, "test"), join(work, "test"));
    const seed = await importLink("readme-go", 3600);
    const script = block!
      .replace("unix:///run/tokenbroker/tokenbroker.sock", daemon.unixTarget!)
      .replace("tokenbroker.example.com:7443", tlsTarget)
      .replace("/etc/tokenbroker/tls/ca.crt", ca.cert)
      .replace("TOKENBROKER_CALLER_TOKEN=…", `TOKENBROKER_CALLER_TOKEN=${TEST_CALLER_TOKEN}`)
      .replaceAll("-user alice -provider github", "-user readme-go -provider fake");
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, GOCACHE: join(goDir!, "cache"), GOPROXY: "off", GOFLAGS: "", GOENV: "off" };
    delete env.TOKENBROKER_CALLER_TOKEN;
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((res) =>
      execFile("bash", ["-euc", script], { cwd: work, env, timeout: 170_000 }, (err, stdout, stderr) => res({ code: err === null ? 0 : 1, stdout, stderr })),
    );
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({ access_token: seed.accessToken, user_id: "readme-go" });
  }, 180_000);
});
