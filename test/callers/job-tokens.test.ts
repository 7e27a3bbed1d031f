/**
 * Job-scoped caller tokens against a real daemon (docs/design.md §6): a
 * provisioner on a private socket issues a token bound to alice; the job uses
 * it on a socket that requires a token, on TCP and on the web listener
 * (Connect). Another user's token (or another provider's) is
 * PERMISSION_DENIED / USER_NOT_ALLOWED and changes nothing; an expired or
 * revoked token is UNAUTHENTICATED; the store keeps only digests (SQLite file
 * scanned raw here, a PostgreSQL table below); no job token ever reaches the
 * daemon's output.
 */
import * as grpc from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CallerService, type IssueCallerTokenResponse } from "../../gen/tokenbroker/v1/caller_service_pb.js";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import { detailOf } from "../support/error-details.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { usePostgres } from "../support/postgres.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";

const BOUND_SECRET = "alice-only-configured-caller-secret-0123";
const BOUND_PROVISIONER = "alice-only-provisioner-secret-0123456";
const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

interface AuditLine {
  audit: true;
  method: string;
  user_id: string | null;
  provider_id?: string | null;
  provider_ids?: string[];
  caller: { name: string | null; transport: string; auth: string; uid?: number; gid?: number; pid?: number; peer?: string; token_id?: string };
  outcome: { grpc_code: string; reason: string };
  token_fingerprints?: Record<string, string>;
}

function auditLines(text: string): AuditLine[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l): l is AuditLine & Record<string, unknown> => l.audit === true) as AuditLine[];
}

function config(dir: string, fake: FakeProvider, store: Record<string, unknown>): Record<string, unknown> {
  const provider = (id: string) => ({ id, type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl });
  return {
    listen: {
      grpc: [{ address: `unix://${dir}/jobs.sock`, allow_tokenless: false }, `unix://${dir}/provision.sock`, "tcp://127.0.0.1:0"],
      http: "tcp://127.0.0.1:0",
    },
    store,
    encryption: { keys_file: `${dir}/keys` },
    shutdown_grace: "3s",
    caller_tokens: { max_ttl: "2h" },
    callers: [...TEST_CALLERS, { name: "alice-bot", token_sha256: sha256(BOUND_SECRET), users: ["alice"], scopes: ["token", "link"] },
      { name: "alice-provisioner", token_sha256: sha256(BOUND_PROVISIONER), users: ["alice"], scopes: ["provision"] },
    ],
    providers: [provider("gh"), provider("other")],
  };
}

/** Code and reason of a failed call, whichever client made it. */
async function refusal(p: Promise<unknown>): Promise<{ code: string; reason: string | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ConnectError) return { code: Code[err.code], reason: detailOf(err)?.reason, message: err.rawMessage };
    const e = err as grpc.ServiceError;
    return { code: Code[e.code as number as Code], reason: detailOf(e)?.reason, message: e.details };
  }
  throw new Error("expected the call to fail");
}

type Via = "unix" | "tcp" | "connect";

