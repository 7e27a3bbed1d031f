import { spawn, spawnSync } from "node:child_process";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { TEST_CALLERS, runCli, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";

// CI installs promtool (Debian package prometheus, .ci/run); elsewhere the check is skipped, saying why.
const promtool = spawnSync("promtool", ["--version"]).status === 0;
if (!promtool) console.warn("test/web/metrics-promtool: promtool not found (apt-get install prometheus); skipping the promtool check");

const USER = "metrics-user-7f3a";

function check(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("close", (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

describe("/metrics of a live daemon after traffic", () => {
  let dir: string;
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let text: string;
  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: 3600 });
    daemon = await startServe(
      {
        listen: { grpc: [`unix://${dir}/tb.sock`], http: "tcp://127.0.0.1:0" },
        store: { sqlite: { path: `${dir}/tb.db` } },
        encryption: { keys_file: `${dir}/keys` },
        refresh: { timeout: "2s", retry_budget: "2s", initial_backoff: "50ms", max_backoff: "200ms" },
        shutdown_grace: "3s",
        callers: TEST_CALLERS,
        providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl, validate_url: fake.validateUrl }],
      },
      dir,
    );
    const links = grpcClient(LinkService, daemon.unixTarget!);
    const tokens = grpcClient(TokenService, daemon.unixTarget!);
    const seed = fake.issue({ accessTtlSec: 5 });
    await unary(links, "importLink", { userId: USER, providerId: "fake", accessToken: seed.accessToken, refreshToken: seed.refreshToken, expiresAt: timestampFromMs(seed.expiresAt) });
    // The validate answer after the refresh reports the provider's rate-limit budget.
    fake.failValidateNext(1, { status: 200, headers: { "x-ratelimit-remaining": "4321" }, body: '{"login":"fake-user"}' });
    await unary(tokens, "obtainAccessToken", { userId: USER, providerId: "fake" });
    await unary(tokens, "obtainAccessToken", { userId: USER, providerId: "fake" });
    await grpcFailure(unary(tokens, "obtainAccessToken", { userId: "nobody", providerId: "fake" }));
    // FAILED_PRECONDITION: more validity than the provider's tokens ever have (an hour).
    await grpcFailure(unary(tokens, "obtainAccessToken", { userId: USER, providerId: "fake", minValidFor: { seconds: 7200n, nanos: 0 } }));
    links.close();
    tokens.close();
    const res = await fetch(`${daemon.httpBaseUrl!}/metrics`);
    expect(res.status).toBe(200);
    text = await res.text();
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it.skipIf(!promtool)(`passes promtool check metrics${promtool ? "" : " (skipped: promtool absent, Debian package prometheus)"}`, async () => {
    const result = await check(text);
    expect(result.output).toBe("");
    expect(result.code).toBe(0);
  });

  it("has the refresh, provider, lock, lifetime, rate-limit and audit series", () => {
    expect(text).toMatch(/^tokenbroker_refreshes_total\{provider="fake",outcome="OK"\} 1$/m);
    expect(text).toMatch(/^tokenbroker_token_endpoint_duration_seconds_count\{provider="fake"\} 1$/m);
    expect(text).toMatch(/^tokenbroker_refresh_lock_wait_seconds_count 1$/m);
    // Two tokens handed out, each with about an hour left.
    expect(text).toMatch(/^tokenbroker_served_token_remaining_seconds_count\{provider="fake"\} 2$/m);
    expect(text).toMatch(/^tokenbroker_served_token_remaining_seconds_bucket\{le="1800",provider="fake"\} 0$/m);
    expect(text).toMatch(/^tokenbroker_served_token_remaining_seconds_bucket\{le="3600",provider="fake"\} 2$/m);
    expect(text).toMatch(/^tokenbroker_provider_rate_limit_remaining\{provider="fake"\} 4321$/m);
    expect(text).toMatch(/^tokenbroker_audit_sink_errors_total 0$/m);
    expect(text).not.toMatch(/^tokenbroker_nodejs_active_handles_total/m);
    expect(text).toMatch(/^tokenbroker_nodejs_active_handles\{/m);
  });

  it("spells a failed call's code one way in metrics, the audit log and the CLI (gRPC's names: FAILED_PRECONDITION)", async () => {
    const audit = daemon
      .output()
      .split("\n")
      .filter((l) => l.includes('"audit":true') && l.includes("ObtainAccessToken"))
      .map((l) => JSON.parse(l) as { user_id: string; outcome: { grpc_code: string; reason: string } });
    const failed = audit.filter((a) => a.outcome.grpc_code !== "OK");
    expect(failed.map((a) => [a.outcome.grpc_code, a.outcome.reason])).toEqual([
      ["NOT_FOUND", "LINK_NOT_FOUND"],
      ["FAILED_PRECONDITION", "MIN_VALIDITY_UNREACHABLE"],
    ]);
    for (const a of failed) {
      expect(text).toContain(`tokenbroker_rpc_calls_total{service="tokenbroker.v1.TokenService",method="ObtainAccessToken",code="${a.outcome.grpc_code}",reason="${a.outcome.reason}"} 1`);
    }
    expect(text).not.toMatch(/code="[A-Z][a-z]/);
    const cli = await runCli(["token", "--user", USER, "--provider", "fake", "--min-valid", "2h", "--json", "--addr", daemon.unixTarget!]);
    expect(cli.code).toBe(1);
    expect(JSON.parse(cli.stderr)).toMatchObject({ code: "FAILED_PRECONDITION", reason: "MIN_VALIDITY_UNREACHABLE" });
  });

  it("carries no user id and no token in any label or value", () => {
    expect(text).not.toContain(USER);
    expect(text).not.toContain("nobody");
    for (const t of fake.issuedTokens()) expect(text).not.toContain(t);
  });
});
