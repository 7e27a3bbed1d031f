/**
 * README "Who got whose token": the jq command, run as written against the
 * audit file of a real daemon on which two jobs (alice's and bob's) obtained
 * tokens with job-scoped caller tokens. The lines' times are moved to the
 * README's 10:03 (the data, not the command, is adapted); the answer must
 * name alice's job, its token id, this process's pid and uid, and the
 * fingerprint of the very token it got.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CallerService, type IssueCallerTokenResponse } from "../../gen/tokenbroker/v1/caller_service_pb.js";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { runCli, startServe, type ServingDaemon } from "../support/cli.js";
import { grpcClient, unary } from "../support/grpc.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";

const README = readFileSync(resolve(import.meta.dirname, "../../README.md"), "utf8");
const section = README.slice(README.indexOf("### Who got whose token"));
const command = /^```sh\n(jq -c [^\n]+ audit\.log)\n```$/m.exec(section)?.[1];

let dir: string;
let daemon: ServingDaemon;
let aliceToken: string;
let aliceJob: IssueCallerTokenResponse;

beforeAll(async () => {
  dir = tempDir();
  const fake = await useFakeProvider({ expiresInSec: 3600 });
  daemon = await startServe(
    {
      listen: { grpc: [`unix://${dir}/provision.sock`, { address: `unix://${dir}/jobs.sock`, allow_tokenless: false }] },
      store: { sqlite: { path: `${dir}/tb.db` } },
      encryption: { keys_file: `${dir}/keys` },
      shutdown_grace: "3s",
      audit: { file: `${dir}/audit.log` },
      providers: [{ id: "github", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl }],
    },
    dir,
  );
  const provisionSock = daemon.grpc.find((u) => u.endsWith("/provision.sock"))!;
  const jobsSock = daemon.grpc.find((u) => u.endsWith("/jobs.sock"))!;
  const links = grpcClient(LinkService, provisionSock);
  for (const user of ["alice", "bob"]) {
    const seed = fake.issue({ accessTtlSec: 3600 });
    await unary(links, "importLink", { userId: user, providerId: "github", accessToken: seed.accessToken, refreshToken: seed.refreshToken, expiresAt: timestampFromMs(seed.expiresAt) });
  }
  links.close();
  const provision = grpcClient(CallerService, provisionSock);
  aliceJob = await unary<IssueCallerTokenResponse>(provision, "issueCallerToken", { userId: "alice", providerIds: ["github"], ttl: { seconds: 3600n }, label: "build-4711" });
  const bobJob = await unary<IssueCallerTokenResponse>(provision, "issueCallerToken", { userId: "bob", ttl: { seconds: 3600n }, label: "build-4712" });
  provision.close();
  for (const [job, user] of [[aliceJob, "alice"], [bobJob, "bob"], [aliceJob, "alice"]] as const) {
    const tokens = grpcClient(TokenService, jobsSock, { callerToken: job.token });
    const got = await unary<{ token: { accessToken: string } }>(tokens, "obtainAccessToken", { userId: user, providerId: "github" });
    if (user === "alice") aliceToken = got.token.accessToken;
    tokens.close();
  }
  expect((await daemon.stop()).code).toBe(0);
});
afterAll(async () => daemon?.stop());

it("the README's jq command answers which job got alice's GitHub token at 10:03", () => {
  expect(command, "the README's command").toBeDefined();
  // The obtains at 10:03:17, 10:03:40 (bob) and 10:05:02; everything else keeps its time.
  const times = ["2026-12-06T10:03:17.412Z", "2026-12-06T10:03:40.001Z", "2026-12-06T10:05:02.000Z"];
  let n = 0;
  const lines = readFileSync(join(dir, "audit.log"), "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const line = JSON.parse(l) as { method: string; time: string };
      if (line.method === "/tokenbroker.v1.TokenService/ObtainAccessToken") line.time = times[n++]!;
      return JSON.stringify(line);
    });
  expect(n).toBe(3);
  writeFileSync(join(dir, "audit.log"), `${lines.join("\n")}\n`);
  const out = execFileSync("bash", ["-c", command!], { cwd: dir, encoding: "utf8" });
  const answers = out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(answers).toEqual([
    {
      time: "2026-12-06T10:03:17.412Z",
      job: "build-4711",
      token_id: aliceJob.callerToken!.id,
      pid: process.pid,
      uid: process.getuid!(),
      peer: null,
      fingerprint: createHash("sha256").update(aliceToken).digest("hex").slice(0, 12),
    },
  ]);
  // The log names the token without holding it, nor the job's caller token.
  const log = readFileSync(join(dir, "audit.log"), "utf8");
  expect(log).not.toContain(aliceToken);
  expect(log).not.toContain(aliceJob.token);
});

it("the CLI issues, lists and revokes job tokens: the token once on stdout, never in the list", async () => {
  const restarted = await startServe(
    {
      listen: { grpc: [`unix://${dir}/provision.sock`, { address: `unix://${dir}/jobs.sock`, allow_tokenless: false }] },
      store: { sqlite: { path: `${dir}/tb.db` } },
      encryption: { keys_file: `${dir}/keys` },
      shutdown_grace: "3s",
      providers: [{ id: "github", type: "oauth2", client_id: "c", client_secret: "s", token_url: "http://127.0.0.1:9/token" }],
    },
    dir,
    { configName: "cli.yaml" },
  );
  try {
    const addr = restarted.grpc.find((u) => u.endsWith("/provision.sock"))!;
    const issued = await runCli(["caller-token", "issue", "--user", "carol", "--ttl", "30m", "--providers", "github", "--label", "nightly", "--addr", addr]);
    expect(issued.stderr).toBe("");
    expect(issued.code).toBe(0);
    const token = issued.stdout.trim();
    expect(token).toMatch(/^tbj_[A-Za-z0-9_-]{43}$/);
    const listed = await runCli(["caller-token", "list", "--user", "carol", "--json", "--addr", addr]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(token);
    const [entry] = JSON.parse(listed.stdout) as Array<{ id: string; user_id: string; provider_ids: string[]; label: string; revoked_at: string | null }>;
    expect(entry).toMatchObject({ user_id: "carol", provider_ids: ["github"], label: "nightly", revoked_at: null });
    const tooLong = await runCli(["caller-token", "issue", "--user", "carol", "--ttl", "25h", "--addr", addr]);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain("ttl");
    const revoked = await runCli(["caller-token", "revoke", entry!.id, "--addr", addr]);
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked ${entry!.id}\n` });
    const bob = await runCli(["token", "--user", "bob", "--provider", "github", "--addr", restarted.grpc.find((u) => u.endsWith("/jobs.sock"))!, "--caller-token", token]);
    expect(bob.code).toBe(6);
    expect(restarted.output()).not.toContain(token);
  } finally {
    await restarted.stop();
  }
});
