/**
 * A YAML alias bomb in the config (issue 23 item 10): refused as a
 * configuration error in our words, exit 2 from check-config and serve,
 * instead of the yaml library's own message and exit 1. A config using a
 * few aliases still loads.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { runCli, writeKeys } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";

const levels = "abcdefghi".split("");
const BOMB = levels.map((l, i) => (i === 0 ? `${l}: &${l} ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` : `${l}: &${l} [${Array(9).fill(`*${levels[i - 1]}`).join(",")}]`)).join("\n");

it("parseConfig refuses an alias bomb as a ConfigError naming the cause", () => {
  let err: unknown;
  try {
    parseConfig(BOMB, "bomb.yaml");
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).problems).toEqual([expect.stringContaining("YAML: too many alias expansions")]);
});

it("a config with a few aliases still loads", () => {
  const dir = tempDir();
  const keys = writeKeys(dir);
  const config = parseConfig(
    [
      `listen: { grpc: ["unix://${dir}/tb.sock"] }`,
      `store: { sqlite: { path: ${dir}/tb.db } }`,
      `encryption: { keys_file: ${keys} }`,
      "providers:",
      "  - { id: one, type: oauth2, client_id: &client c, client_secret: &secret s, token_url: &url 'http://127.0.0.1:9/token' }",
      "  - { id: two, type: oauth2, client_id: *client, client_secret: *secret, token_url: *url }",
    ].join("\n"),
    "aliases.yaml",
  );
  expect(config.providers.map((p) => p.id)).toEqual(["one", "two"]);
});

it.each([["check-config"], ["serve"]])("%s exits 2 on an alias bomb, in our words", async (command) => {
  const dir = tempDir();
  const path = join(dir, "config.yaml");
  writeFileSync(path, BOMB);
  const r = await runCli([command, "--config", path]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`invalid configuration ${path}:`);
  expect(r.stderr).toContain("too many alias expansions");
  expect(r.stderr).not.toContain("resource exhaustion attack");
});
