import * as grpc from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";

const TOKEN_ONLY = "token-scope-only-caller-secret";

interface AuditLine {
  audit: true;
  time: string;
  event: string;
  caller: { name: string | null; transport: string; auth: string };
  method: string;
  user_id: string | null;
  provider_id?: string | null;
  outcome: { grpc_code: string; reason: string };
  provider_contacted: boolean;
  duration_ms: number;
  [fact: string]: unknown;
}

function config(dir: string, fake: FakeProvider, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"] },
    store: { sqlite: { path: `${dir}/tb.db` } },
    encryption: { keys_file: `${dir}/keys` },
    refresh: { timeout: "2s", retry_budget: "2s", initial_backoff: "50ms", max_backoff: "200ms" },
    shutdown_grace: "3s",
    callers: [...TEST_CALLERS, { name: "token-only", token_sha256: createHash("sha256").update(TOKEN_ONLY).digest("hex"), scopes: ["token"] }],
    providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl, validate_url: fake.validateUrl }],
    ...extra,
  };
}

function auditLines(text: string): AuditLine[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l): l is AuditLine => l.audit === true);
}

describe("the audit trail of a scripted run", () => {
  let dir: string;
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let lines: AuditLine[];
  let output: string;
  const seeds: Array<{ accessToken: string; refreshToken: string }> = [];

  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: 3600 });
    daemon = await startServe(config(dir, fake), dir);
    const target = daemon.tcpTarget!;
    const links = grpcClient(LinkService, target, { callerToken: TEST_CALLER_TOKEN });
    const tokens = grpcClient(TokenService, target, { callerToken: TEST_CALLER_TOKEN });
    const admin = grpcClient(AdminService, target, { callerToken: TEST_CALLER_TOKEN });
    const tokenOnly = grpcClient(LinkService, target, { callerToken: TOKEN_ONLY });
    const anonymous = grpcClient(TokenService, target);
    for (const user of ["alice", "bob"]) {
      // Expiring within min_valid_for: the first obtain refreshes.
      const seed = fake.issue({ accessTtlSec: 5 });
      seeds.push(seed);
      await unary(links, "importLink", { userId: user, providerId: "fake", accessToken: seed.accessToken, refreshToken: seed.refreshToken, expiresAt: timestampFromMs(seed.expiresAt) });
    }
    await unary(tokens, "obtainAccessToken", { userId: "alice", providerId: "fake" }); // refreshes
    await unary(tokens, "obtainAccessToken", { userId: "alice", providerId: "fake" }); // cached
    fake.revoke(seeds[1]!.refreshToken);
    const refused = await grpcFailure(unary(tokens, "obtainAccessToken", { userId: "bob", providerId: "fake" }));
    expect(refused.code).toBe(grpc.status.FAILED_PRECONDITION);
    await unary(links, "unlink", { userId: "alice", providerId: "fake" });
    await unary(admin, "reencryptLinks", { batchSize: 10 });
    expect((await grpcFailure(unary(tokenOnly, "getLink", { userId: "bob", providerId: "fake" }))).code).toBe(grpc.status.PERMISSION_DENIED);
    expect((await grpcFailure(unary(anonymous, "obtainAccessToken", { userId: "bob", providerId: "fake" }))).code).toBe(grpc.status.UNAUTHENTICATED);
    for (const c of [links, tokens, admin, tokenOnly, anonymous]) c.close();
    expect((await daemon.stop()).code).toBe(0);
    output = daemon.output();
    lines = auditLines(output);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  const rpc = (method: string): AuditLine[] => lines.filter((l) => l.event === "rpc" && l.method === `/tokenbroker.v1.${method}`);

  it("writes one line per RPC naming caller, transport, user, provider, outcome and duration", () => {
    const obtains = rpc("TokenService/ObtainAccessToken");
    expect(obtains.map((l) => [l.caller.name, l.user_id, l.provider_id, l.outcome.grpc_code, l.provider_contacted])).toEqual([
      ["test", "alice", "fake", "OK", true],
      ["test", "alice", "fake", "OK", false],
      ["test", "bob", "fake", "FAILED_PRECONDITION", true],
      [null, "bob", "fake", "UNAUTHENTICATED", false],
    ]);
    expect(obtains[2]!.outcome.reason).toBe("REAUTH_REQUIRED");
    expect(obtains[3]!.outcome.reason).toBe("CALLER_UNKNOWN");
    for (const l of obtains) {
      expect(l.caller.transport).toBe("grpc+tcp");
      expect(l.duration_ms).toBeGreaterThanOrEqual(0);
      expect(Number.isNaN(Date.parse(l.time))).toBe(false);
    }
    expect(obtains[0]!.caller.auth).toBe("token");
    expect(rpc("LinkService/ImportLink").map((l) => l.user_id)).toEqual(["alice", "bob"]);
  });

  it("names the caller of a denied call and why it was denied", () => {
    const [denied] = rpc("LinkService/GetLink");
    expect(denied).toMatchObject({ caller: { name: "token-only", auth: "token" }, user_id: "bob", provider_id: "fake", outcome: { grpc_code: "PERMISSION_DENIED", reason: "SCOPE_MISSING" } });
  });

  it("writes background lines for the refresh, the recorded failure, the unlink and the key rotation", () => {
    const refreshes = lines.filter((l) => l.event === "refresh");
    expect(refreshes.map((l) => [l.user_id, l.provider_id, l.outcome.reason, l.provider_contacted])).toEqual([
      ["alice", "fake", "", true],
      ["bob", "fake", "REAUTH_REQUIRED", true],
    ]);
    // The call that caused the refresh is named as its caller.
    expect(refreshes[0]!.caller).toMatchObject({ name: "test", transport: "grpc+tcp" });
    const failure = lines.find((l) => l.event === "refresh_failure_recorded");
    expect(failure).toMatchObject({ user_id: "bob", provider_id: "fake", outcome: { grpc_code: "FAILED_PRECONDITION", reason: "REAUTH_REQUIRED" }, caller: { name: "test" } });
    const unlink = lines.find((l) => l.event === "unlink");
    expect(unlink).toMatchObject({ user_id: "alice", provider_id: "fake", outcome: { grpc_code: "OK" }, caller: { name: "test" }, token_revoked: false });
    const rotation = lines.find((l) => l.event === "key_rotation");
    expect(rotation).toMatchObject({ caller: { name: "test" }, outcome: { grpc_code: "OK" }, remaining_values: 0 });
    expect(typeof rotation!.reencrypted_rows).toBe("number");
  });

  it("holds no token, refresh token, caller token or client secret", () => {
    const secrets = [...fake.issuedTokens(), ...seeds.flatMap((s) => [s.accessToken, s.refreshToken]), TEST_CALLER_TOKEN, TOKEN_ONLY, fake.clientSecret];
    expect(secrets.length).toBeGreaterThan(6);
    const audit = lines.map((l) => JSON.stringify(l)).join("\n");
    expect(lines.length).toBeGreaterThan(10);
    for (const s of secrets) {
      expect(audit).not.toContain(s);
      expect(output).not.toContain(s);
    }
  });
});

