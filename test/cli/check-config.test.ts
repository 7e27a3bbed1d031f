import { execFile } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { daemonConfig, runCli, writeKeys } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";

/**
 * `set -eu` inside the script, not `bash -euc`: bash started with a socket as
 * stdin (Node's pipes) and SHLVL < 2 sources /etc/bash.bashrc as if run by
 * sshd, and Debian's bashrc reads $PS1 unset — fatal under -u.
 */
const NOUNSET = "set -eu\n";

/**
 * Issue 14: check-config checks what serve checks (the keys file parsed,
 * secrets readable; discovery only with --online), and a store directory
 * that systemd's StateDirectory= creates is a warning, not an error.
 */

const ROOT = resolve(import.meta.dirname, "../..");
const EXAMPLE = resolve(ROOT, "deploy/systemd/config.example.yaml");

function writeConfig(dir: string, over: Record<string, unknown> = {}): string {
  const path = join(dir, "config.yaml");
  writeFileSync(path, stringify(daemonConfig(dir, over)));
  return path;
}

describe("check-config", () => {
  it("rejects a keys file serve would reject, with exit 2 — and serve exits 2 on it too", async () => {
    const dir = tempDir();
    const config = writeConfig(dir);
    writeKeys(dir, ["not base64 at all!"]);
    const check = await runCli(["check-config", "--config", config]);
    expect(check.code).toBe(2);
    expect(check.stderr).toContain(`keys file ${dir}/keys line 1: not base64`);
    expect(check.stdout).toBe("");
    const serve = await runCli(["serve", "--config", config]);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain("line 1: not base64");

    writeKeys(dir, []);
    expect((await runCli(["check-config", "--config", config])).code).toBe(2);
    const missing = writeConfig(dir, { encryption: { keys_file: `${dir}/no-such-keys` } });
    const r = await runCli(["check-config", "--config", missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("cannot read: no such file");
  });

  it("accepts a good config, naming the key id, and warns about a keys file others can read", async () => {
    const dir = tempDir();
    const config = writeConfig(dir);
    writeKeys(dir);
    const ok = await runCli(["check-config", "--config", config]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/: ok \(1 provider; key [0-9a-f]{8}\)\n$/);
    expect(ok.stderr).toBe("");
    chmodSync(join(dir, "keys"), 0o644);
    const loose = await runCli(["check-config", "--config", config]);
    expect(loose.code).toBe(0);
    expect(loose.stderr).toMatch(/^warning: .*accessible by group or others/m);
  });

  it("rejects an unreadable client secret file", async () => {
    const dir = tempDir();
    writeKeys(dir);
    const config = writeConfig(dir, { providers: [{ id: "p", type: "oauth2", client_id: "c", client_secret_file: `${dir}/missing.secret`, token_url: "http://127.0.0.1:9/token" }] });
    const r = await runCli(["check-config", "--config", config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`providers[0].client_secret_file: cannot read ${dir}/missing.secret (ENOENT)`);
  });

  it("accepts the shipped example (credentials as the service gets them) with a warning for /var/lib/tokenbroker", async () => {
    const creds = tempDir();
    writeFileSync(join(creds, "tokenbroker-keys"), `${Buffer.alloc(32, 9).toString("base64")}\n`, { mode: 0o600 });
    writeFileSync(join(creds, "github-client-secret"), "s3cret", { mode: 0o600 });
    const r = await runCli(["check-config", "--config", EXAMPLE], { env: { CREDENTIALS_DIRECTORY: creds } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${EXAMPLE}: ok (1 provider; key `);
    expect(r.stderr).toBe("warning: store.sqlite.path: directory /var/lib/tokenbroker does not exist yet; systemd creates it at start for StateDirectory=tokenbroker\n");
  });

  it("the README's check of the shipped example runs as written from the checkout: ok, exit 0 (issue 23 item 7)", async () => {
    const readme = readFileSync(resolve(ROOT, "README.md"), "utf8");
    const block = /The shipped example \(`deploy\/systemd\/config\.example\.yaml`\)[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    // mktemp -d under a directory this test removes.
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((res) =>
      execFile("bash", ["-c", `${NOUNSET}${block!}`], { cwd: ROOT, env: { ...process.env, TMPDIR: tempDir(), CREDENTIALS_DIRECTORY: "" } }, (err, stdout, stderr) =>
        res({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr }),
      ),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^deploy\/systemd\/config\.example\.yaml: ok \(1 provider; key \S+\)\n$/);
    expect(r.stderr).toBe("warning: store.sqlite.path: directory /var/lib/tokenbroker does not exist yet; systemd creates it at start for StateDirectory=tokenbroker\n");
  });

  it("the shipped example with an empty credentials directory, or none: every missing credential named, exit 2", async () => {
    const creds = tempDir();
    const empty = await runCli(["check-config", "--config", EXAMPLE], { env: { CREDENTIALS_DIRECTORY: creds } });
    expect(empty.code).toBe(2);
    expect(empty.stdout).toBe("");
    expect(empty.stderr).toContain(`providers[0].client_secret_credential: cannot read credential github-client-secret (ENOENT)`);
    expect(empty.stderr).toMatch(/encryption\.keys_credential: keys credential tokenbroker-keys \(.*tokenbroker-keys\): cannot read: no such file/);
    const unset = await runCli(["check-config", "--config", EXAMPLE], { env: { CREDENTIALS_DIRECTORY: "" } });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain("providers[0].client_secret_credential: CREDENTIALS_DIRECTORY is not set");
    expect(unset.stderr).toContain("encryption.keys_credential: keys credential tokenbroker-keys: CREDENTIALS_DIRECTORY is not set");
    // Only the secret there: the keys alone are named.
    writeFileSync(join(creds, "github-client-secret"), "s3cret", { mode: 0o600 });
    const keysOnly = await runCli(["check-config", "--config", EXAMPLE], { env: { CREDENTIALS_DIRECTORY: creds } });
    expect(keysOnly.code).toBe(2);
    expect(keysOnly.stderr.trimEnd().split("\n")).toHaveLength(2);
    expect(keysOnly.stderr).toContain("encryption.keys_credential:");
  });

  it("a credential name that leaves the credentials directory is refused once per field, by name, nothing read (exit 2)", async () => {
    const dir = tempDir();
    const creds = join(dir, "creds");
    writeFileSync(join(dir, "outside"), "outside-s3cret\n", { mode: 0o600 });
    const config = writeConfig(dir, {
      encryption: { keys_credential: "../outside" },
      providers: [{ id: "p", type: "oauth2", client_id: "c", client_secret_credential: "../outside", token_url: "http://127.0.0.1:9/token" }],
    });
    const r = await runCli(["check-config", "--config", config], { env: { CREDENTIALS_DIRECTORY: creds } });
    expect(r.code).toBe(2);
    const why = '"../outside": not a valid credential name (a file name inside $CREDENTIALS_DIRECTORY)';
    expect(r.stderr.trimEnd().split("\n").slice(1).sort()).toEqual([`  encryption.keys_credential: ${why}`, `  providers[0].client_secret_credential: ${why}`]);
    expect(r.stderr + r.stdout).not.toContain("outside-s3cret");
  });

  it("serve still needs the store directory to exist", async () => {
    const dir = tempDir();
    writeKeys(dir);
    const config = writeConfig(dir, { store: { sqlite: { path: "/var/lib/tokenbroker-test-absent/tb.db" } } });
    const check = await runCli(["check-config", "--config", config]);
    expect(check.code).toBe(0);
    expect(check.stderr).toContain("StateDirectory=tokenbroker-test-absent");
    const serve = await runCli(["serve", "--config", config]);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain("store.sqlite.path: directory /var/lib/tokenbroker-test-absent does not exist");
  });

  it("fetches oidc discovery only with --online", async () => {
    const server = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (server.address() as { port: number }).port;
      const dir = tempDir();
      writeKeys(dir);
      const config = writeConfig(dir, { providers: [{ id: "idp", type: "oidc", issuer: `http://127.0.0.1:${port}`, client_id: "c", client_secret: "s" }] });
      const offline = await runCli(["check-config", "--config", config]);
      expect(offline.code, offline.stderr).toBe(0);
      expect(offline.stdout).toContain("discovery not checked (use --online)");
      const online = await runCli(["check-config", "--config", config, "--online"]);
      expect(online.code).toBe(2);
      expect(online.stderr).toContain(`provider idp: OIDC discovery at http://127.0.0.1:${port} failed`);
    } finally {
      server.close();
    }
  });
});
