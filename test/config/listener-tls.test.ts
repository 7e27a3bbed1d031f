import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, resolveConfig } from "../../src/config/load.js";
import { tempDir } from "../support/temp-dir.js";
import { makeCa, makeCert } from "../integration/tls-certs.js";

function configIn(dir: string, over: Record<string, unknown>): Record<string, unknown> {
  return { store: { sqlite: { path: `${dir}/tb.db` } }, encryption: { keys_file: `${dir}/keys` }, ...over };
}

function problems(raw: Record<string, unknown>, dir: string): string[] {
  try {
    resolveConfig(raw, join(dir, "c.yaml"));
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("listener TLS and callers' certificate names", () => {
  const dir = tempDir();
  const ca = makeCa(dir, "ca", "test CA");
  makeCert(dir, "server", ca, "tokenbroker", "server");
  const other = makeCert(dir, "other", ca, "other", "server");
  writeFileSync(join(dir, "garbage.crt"), "not a certificate\n");
  const tls = { cert_file: "server.crt", key_file: "server.key", client_ca_file: "ca.crt" };

  it("allows a non-loopback TCP listener with TLS, files resolved against the config's directory", () => {
    const c = resolveConfig(configIn(dir, { listen: { grpc: [{ address: "tcp://0.0.0.0:7480", tls }], http: { address: "tcp://[::]:7481", tls } } }), join(dir, "c.yaml"));
    expect(c.listen.grpc[0]).toMatchObject({ kind: "tcp", host: "0.0.0.0", tls: { certFile: join(dir, "server.crt"), keyFile: join(dir, "server.key"), clientCaFile: join(dir, "ca.crt") } });
    expect(c.listen.http?.tls?.certFile).toBe(join(dir, "server.crt"));
    expect(c.publicUrl).toBe("https://[::]:7481");
  });

  it.each([
    ["a non-loopback gRPC listener without TLS", { listen: { grpc: ["tcp://0.0.0.0:7480"] } }, /^listen\.grpc\[0\]: 0\.0\.0\.0 is not a loopback address; a listener beyond loopback needs tls/],
    ["a non-loopback web listener without TLS", { listen: { http: "tcp://10.1.2.3:7481" } }, /^listen\.http: 10\.1\.2\.3 is not a loopback address; a listener beyond loopback needs tls/],
    ["TLS on a Unix socket", { listen: { grpc: [{ address: `unix://${dir}/tb.sock`, tls }] } }, /^listen\.grpc\[0\]\.tls: only for tcp:\/\/ listeners/],
    ["an unreadable certificate file", { listen: { grpc: [{ address: "tcp://127.0.0.1:0", tls: { ...tls, cert_file: "missing.crt" } }] } }, /^listen\.grpc\[0\]\.tls\.cert_file: cannot read .*missing\.crt$/],
    ["a certificate file that is not PEM", { listen: { grpc: [{ address: "tcp://127.0.0.1:0", tls: { ...tls, cert_file: "garbage.crt" } }] } }, /^listen\.grpc\[0\]\.tls: TLS files .*garbage\.crt and .*server\.key: /],
    ["a key of another certificate", { listen: { grpc: [{ address: "tcp://127.0.0.1:0", tls: { ...tls, key_file: other.key } }] } }, /^listen\.grpc\[0\]\.tls: TLS files .*: .*key values mismatch/],
    ["TLS without a key", { listen: { grpc: [{ address: "tcp://127.0.0.1:0", tls: { cert_file: "server.crt" } }] } }, /^listen\.grpc\[0\]\.tls\.key_file: required$/],
    ["an unknown listener field", { listen: { grpc: [{ address: "tcp://127.0.0.1:0", tlz: {} }] } }, /^listen\.grpc\[0\]: unknown field "tlz"$/],
    ["a listener that is neither string nor object", { listen: { grpc: [7480] } }, /^listen\.grpc\[0\]: expected "unix:\/\/\/path", "tcp:\/\/host:port" or \{ address, allow_tokenless, tls/],
    ["a TCP listener allowing tokenless calls", { listen: { grpc: [{ address: "tcp://127.0.0.1:0", allow_tokenless: true }] } }, /^listen\.grpc\[0\]\.allow_tokenless: only a unix:\/\/ listener may serve tokenless calls/],
    ["a caller matched by neither uid nor gid", { listen: { grpc: ["tcp://127.0.0.1:0"] }, callers: [{ name: "x", match: {}, scopes: ["token"] }] }, /^callers\[0\]\.match: set uid, gid or both$/],
    ["a caller with neither token nor certificate names", { listen: { grpc: ["tcp://127.0.0.1:0"] }, callers: [{ name: "x", scopes: ["token"] }] }, /^callers\[0\]: set token_sha256, cert_names, match or several$/],
  ])("refuses %s, naming the field", (_what, over, expected) => {
    const found = problems(configIn(dir, over), dir);
    expect(found.some((p) => expected.test(p)), found.join("\n")).toBe(true);
  });

  it("accepts a caller known only by its certificate names", () => {
    const c = resolveConfig(configIn(dir, { listen: { grpc: ["tcp://127.0.0.1:0"] }, callers: [{ name: "agent", cert_names: ["build-agent"], scopes: ["token"] }] }), join(dir, "c.yaml"));
    expect(c.callers).toEqual([{ name: "agent", tokenSha256: undefined, certNames: ["build-agent"], scopes: ["token"] }]);
  });

  it("resolves audit.file against the config's directory", () => {
    const c = resolveConfig(configIn(dir, { listen: { grpc: ["tcp://127.0.0.1:0"] }, audit: { file: "audit/tokenbroker.audit.log" } }), join(dir, "c.yaml"));
    expect(c.auditFile).toBe(join(dir, "audit/tokenbroker.audit.log"));
  });
});
