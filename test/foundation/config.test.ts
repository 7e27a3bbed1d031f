import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { runCli, writeKeys } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";

const valid = (dir: string): string => `
listen:
  grpc: [ "unix://${dir}/tb.sock", "tcp://127.0.0.1:7480" ]
  http: "tcp://127.0.0.1:7481"
store: { sqlite: { path: ${dir}/tb.db } }
encryption: { keys_file: ${dir}/keys }
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, "test.yaml");
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("config validation (in process)", () => {
  it("accepts a minimal config and applies defaults", () => {
    const dir = tempDir();
    const c = parseConfig(valid(dir), join(dir, "c.yaml"));
    expect(c.listen.grpc.map((a) => a.kind)).toEqual(["unix", "tcp"]);
    expect(c.refresh).toMatchObject({ minValidForMs: 60_000, timeoutMs: 10_000, initialBackoffMs: 250, maxBackoffMs: 2000, providerConcurrency: 8 });
    expect(c.publicUrl).toBe("http://127.0.0.1:7481");
  });

  const base = (dir: string): Record<string, unknown> => parseYaml(valid(dir)) as Record<string, unknown>;
  it.each([
    ["unknown listener scheme", { listen: { grpc: ["udp://1.2.3.4:5"] } }, /^listen\.grpc\[0\]: unknown listener scheme "udp"/],
    ["bad tcp address", { listen: { grpc: ["tcp://localhost"] } }, /^listen\.grpc\[0\]: expected tcp:\/\/host:port/],
    ["empty store path", { store: { sqlite: { path: "" } } }, /^store\.sqlite\.path: must not be empty/],
    ["bad duration", { refresh: { min_valid_for: "ten" } }, /^refresh\.min_valid_for: not a duration/],
    ["unknown field", { refresh: { min_vaild_for: "10s" } }, /^refresh: unknown field "min_vaild_for"/],
    ["bad provider URL", { providers: [{ id: "gh", type: "github", client_id: "x", token_url: "not a url" }] }, /^providers\[0\]\.token_url: not an http\(s\) URL/],
    ["unknown provider type", { providers: [{ id: "gh", type: "nope", client_id: "x" }] }, /^providers\[0\]\.type: must be one of/],
    [
      "duplicate provider ids",
      { providers: [{ id: "gh", type: "github", client_id: "x" }, { id: "gh", type: "github", client_id: "y" }] },
      /^providers\[1\]\.id: duplicate id "gh"/,
    ],
    ["missing client_id", { providers: [{ id: "gh", type: "github" }] }, /^providers\[0\]\.client_id: required/],
    ["bad regex", { providers: [{ id: "gh", type: "github", client_id: "x", regex: "(" }] }, /^providers\[0\]\.regex: not a valid regular expression/],
    [
      "unreadable secret file",
      { providers: [{ id: "gh", type: "github", client_id: "x", client_secret_file: "/nonexistent/secret" }] },
      /^providers\[0\]\.client_secret_file: cannot read/,
    ],
    ["both key sources", { encryption: { keys_file: "a", keys_credential: "b" } }, /^encryption: set exactly one of keys_file or keys_credential/],
  ])("names the field: %s", (_name, override, expected) => {
    const dir = tempDir();
    const found = problems(stringifyYaml({ ...base(dir), ...override }));
    expect(found.some((p) => expected.test(p)), `problems were: ${JSON.stringify(found)}`).toBe(true);
  });

  it("reports bad YAML with a line number", () => {
    const found = problems("listen: [\n  grpc: {\n");
    expect(found[0]).toMatch(/^YAML line \d+:/);
  });
});

describe("config errors from the CLI", () => {
  it("exits 2 for a missing file, naming it", async () => {
    const r = await runCli(["serve", "--config", "/nonexistent/tokenbroker.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("/nonexistent/tokenbroker.yaml");
    expect(r.stderr).toContain("ENOENT");
  });

  it("exits 2 for bad YAML", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "c.yaml"), "listen: [ grpc: {\n");
    const r = await runCli(["serve", "--config", join(dir, "c.yaml")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/YAML line \d+/);
  });

  it("exits 2 for an unknown listener scheme, naming the field", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "c.yaml"), valid(dir).replace("tcp://127.0.0.1:7480", "http://127.0.0.1:7480"));
    const r = await runCli(["serve", "--config", join(dir, "c.yaml")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('listen.grpc[1]: unknown listener scheme "http"');
  });

  it("exits 2 for a store path whose directory does not exist, naming the field", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "c.yaml"), valid(dir).replace(`${dir}/tb.db`, "/nonexistent/dir/tb.db"));
    const r = await runCli(["serve", "--config", join(dir, "c.yaml")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("store.sqlite.path: directory /nonexistent/dir does not exist");
  });

  it("check-config validates without starting", async () => {
    const dir = tempDir();
    writeKeys(dir);
    writeFileSync(join(dir, "ok.yaml"), valid(dir));
    const ok = await runCli(["check-config", "--config", join(dir, "ok.yaml")]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("ok");
    writeFileSync(join(dir, "bad.yaml"), `${valid(dir)}\nbogus: 1\n`);
    const bad = await runCli(["check-config", "--config", join(dir, "bad.yaml")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('(top level): unknown field "bogus"');
  });
});