describe("job-scoped caller tokens on every listener", () => {
  let dir: string;
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let jobsSock: string;
  let provisionSock: string;
  let provision: grpc.Client;
  const issued: string[] = [];
  const handedOut: string[] = [];
  let alice: IssueCallerTokenResponse;

  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: 3600 });
    daemon = await startServe(config(dir, fake, { sqlite: { path: `${dir}/tb.db` } }), dir);
    jobsSock = daemon.grpc.find((u) => u.endsWith("/jobs.sock"))!;
    provisionSock = daemon.grpc.find((u) => u.endsWith("/provision.sock"))!;
    provision = grpcClient(CallerService, provisionSock);
    const links = grpcClient(LinkService, provisionSock);
    for (const user of ["alice", "bob"]) {
      for (const providerId of ["gh", "other"]) {
        const seed = fake.issue({ accessTtlSec: 3600 });
        handedOut.push(seed.accessToken);
        await unary(links, "importLink", { userId: user, providerId, accessToken: seed.accessToken, refreshToken: seed.refreshToken, expiresAt: timestampFromMs(seed.expiresAt) });
      }
    }
    links.close();
    alice = await issue({ userId: "alice", providerIds: ["gh"], ttl: { seconds: 3600n }, scopes: ["token", "link"], label: "build-7" });
  });
  afterAll(async () => {
    provision?.close();
    await daemon?.stop();
  });

  async function issue(req: Record<string, unknown>): Promise<IssueCallerTokenResponse> {
    const res = await unary<IssueCallerTokenResponse>(provision, "issueCallerToken", req);
    issued.push(res.token);
    return res;
  }

  /** ObtainAccessToken (or another TokenService/LinkService call) with `token`, over `via`. */
  async function call(via: Via, token: string | undefined, method: "obtainAccessToken" | "obtainAccessTokens" | "getLink" | "unlink", req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const service = method === "getLink" || method === "unlink" ? LinkService : TokenService;
    if (via === "connect") {
      const transport = createConnectTransport({ baseUrl: daemon.httpBaseUrl!, httpVersion: "1.1" });
      const headers = token === undefined ? undefined : { authorization: `Bearer ${token}` };
      const client = createClient(service, transport) as unknown as Record<string, (r: unknown, o: unknown) => Promise<Record<string, unknown>>>;
      return client[method]!(req, { headers });
    }
    const client = grpcClient(service, via === "unix" ? jobsSock : daemon.tcpTarget!, token === undefined ? {} : { callerToken: token });
    try {
      return await unary<Record<string, unknown>>(client, method, req);
    } finally {
      client.close();
    }
  }

  it("issues an opaque, high-entropy token with a recognisable prefix, bound to the user and providers asked", () => {
    expect(alice.token).toMatch(/^tbj_[A-Za-z0-9_-]{43}$/);
    expect(alice.callerToken).toMatchObject({ userId: "alice", providerIds: ["gh"], scopes: ["token", "link"], label: "build-7" });
    expect(alice.callerToken!.issuedBy).toBe(`socket uid ${process.getuid!()} pid ${process.pid}`);
    const ttlMs = Number(alice.callerToken!.expiresAt!.seconds - alice.callerToken!.createdAt!.seconds) * 1000;
    expect(ttlMs).toBe(3_600_000);
  });

  for (const via of ["unix", "tcp", "connect"] as const) {
    it(`${via}: alice's job token gets alice's token, and the empty user_id means alice`, async () => {
      const res = (await call(via, alice.token, "obtainAccessToken", { userId: "alice", providerId: "gh" })) as { token: { userId: string; accessToken: string } };
      expect(res.token.userId).toBe("alice");
      const own = (await call(via, alice.token, "obtainAccessToken", { userId: "", providerId: "gh" })) as { token: { userId: string; accessToken: string } };
      expect(own.token.userId).toBe("alice");
      expect(own.token.accessToken).toBe(res.token.accessToken);
    });

    it(`${via}: alice's job token asking for bob's token is PERMISSION_DENIED / USER_NOT_ALLOWED`, async () => {
      expect(await refusal(call(via, alice.token, "obtainAccessToken", { userId: "bob", providerId: "gh" }))).toMatchObject({ code: "PermissionDenied", reason: "USER_NOT_ALLOWED" });
      expect(await refusal(call(via, alice.token, "obtainAccessTokens", { userId: "bob", providerIds: ["gh"] }))).toMatchObject({ code: "PermissionDenied", reason: "USER_NOT_ALLOWED" });
      // A provider outside the token's list, alone or among allowed ones.
      expect(await refusal(call(via, alice.token, "obtainAccessToken", { userId: "alice", providerId: "other" }))).toMatchObject({ code: "PermissionDenied", reason: "USER_NOT_ALLOWED" });
      expect(await refusal(call(via, alice.token, "obtainAccessTokens", { userId: "alice", providerIds: ["gh", "other"] }))).toMatchObject({ code: "PermissionDenied", reason: "USER_NOT_ALLOWED" });
    });

    it(`${via}: LinkService calls for another user are USER_NOT_ALLOWED and change nothing`, async () => {
      expect(await refusal(call(via, alice.token, "getLink", { userId: "bob", providerId: "gh" }))).toMatchObject({ code: "PermissionDenied", reason: "USER_NOT_ALLOWED" });
      expect(await refusal(call(via, alice.token, "unlink", { userId: "bob", providerId: "gh" }))).toMatchObject({ code: "PermissionDenied", reason: "USER_NOT_ALLOWED" });
      const bob = (await call("tcp", TEST_CALLER_TOKEN, "getLink", { userId: "bob", providerId: "gh" })) as { link: { userId: string } };
      expect(bob.link.userId).toBe("bob");
    });
  }

  it("a configured caller bound to users: another user is USER_NOT_ALLOWED, the empty user_id is its one user", async () => {
    expect(await refusal(call("tcp", BOUND_SECRET, "obtainAccessToken", { userId: "bob", providerId: "other" }))).toMatchObject({ code: "PermissionDenied", reason: "USER_NOT_ALLOWED" });
    const own = (await call("tcp", BOUND_SECRET, "obtainAccessToken", { userId: "", providerId: "other" })) as { token: { userId: string } };
    expect(own.token.userId).toBe("alice");
  });

  it("a provisioner bound to alice issues, lists and revokes alice's tokens only", async () => {
    const bound = grpcClient(CallerService, daemon.tcpTarget!, { callerToken: BOUND_PROVISIONER });
    try {
      expect(await refusal(unary(bound, "issueCallerToken", { userId: "bob", ttl: { seconds: 60n } }))).toMatchObject({ code: "PermissionDenied", reason: "USER_NOT_ALLOWED" });
      const own = await unary<IssueCallerTokenResponse>(bound, "issueCallerToken", { userId: "", ttl: { seconds: 60n } });
      issued.push(own.token);
      expect(own.callerToken).toMatchObject({ userId: "alice", issuedBy: "alice-provisioner" });
      const bobs = await issue({ userId: "bob", ttl: { seconds: 600n }, label: "bob-job" });
      const listed = (await unary(bound, "listCallerTokens", {})) as { callerTokens: Array<{ userId: string }> };
      expect(new Set(listed.callerTokens.map((t) => t.userId))).toEqual(new Set(["alice"]));
      expect(await refusal(unary(bound, "listCallerTokens", { userId: "bob" }))).toMatchObject({ reason: "USER_NOT_ALLOWED" });
      expect(await unary(bound, "revokeCallerToken", { id: bobs.callerToken!.id })).toMatchObject({ revoked: false });
      expect(((await call("tcp", bobs.token, "obtainAccessToken", { userId: "", providerId: "gh" })) as { token: { userId: string } }).token.userId).toBe("bob");
      expect(await unary(bound, "revokeCallerToken", { id: own.callerToken!.id })).toMatchObject({ revoked: true });
    } finally {
      bound.close();
    }
  });

  it("a tokenless call on the socket that requires a token is UNAUTHENTICATED; the provisioner's socket serves it", async () => {
    expect(await refusal(call("unix", undefined, "obtainAccessToken", { userId: "alice", providerId: "gh" }))).toMatchObject({
      code: "Unauthenticated",
      reason: "CALLER_UNKNOWN",
      message: "this socket requires a caller token",
    });
    const open = grpcClient(TokenService, provisionSock);
    expect(((await unary(open, "obtainAccessToken", { userId: "bob", providerId: "gh" })) as { token: { userId: string } }).token.userId).toBe("bob");
    open.close();
  });

  it("a job token cannot issue tokens (no provision scope), and a ttl over caller_tokens.max_ttl is INVALID_ARGUMENT naming ttl", async () => {
    const asJob = grpcClient(CallerService, jobsSock, { callerToken: alice.token });
    expect(await refusal(unary(asJob, "issueCallerToken", { userId: "alice", ttl: { seconds: 60n } }))).toMatchObject({ code: "PermissionDenied", reason: "SCOPE_MISSING" });
    asJob.close();
    const before = ((await unary(provision, "listCallerTokens", { includeInactive: true })) as { callerTokens: unknown[] }).callerTokens.length;
    const tooLong = await grpcFailure(unary(provision, "issueCallerToken", { userId: "alice", ttl: { seconds: 3n * 3600n } }));
    expect(tooLong.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(detailOf(tooLong)).toMatchObject({ reason: "INVALID_ARGUMENT", field: "ttl" });
    expect(tooLong.details).toContain("caller_tokens.max_ttl");
    expect((await grpcFailure(unary(provision, "issueCallerToken", { userId: "alice" }))).details).toContain("ttl");
    expect((await grpcFailure(unary(provision, "issueCallerToken", { userId: "alice", ttl: { seconds: 60n }, scopes: ["admin"] }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(((await unary(provision, "listCallerTokens", { includeInactive: true })) as { callerTokens: unknown[] }).callerTokens.length).toBe(before);
  });

  it("a revoked job token is UNAUTHENTICATED on every listener; ListCallerTokens shows it revoked, without any secret", async () => {
    const job = await issue({ userId: "alice", ttl: { seconds: 600n }, label: "to-revoke" });
    expect(((await call("tcp", job.token, "obtainAccessToken", { userId: "alice", providerId: "other" })) as { token: { userId: string } }).token.userId).toBe("alice");
    expect(await unary(provision, "revokeCallerToken", { id: job.callerToken!.id })).toMatchObject({ revoked: true });
    expect(await unary(provision, "revokeCallerToken", { id: job.callerToken!.id })).toMatchObject({ revoked: false });
    for (const via of ["unix", "tcp", "connect"] as const) {
      expect(await refusal(call(via, job.token, "obtainAccessToken", { userId: "alice", providerId: "other" })), via).toMatchObject({ code: "Unauthenticated", reason: "CALLER_UNKNOWN" });
    }
    const active = (await unary(provision, "listCallerTokens", {})) as { callerTokens: Array<{ id: string }> };
    expect(active.callerTokens.map((t) => t.id)).not.toContain(job.callerToken!.id);
    const all = (await unary(provision, "listCallerTokens", { includeInactive: true })) as { callerTokens: Array<{ id: string; revokedAt?: unknown }> };
    expect(all.callerTokens.find((t) => t.id === job.callerToken!.id)?.revokedAt).toBeDefined();
    const listed = JSON.stringify(all, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
    for (const secret of issued) expect(listed).not.toContain(secret);
  });

  it("an expired job token is UNAUTHENTICATED on every listener", async () => {
    const job = await issue({ userId: "alice", ttl: { seconds: 600n }, label: "to-expire" });
    expect(((await call("unix", job.token, "obtainAccessToken", { userId: "alice", providerId: "gh" })) as { token: { userId: string } }).token.userId).toBe("alice");
    // Its expiry moved into the past in the daemon's own file (no waiting): the daemon reads the store per call.
    const db = new Database(join(dir, "tb.db"));
    expect(db.prepare("UPDATE caller_tokens SET expires_at = ? WHERE id = ?").run(Date.now() - 1000, job.callerToken!.id).changes).toBe(1);
    db.close();
    for (const via of ["unix", "tcp", "connect"] as const) {
      const r = await refusal(call(via, job.token, "obtainAccessToken", { userId: "alice", providerId: "gh" }));
      expect(r, via).toMatchObject({ code: "Unauthenticated", reason: "CALLER_UNKNOWN" });
      expect(r.message).toContain("expired");
    }
  });

  it("stores tokens hashed: the raw SQLite file (and its WAL) holds the SHA-256 of each, never a token", () => {
    const bytes = [join(dir, "tb.db"), join(dir, "tb.db-wal")].filter(existsSync).map((f) => readFileSync(f));
    expect(bytes.length).toBeGreaterThan(0);
    expect(issued.length).toBeGreaterThanOrEqual(3);
    for (const token of issued) {
      for (const b of bytes) {
        expect(b.includes(Buffer.from(token))).toBe(false);
        // The part after the prefix alone, too.
        expect(b.includes(Buffer.from(token.slice(4)))).toBe(false);
      }
    }
    const db = new Database(join(dir, "tb.db"), { readonly: true });
    const digests = db.prepare<[], { token_sha256: string }>("SELECT token_sha256 FROM caller_tokens").all().map((r) => r.token_sha256);
    db.close();
    for (const token of issued) expect(digests).toContain(sha256(token));
  });

  it("audit lines name the job token (id, label), the TCP peer, the socket peer's uid/gid/pid and a fingerprint of each token handed out; no job token appears in the output", async () => {
    const out = daemon.output();
    for (const token of issued) expect(out).not.toContain(token);
    for (const token of handedOut) expect(out).not.toContain(token);
    const lines = auditLines(out).filter((l) => l.method === "/tokenbroker.v1.TokenService/ObtainAccessToken" && l.caller.token_id === alice.callerToken!.id);
    const ok = lines.filter((l) => l.outcome.grpc_code === "OK");
    expect(ok.length).toBeGreaterThanOrEqual(6);
    for (const l of ok) {
      expect(l.caller).toMatchObject({ name: "build-7", auth: "job-token" });
      expect(l.user_id).toBe("alice");
      expect(l.token_fingerprints?.gh).toMatch(/^[0-9a-f]{12}$/);
    }
    const tcp = ok.find((l) => l.caller.transport === "grpc+tcp")!;
    expect(tcp.caller.peer).toMatch(/^(127\.0\.0\.1|::ffff:127\.0\.0\.1):\d+$/);
    const connect = ok.find((l) => l.caller.transport === "connect+tcp")!;
    expect(connect.caller.peer).toMatch(/^(127\.0\.0\.1|::ffff:127\.0\.0\.1):\d+$/);
    const unix = ok.find((l) => l.caller.transport === "grpc+unix")!;
    // This test process made the socket calls.
    expect(unix.caller).toMatchObject({ uid: process.getuid!(), gid: process.getgid!(), pid: process.pid });
    // The fingerprint is that of the token handed out.
    const got = (await call("tcp", alice.token, "obtainAccessToken", { userId: "alice", providerId: "gh" })) as { token: { accessToken: string } };
    expect(tcp.token_fingerprints?.gh).toBe(sha256(got.token.accessToken).slice(0, 12));
    const denied = auditLines(out).find((l) => l.caller.token_id === alice.callerToken!.id && l.outcome.reason === "USER_NOT_ALLOWED");
    expect(denied).toMatchObject({ user_id: "bob", outcome: { grpc_code: "PERMISSION_DENIED" } });
    expect(denied?.token_fingerprints).toBeUndefined();
  });
});



const server = await usePostgres();

describe.skipIf(typeof server === "string")(`job tokens on a PostgreSQL store${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it("stores only the SHA-256 of each token in caller_tokens; revocation holds", async () => {
    if (typeof server === "string") return;
    const dir = tempDir();
    const fake = await useFakeProvider({ expiresInSec: 3600 });
    const url = await server.freshDatabase();
    const urlFile = join(dir, "pg-url");
    writeFileSync(urlFile, url, { mode: 0o600 });
    const daemon = await startServe(config(dir, fake, { postgres: { url_file: urlFile } }), dir);
    try {
      const provision = grpcClient(CallerService, daemon.grpc.find((u) => u.endsWith("/provision.sock"))!);
      const issued = await unary<IssueCallerTokenResponse>(provision, "issueCallerToken", { userId: "alice", ttl: { seconds: 600n } });
      expect(issued.token).toMatch(/^tbj_/);
      const tokens = grpcClient(TokenService, daemon.tcpTarget!, { callerToken: issued.token });
      expect(await refusal(unary(tokens, "obtainAccessToken", { userId: "bob", providerId: "gh" }))).toMatchObject({ code: "PermissionDenied", reason: "USER_NOT_ALLOWED" });
      await unary(provision, "revokeCallerToken", { id: issued.callerToken!.id });
      expect(await refusal(unary(tokens, "obtainAccessToken", { userId: "alice", providerId: "gh" }))).toMatchObject({ code: "Unauthenticated", reason: "CALLER_UNKNOWN" });
      tokens.close();
      provision.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const { rows } = await c.query<{ row: string }>("SELECT t::text AS row FROM caller_tokens t");
        expect(rows.length).toBe(1);
        expect(rows[0]!.row).not.toContain(issued.token);
        expect(rows[0]!.row).not.toContain(issued.token.slice(4));
        expect(rows[0]!.row).toContain(sha256(issued.token));
      } finally {
        await c.end();
      }
      expect(daemon.output()).not.toContain(issued.token);
    } finally {
      await daemon.stop();
    }
  });
});
