import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { CLI, TEST_CALLER_TOKEN, runCli, type CliResult } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";
import { enableLinkFlows, type LinkFlows } from "../support/fake-link-flows.js";
import { followToCallback } from "../support/fake-oidc-login.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { detailOf, grpcFailure, unary } from "../support/grpc.js";
import { recordVerifiers, secretsInStore, secretsInText, startLinkDaemon, visit, type LinkDaemon } from "./link-helpers.js";

/**
 * Issue 5, the CLI against the daemon process: `tokenbroker link` prints an
 * authorize URL that works when followed, `link --device` runs the device
 * flow to the end, `links --json` lists, `unlink` says what happened. The
 * commands use all three client transports (Unix socket, TCP gRPC with a
 * caller token, Connect over the web listener).
 */

const GH = "gh";

interface LinkJson {
  user_id: string;
  provider_id: string;
  has_refresh_token: boolean;
  expires_at: string | null;
  account: string | null;
  granted_scopes: string[] | null;
}

describe("tokenbroker link / links / unlink against the daemon process", () => {
  let gh: FakeProvider;
  let flows: LinkFlows;
  let verifiers: string[];
  let tb: LinkDaemon;
  let unixAddr: string;
  let tcpAddr: string;
  const auth = ["--caller-token", TEST_CALLER_TOKEN];

  beforeAll(async () => {
    // GitHub spells granted scopes comma-separated.
    gh = await useFakeProvider({ mode: "github", clientId: "Iv1.cli-client", clientSecret: "cli-client-secret-9a8b7c6d5e4f", extra: { scope: "repo,read:org" } });
    flows = enableLinkFlows(gh, { deviceIntervalSec: 1 });
    verifiers = recordVerifiers(gh);
    tb = await startLinkDaemon(tempDir("tb-link-cli-"), [
      {
        id: GH,
        type: "github",
        client_id: gh.clientId,
        client_secret: gh.clientSecret,
        auth_url: flows.authorizeUrl,
        token_url: gh.tokenUrl,
        validate_url: gh.validateUrl,
        revoke_url: `${flows.apiBaseUrl}/applications/${gh.clientId}/grant`,
        device_code_url: flows.deviceCodeUrl,
        device_flow: true,
      },
    ]);
    unixAddr = tb.daemon.unixTarget!;
    tcpAddr = `tcp://${tb.daemon.tcpTarget!}`;
  });
  afterAll(async () => {
    await tb?.stop();
  });

  const outputs: CliResult[] = [];
  async function cli(args: string[]): Promise<CliResult> {
    const r = await runCli(args);
    outputs.push(r);
    return r;
  }
  async function listed(): Promise<LinkJson[]> {
    const r = await cli(["links", "--json", "--addr", tcpAddr, ...auth]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as LinkJson[];
  }

  it("`link` prints the authorize URL (stdout); followed in a browser it links the user", async () => {
    const r = await cli(["link", "--user", "alice", "--provider", GH, "--addr", unixAddr]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const url = new URL(lines[0]!);
    expect(`${url.origin}${url.pathname}`).toBe(flows.authorizeUrl);
    expect(url.searchParams.get("redirect_uri")).toBe(tb.callbackUrl(GH));
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("state")).toBeTruthy();
    expect(r.stderr).toContain("open the URL above in a browser");

    const answer = await visit(await followToCallback(url.toString(), tb.callbackUrl(GH)));
    expect(answer.status).toBe(200);
    const { link } = await unary<{ link: Link }>(tb.links, "getLink", { userId: "alice", providerId: GH });
    expect(link.hasRefreshToken).toBe(true);
    const { token } = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "alice", providerId: GH });
    expect(gh.isValid(token.accessToken)).toBe(true);
  });

  it("`link --redirect-after` carries the relative path to the callback's 302", async () => {
    const r = await cli(["link", "--user", "amy", "--provider", GH, "--redirect-after", "/welcome", "--addr", unixAddr]);
    expect(r.code, r.stderr).toBe(0);
    const answer = await visit(await followToCallback(r.stdout.trim(), tb.callbackUrl(GH)));
    expect(answer.status).toBe(302);
    expect(answer.location).toBe("/welcome");
    const bad = await cli(["link", "--user", "amy", "--provider", GH, "--redirect-after", "https://evil.example/", "--addr", unixAddr]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("INVALID_ARGUMENT");
    expect(bad.stdout).toBe("");
  });

  it("`links --json` lists the links (never a token value); the table form too", async () => {
    const all = await listed();
    expect(all).toEqual(
      expect.arrayContaining([
        // The account as the provider's /user named it after the code exchange, the scopes as its token answer did.
        expect.objectContaining({ user_id: "alice", provider_id: GH, has_refresh_token: true, account: "fake-user", granted_scopes: ["repo", "read:org"] }),
        expect.objectContaining({ user_id: "amy", provider_id: GH, has_refresh_token: true }),
      ]),
    );
    const alice = all.find((l) => l.user_id === "alice")!;
    expect(Date.parse(alice.expires_at!)).toBeGreaterThan(Date.now());
    const table = await cli(["links", "--user", "alice", "--addr", unixAddr]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^PROVIDER\tUSER\tEXPIRES\tREFRESH\tACCOUNT\tSCOPES\ngh\talice\t\S+\tyes\tfake-user\trepo,read:org\n$/);
    // TCP needs a caller token.
    const anonymous = await cli(["links", "--json", "--addr", tcpAddr]);
    expect(anonymous.code).toBe(6);
    expect(JSON.parse(anonymous.stderr)).toMatchObject({ code: "UNAUTHENTICATED", reason: "CALLER_UNKNOWN", message: expect.stringContaining("a caller token is required on TCP listeners") });
  });

  it("a user endpoint that fails at link time: linked all the same, the account unknown (null, `-`)", async () => {
    const asked = gh.validateRequests;
    gh.failValidateNext(1, { status: 503 });
    const r = await cli(["link", "--user", "dan", "--provider", GH, "--addr", unixAddr]);
    expect(r.code, r.stderr).toBe(0);
    expect((await visit(await followToCallback(r.stdout.trim(), tb.callbackUrl(GH)))).status).toBe(200);
    expect(gh.validateRequests).toBe(asked + 1);
    expect((await listed()).find((l) => l.user_id === "dan")).toMatchObject({ has_refresh_token: true, account: null, granted_scopes: ["repo", "read:org"] });
    const table = await cli(["links", "--user", "dan", "--addr", unixAddr]);
    expect(table.stdout).toMatch(/\tyes\t-\trepo,read:org\n$/);
    const u = await cli(["unlink", "--user", "dan", "--provider", GH, "--yes", "--addr", unixAddr]);
    expect(u.code, u.stderr).toBe(0);
  });

  it("`unlink` (Connect over the web listener) says the tokens were revoked; the link is gone", async () => {
    const { token } = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "alice", providerId: GH });
    const r = await cli(["unlink", "--user", "alice", "--provider", GH, "--addr", tb.publicUrl, ...auth]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`unlinked alice from ${GH}; tokens revoked at the provider\n`);
    expect(flows.revocations.at(-1)).toMatchObject({ style: "github-grant", clientAuth: "basic", token: token.accessToken });
    expect(gh.isValid(token.accessToken)).toBe(false);
    expect((await listed()).some((l) => l.user_id === "alice")).toBe(false);
    const err = await grpcFailure(unary(tb.tokens, "obtainAccessToken", { userId: "alice", providerId: GH }));
    expect(detailOf(err)?.reason).toBe("LINK_NOT_FOUND");

    // Nothing to unlink: no "link first" advice (issue 23 item 11).
    const again = await cli(["unlink", "--user", "alice", "--provider", GH, "--addr", unixAddr]);
    expect(again.code).toBe(5);
    expect(again.stdout).toBe("");
    expect(again.stderr).toBe(`tokenbroker: LINK_NOT_FOUND: no link for this user at provider "${GH}"; nothing was unlinked\n  hint: tokenbroker links --user alice lists this user's links\n`);
    const json = await cli(["unlink", "--user", "alice", "--provider", GH, "--json", "--addr", unixAddr]);
    expect(json.code).toBe(5);
    expect(JSON.parse(json.stderr)).toMatchObject({ reason: "LINK_NOT_FOUND", hint: "tokenbroker links --user alice lists this user's links" });
    expect(json.stderr).not.toContain("link first");
  });

  it("`link --json` and `unlink --json`: one JSON object on stdout, the prompt on stderr", async () => {
    const r = await cli(["link", "--user", "dora", "--provider", GH, "--json", "--addr", unixAddr]);
    expect(r.code, r.stderr).toBe(0);
    const started = JSON.parse(r.stdout) as { authorize_url: string; expires_at: string };
    expect(Date.parse(started.expires_at)).toBeGreaterThan(Date.now());
    expect(r.stderr).toContain("open the URL in authorize_url in a browser");
    expect((await visit(await followToCallback(started.authorize_url, tb.callbackUrl(GH)))).status).toBe(200);
    const u = await cli(["unlink", "--user", "dora", "--provider", GH, "--json", "--addr", unixAddr]);
    expect(u.code, u.stderr).toBe(0);
    expect(JSON.parse(u.stdout)).toEqual({ unlinked: true, user_id: "dora", provider_id: GH, token_revoked: true, revocation_error: null });
  });

  it("an unknown provider: the hint names tokenbroker status", async () => {
    const r = await cli(["token", "--user", "alice", "--provider", "nope", "--addr", unixAddr]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("PROVIDER_NOT_FOUND");
    expect(r.stderr).toContain("hint: tokenbroker status lists the configured providers");
  });

  it("`unlink` when the provider refuses the revocation: unlinked anyway, and it says so", async () => {
    flows.revokeFaults.push({ status: 500 });
    const r = await cli(["unlink", "--user", "amy", "--provider", GH, "--addr", unixAddr]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`unlinked amy from ${GH}; tokens not revoked: access token: GitHub grant deletion answered HTTP 500 (expected 204)\n`);
    expect((await listed()).some((l) => l.user_id === "amy")).toBe(false);
  });

  /** Runs `link --device`, approving (or denying) at the fake once the CLI has shown the user code. */
  function linkDevice(userId: string, decide: (userCode: string) => void, extra: string[] = []): Promise<CliResult & { userCode: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, "link", "--device", "--user", userId, "--provider", GH, "--addr", unixAddr, ...extra], { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      let userCode = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`link --device did not finish\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, 30_000);
      // The prompt is on stderr, like link's (issue 23 item 11); stdout holds only the result.
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /enter the code (\S+)/.exec(stderr);
        if (m?.[1] !== undefined && userCode === "") {
          userCode = m[1];
          decide(userCode);
        }
      });
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        const r = { code, signal, stdout, stderr, userCode };
        outputs.push(r);
        resolve(r);
      });
    });
  }

  it("`link --device` runs the device flow to the end, polling at the provider's interval", async () => {
    const t0 = performance.now();
    // The user is slow: the first poll finds the authorization pending.
    flows.deviceScript.push("pending");
    // Bob is another account at the provider: its /user names him.
    gh.login = "octo-bob";
    const r = await linkDevice("bob", (code) => flows.approveDevice(code));
    gh.login = "fake-user";
    const ms = performance.now() - t0;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`go to ${gh.url}/device and enter the code ${r.userCode}`);
    expect(r.stdout).toBe(`linked bob to ${GH}\n`);
    const polls = flows.session().polls;
    expect(polls).toHaveLength(2);
    expect(polls[1]! - polls[0]!).toBeGreaterThanOrEqual(950); // the fake would have answered slow_down otherwise
    expect(ms).toBeLessThan(10_000);
    expect((await listed()).find((l) => l.user_id === "bob")).toMatchObject({ provider_id: GH, has_refresh_token: true, account: "octo-bob", granted_scopes: ["repo", "read:org"] });
    const { token } = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "bob", providerId: GH });
    expect(gh.isValid(token.accessToken)).toBe(true);
  });

  it("refreshes keep the account; an answer without scope keeps the granted scopes, one with scope replaces them; status shows both", async () => {
    const bobOf = async (): Promise<LinkJson | undefined> => (await listed()).find((l) => l.user_id === "bob");
    // Each refresh is forced the way `git credential erase` does it: the caller reports the stored access token rejected.
    const refresh = async (): Promise<void> => {
      const before = gh.refreshes;
      const { token } = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "bob", providerId: GH });
      const after = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "bob", providerId: GH, rejectedAccessToken: token.accessToken });
      expect(after.token.accessToken).not.toBe(token.accessToken);
      expect(gh.refreshes).toBe(before + 1);
    };
    try {
      gh.extra = {}; // GitHub's answer then says scope "" only: no scopes named
      await refresh();
      expect(await bobOf()).toMatchObject({ account: "octo-bob", granted_scopes: ["repo", "read:org"] });
      gh.extra = { scope: "repo" };
      await refresh();
      expect(await bobOf()).toMatchObject({ account: "octo-bob", granted_scopes: ["repo"] });
    } finally {
      gh.extra = { scope: "repo,read:org" };
    }
    const json = await cli(["status", "--json", "--addr", unixAddr]);
    expect(json.code, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as { link_accounts: unknown[] }).link_accounts).toContainEqual({ user_id: "bob", provider_id: GH, account: "octo-bob", granted_scopes: ["repo"] });
    const text = await cli(["status", "--addr", unixAddr]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`accounts:\n`);
    expect(text.stdout).toContain(`  ${GH}\tbob\taccount octo-bob\tscopes repo\n`);
  });

  it("`link --device` when the user denies: exit 1, nothing stored", async () => {
    const r = await linkDevice("carl", (code) => flows.denyDevice(code));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the authorization was denied");
    expect((await listed()).some((l) => l.user_id === "carl")).toBe(false);
  });

  it("`link --device --json`: the prompt on stderr, one JSON object on stdout once linked", async () => {
    const r = await linkDevice("erin", (code) => flows.approveDevice(code), ["--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`enter the code ${r.userCode}`);
    expect(JSON.parse(r.stdout)).toEqual({ linked: true, user_id: "erin", provider_id: GH });
  });

  it("no token, code, verifier, device code or client secret in tb.db / tb.db-wal, in the daemon's logs or in CLI output", async () => {
    const s = new Map<string, string>();
    gh.issuedTokens().forEach((v, i) => s.set(`token ${i}`, v));
    [...flows.codes.keys()].forEach((v, i) => s.set(`code ${i}`, v));
    [...flows.devices.keys()].forEach((v, i) => s.set(`device code ${i}`, v));
    verifiers.forEach((v, i) => s.set(`verifier ${i}`, v));
    s.set("client secret", gh.clientSecret);
    expect(verifiers.length).toBeGreaterThanOrEqual(2);
    expect(flows.devices.size).toBe(3);

    expect(secretsInStore(tb.dir, s)).toEqual([]);
    expect(secretsInText(tb.daemon.output(), s)).toEqual([]);
    for (const o of outputs) expect(secretsInText(o.stdout + o.stderr, s)).toEqual([]);
    await tb.stop();
    expect(secretsInStore(tb.dir, s)).toEqual([]);
  });
});
