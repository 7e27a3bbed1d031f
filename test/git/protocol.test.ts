/**
 * git's credential protocol fed to `tokenbroker git-credential` on stdin, as
 * git ≥ 2.40 (password_expiry_utc) and ≥ 2.46 (capability[]=authtype) send
 * it, against a daemon process: unknown attributes ignored, Bearer answered
 * when offered and taken, nothing but protocol lines on stdout, bad input
 * refused, failures one line on stderr with an exit code, and no token value
 * on stderr or in the daemon's log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider, IssuedTokens } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { gitEnv, helper, helperDaemonConfig, importLink, type Run } from "./support/helper-env.js";

const GIT_HOST = "127.0.0.1:1"; // no server needed: only the URL is matched
const LINE = /^(?:[a-z_]+(?:\[\])?)=[^\n\r\0]*$/;

describe("the credential protocol on stdin", () => {
  let dir: string;
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let env: NodeJS.ProcessEnv;
  let git: IssuedTokens;
  let gh: IssuedTokens;
  let ado: IssuedTokens;
  const stderrs: string[] = [];
  const get = async (input: string | Buffer, over: NodeJS.ProcessEnv = {}, op = "get"): Promise<Run> => {
    const r = await helper(op, input, { ...env, ...over });
    stderrs.push(r.stderr);
    // stdout holds protocol lines only, whatever happened.
    for (const line of r.stdout.split("\n").slice(0, -1)) expect(line).toMatch(LINE);
    if (r.stdout !== "") expect(r.stdout.endsWith("\n")).toBe(true);
    return r;
  };
  const attrs = (r: Run): Record<string, string> => Object.fromEntries(r.stdout.split("\n").filter((l) => l !== "").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));

  beforeAll(async () => {
    dir = tempDir("tb-gitproto-");
    fake = await useFakeProvider({ expiresInSec: 3600 });
    daemon = await startServe(helperDaemonConfig(dir, fake, `http://${GIT_HOST}`), dir);
    env = gitEnv(dir, { TOKENBROKER_ADDR: daemon.unixTarget!, TOKENBROKER_USER: "alice" });
    git = fake.issue({ accessTtlSec: 3600 });
    gh = fake.issue({ accessTtlSec: 3600 });
    ado = fake.issue({ accessTtlSec: 3600 });
    await importLink(daemon.unixTarget!, "alice", "git", git);
    await importLink(daemon.unixTarget!, "alice", "gh", gh);
    await importLink(daemon.unixTarget!, "alice", "ado", ado);
  });

  afterAll(async () => {
    await daemon?.stop();
    const output = `${stderrs.join("\n")}\n${daemon.output()}`;
    for (const t of fake.issuedTokens()) expect(output.includes(t), "a token value in stderr or the daemon's log").toBe(false);
  });

  it("get: username, password and password_expiry_utc; unknown attributes ignored", async () => {
    const r = await get(`protocol=http\nhost=${GIT_HOST}\npath=org/repo.git\nwwwauth[]=Basic realm="git"\nwwwauth[]=Bearer\nfuture_thing=1\ncapability[]=state\nusername=someone\n\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(attrs(r)).toEqual({ username: "oauth2", password: git.accessToken, password_expiry_utc: String(Math.floor(git.expiresAt / 1000)) });
    expect(r.stdout).not.toMatch(/oauth_refresh_token|refresh/);
  });

  it("the user name comes from the catalog: x-access-token for GitHub", async () => {
    const r = await get("protocol=https\nhost=github.example\npath=acme/app.git\n\n");
    expect(r.code, r.stderr).toBe(0);
    expect(attrs(r)).toEqual({ username: "x-access-token", password: gh.accessToken, password_expiry_utc: String(Math.floor(gh.expiresAt / 1000)) });
  });

  it("input ends at the blank line or at EOF; url= works as well as protocol/host/path", async () => {
    const eof = await get(`protocol=http\nhost=${GIT_HOST}`);
    expect(attrs(eof).password).toBe(git.accessToken);
    const url = await get("url=https://github.example/acme/app.git\n\nprotocol=http\n");
    expect(attrs(url).username).toBe("x-access-token");
  });

  it("capability[]=authtype with a provider that takes Bearer: authtype, credential, ephemeral, the capability echoed first", async () => {
    const r = await get("capability[]=authtype\nprotocol=https\nhost=ado.example\npath=org/project/_git/repo\n\n");
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n").filter((l) => l !== "");
    expect(lines[0]).toBe("capability[]=authtype");
    expect(attrs(r)).toEqual({ "capability[]": "authtype", authtype: "Bearer", credential: ado.accessToken, ephemeral: "true", password_expiry_utc: String(Math.floor(ado.expiresAt / 1000)) });
    // Without the capability git would not understand them: Basic then.
    const basic = await get("protocol=https\nhost=ado.example\npath=org/project/_git/repo\n\n");
    expect(attrs(basic)).toEqual({ username: "oauth2", password: ado.accessToken, password_expiry_utc: String(Math.floor(ado.expiresAt / 1000)) });
    // A provider that does not take Bearer answers Basic even when git offers it.
    const gitHost = await get(`capability[]=authtype\nprotocol=http\nhost=${GIT_HOST}\n\n`);
    expect(Object.keys(attrs(gitHost)).sort()).toEqual(["password", "password_expiry_utc", "username"]);
  });

  it("over TCP with a caller token, and over the web listener (Connect)", async () => {
    for (const addr of [`tcp://${daemon.tcpTarget!}`, daemon.httpBaseUrl!]) {
      const r = await get(`protocol=http\nhost=${GIT_HOST}\n\n`, { TOKENBROKER_ADDR: addr, TOKENBROKER_CALLER_TOKEN: TEST_CALLER_TOKEN });
      expect(r.code, `${addr}: ${r.stderr}`).toBe(0);
      expect(attrs(r).password).toBe(git.accessToken);
    }
    // Without the caller token TCP refuses: exit 6, one line.
    const refused = await get(`protocol=http\nhost=${GIT_HOST}\n\n`, { TOKENBROKER_ADDR: `tcp://${daemon.tcpTarget!}` });
    expect(refused.code).toBe(6);
    expect(refused.stdout).toBe("quit=true\n");
    expect(refused.stderr).toMatch(/^tokenbroker git-credential get: CALLER_UNKNOWN: .+\n$/);
  });

  it("oversized, CR-, NUL-containing or malformed input is refused: exit 2, nothing on stdout, the problem named", async () => {
    const cases: Array<[string | Buffer, RegExp]> = [
      [`protocol=http\nhost=${GIT_HOST}\npath=${"a".repeat(70_000)}\n\n`, /refused input: line 3 is longer than 65536 bytes/],
      [Buffer.from(`protocol=http\nhost=${GIT_HOST}\n${"x=y\n".repeat(80_000)}\n`), /refused input: input longer than 262144 bytes/],
      [`protocol=http\r\nhost=${GIT_HOST}\n\n`, /refused input: line 1 contains a carriage return/],
      [`protocol=http\nhost=${GIT_HOST}\npath=a\u0000b\n\n`, /refused input: line 3 contains a NUL byte/],
      [`protocol=http\nhost ${GIT_HOST}\n\n`, /refused input: line 2 is not key=value/],
      [Buffer.from([0x70, 0x3d, 0xff, 0x0a, 0x0a]), /refused input: input is not valid UTF-8/],
    ];
    for (const [input, message] of cases) {
      for (const op of ["get", "erase", "store"]) {
        const r = await get(input, {}, op);
        expect(r.code, `${op}: ${r.stderr}`).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toMatch(message);
        expect(r.stderr.split("\n")).toHaveLength(2); // one line
      }
    }
  });

  it("no link: one line naming how to link, and quit=true (exit 5)", async () => {
    const r = await get(`protocol=http\nhost=${GIT_HOST}\n\n`, { TOKENBROKER_USER: "nobody" });
    expect(r.code).toBe(5);
    expect(r.stdout).toBe("quit=true\n");
    expect(r.stderr).toMatch(/^tokenbroker git-credential get: LINK_NOT_FOUND: .*tokenbroker link --user nobody --provider git.*\n$/);
  });

  it("the daemon down: one line saying so, quit=true (exit 4)", async () => {
    const r = await get(`protocol=http\nhost=${GIT_HOST}\n\n`, { TOKENBROKER_ADDR: `unix://${dir}/nothing-here.sock` });
    expect(r.code).toBe(4);
    expect(r.stdout).toBe("quit=true\n");
    expect(r.stderr).toBe(`tokenbroker git-credential get: cannot reach the daemon at unix://${dir}/nothing-here.sock (ENOENT); is it running? set TOKENBROKER_ADDR\n`);
  });

  it("no user and no caller token, or a bad address: a usage error (exit 2) naming the variable", async () => {
    const noUser = await get(`protocol=http\nhost=${GIT_HOST}\n\n`, { TOKENBROKER_USER: "" });
    expect(noUser.code).toBe(2);
    expect(noUser.stdout).toBe("quit=true\n");
    expect(noUser.stderr).toMatch(/set TOKENBROKER_USER/);
    const badAddr = await get(`protocol=http\nhost=${GIT_HOST}\n\n`, { TOKENBROKER_ADDR: "ftp://x" });
    expect(badAddr.code).toBe(2);
    expect(badAddr.stderr).toMatch(/TOKENBROKER_ADDR "ftp:\/\/x": unknown scheme/);
  });

  it("a URL no provider matches, or not http(s): nothing on stdout, exit 0 (other helpers may answer)", async () => {
    for (const input of ["protocol=https\nhost=elsewhere.example\n\n", "protocol=ssh\nhost=github.example\n\n", "protocol=cert\npath=/x.p12\n\n"]) {
      const r = await get(input);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe("");
    }
  });

  it("store is a no-op; erase without a password does nothing; a wrong operation is a usage error", async () => {
    const store = await get(`protocol=http\nhost=${GIT_HOST}\nusername=oauth2\npassword=${git.accessToken}\n\n`, {}, "store");
    expect([store.code, store.stdout, store.stderr]).toEqual([0, "", ""]);
    const erase = await get(`protocol=http\nhost=${GIT_HOST}\n\n`, {}, "erase");
    expect([erase.code, erase.stdout, erase.stderr]).toEqual([0, "", ""]);
    const wrong = await get("", {}, "fill");
    expect(wrong.code).toBe(2);
    expect(wrong.stdout).toBe("");
    expect(wrong.stderr).toMatch(/unknown operation "fill"/);
    // Still the same token: nothing was refreshed by any of it.
    expect(fake.refreshes).toBe(0);
  });

  it("erase of a Bearer credential (git 2.46+: authtype and credential instead of a password) refreshes once, as a password does", async () => {
    const input = `capability[]=authtype\nprotocol=https\nhost=ado.example\npath=org/project/_git/repo\nauthtype=Bearer\ncredential=${ado.accessToken}\n\n`;
    const before = fake.refreshes;
    const r = await get(input, {}, "erase");
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "", ""]);
    expect(fake.refreshes - before).toBe(1);
    const again = await get("capability[]=authtype\nprotocol=https\nhost=ado.example\npath=org/project/_git/repo\n\n");
    expect(attrs(again).credential).not.toBe(ado.accessToken);
    expect(fake.isValid(attrs(again).credential!)).toBe(true);
    // Reported again: no longer the stored one, nothing refreshed.
    await get(input, {}, "erase");
    expect(fake.refreshes - before).toBe(1);
  });

  it("no TOKENBROKER_USER but a caller token: the call goes out with an empty user_id, for the daemon to resolve from a job token", async () => {
    const r = await get(`protocol=http\nhost=${GIT_HOST}\n\n`, { TOKENBROKER_USER: "", TOKENBROKER_ADDR: `tcp://${daemon.tcpTarget!}`, TOKENBROKER_CALLER_TOKEN: TEST_CALLER_TOKEN });
    // The test caller is bound to no user, so the daemon names the empty field.
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("quit=true\n");
    expect(r.stderr).toMatch(/^tokenbroker git-credential get: INVALID_ARGUMENT: .*user_id.*\n$/);
    expect(r.stderr).not.toMatch(/set TOKENBROKER_USER/);
  });

  it("erase with a password over 16 KiB: the daemon refuses rejected_access_token (INVALID_ARGUMENT, exit 2) and nothing is refreshed", async () => {
    const before = fake.refreshes;
    const r = await get(`protocol=http\nhost=${GIT_HOST}\nusername=oauth2\npassword=${"t".repeat(20_000)}\n\n`, {}, "erase");
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^tokenbroker git-credential erase: INVALID_ARGUMENT: .*rejected_access_token.*16384 bytes.*\n$/);
    expect(r.stderr).not.toContain("tttt");
    expect(fake.refreshes).toBe(before);
  });
});
