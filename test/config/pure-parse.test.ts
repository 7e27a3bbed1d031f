/**
 * Loading a config is two steps: parsing, which reads no file, then reading
 * what the config names. A config naming files that do not exist parses
 * cleanly, keeping the files as names; only the second step finds them missing.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkConfig } from "../../src/config/check.js";
import { readConfigFiles } from "../../src/config/files.js";
import { configSchema } from "../../src/config/schema.js";
import { tempDir } from "../support/temp-dir.js";

const dir = tempDir("tb-pure-");
const absent = join(dir, "absent");

const raw = {
  listen: { grpc: [{ address: "tcp://127.0.0.1:0", tls: { cert_file: "absent/cert.pem", key_file: `${absent}/key.pem` } }] },
  store: { sqlite: { path: "absent/tb.db" } },
  encryption: { keys_credential: "keys" },
  refresh: { timeout: "2s", lease_ttl: "1m30s" },
  providers: [{ id: "gh", type: "github", client_id: "cid", client_secret_file: "absent/secret" }],
};

describe("parsing a config", () => {
  it("reads no file: files stay names (made absolute), durations become milliseconds, each 'one of' a tagged union", () => {
    const { plan, problems } = checkConfig(configSchema(dir).parse(raw), join(dir, "config.yaml"));
    expect(problems).toEqual([]);
    expect(plan.store).toEqual({ kind: "sqlite", path: `${absent}/tb.db`, cacheEntries: 10_000 });
    expect(plan.encryption).toEqual({ kind: "credential", name: "keys" });
    expect(plan.providers[0]?.clientSecret).toEqual({ kind: "file", path: `${absent}/secret` });
    expect(plan.listen.grpc[0]?.tls).toEqual({ certFile: `${absent}/cert.pem`, keyFile: `${absent}/key.pem` });
    expect(plan.refresh).toMatchObject({ timeoutMs: 2000, leaseTtlMs: 90_000, minValidForMs: 60_000 });
  });

  it("then reading them reports each missing file, naming its YAML field", () => {
    const { plan } = checkConfig(configSchema(dir).parse(raw), join(dir, "config.yaml"));
    const { problems } = readConfigFiles(plan, {});
    expect(problems).toEqual([
      `providers[0].client_secret_file: cannot read ${absent}/secret (ENOENT)`,
      `listen.grpc[0].tls.cert_file: cannot read ${absent}/cert.pem`,
      `listen.grpc[0].tls.key_file: cannot read ${absent}/key.pem`,
      `store.sqlite.path: directory ${absent} does not exist`,
    ]);
  });
});