describe("an audit file of its own", () => {
  it("is opened append-only with mode 0600, and after logrotate moved it and SIGHUP the next lines land in a new file", async () => {
    const dir = tempDir();
    const fake = await useFakeProvider();
    const file = join(dir, "audit.log");
    const daemon = await startServe(config(dir, fake, { audit: { file } }), dir);
    try {
      const health = (user: string): Promise<unknown> => {
        const c = grpcClient(TokenService, daemon.unixTarget!);
        return grpcFailure(unary(c, "obtainAccessToken", { userId: user, providerId: "fake" })).finally(() => c.close());
      };
      await health("before-rotation");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      renameSync(file, `${file}.1`);
      await health("after-rename");
      daemon.child.kill("SIGHUP");
      await waitFor(() => daemon.output().includes("reopening the audit file"));
      await health("after-sighup");
      const old = auditLines(readFileSync(`${file}.1`, "utf8")).map((l) => l.user_id);
      const fresh = auditLines(readFileSync(file, "utf8")).map((l) => l.user_id);
      expect(old).toEqual(["before-rotation", "after-rename"]);
      expect(fresh).toEqual(["after-sighup"]);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(auditLines(daemon.output())).toEqual([]);
    } finally {
      await daemon.stop();
    }
  });
});

describe("audit sink errors", () => {
  it("a reopen that fails is counted, and the lines keep going to the file already open", async () => {
    const dir = tempDir();
    const fake = await useFakeProvider();
    mkdirSync(join(dir, "log"));
    const daemon = await startServe(config(dir, fake, { audit: { file: join(dir, "log", "audit.log") }, listen: { grpc: [`unix://${dir}/tb.sock`], http: "tcp://127.0.0.1:0" } }), dir);
    try {
      const call = (user: string): Promise<unknown> => {
        const c = grpcClient(TokenService, daemon.unixTarget!);
        return grpcFailure(unary(c, "obtainAccessToken", { userId: user, providerId: "fake" })).finally(() => c.close());
      };
      const sinkErrors = async (): Promise<string | undefined> =>
        /^tokenbroker_audit_sink_errors_total (\d+)$/m.exec(await (await fetch(`${daemon.httpBaseUrl!}/metrics`)).text())?.[1];
      await call("first");
      expect(await sinkErrors()).toBe("0");
      // The directory is gone: the file cannot be opened again under its name.
      renameSync(join(dir, "log"), join(dir, "log.old"));
      daemon.child.kill("SIGHUP");
      await waitFor(() => daemon.output().includes("audit line not written"));
      await call("second");
      expect(await sinkErrors()).toBe("1");
      expect(auditLines(readFileSync(join(dir, "log.old", "audit.log"), "utf8")).map((l) => l.user_id)).toEqual(["first", "second"]);
    } finally {
      await daemon.stop();
    }
  });
});

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
