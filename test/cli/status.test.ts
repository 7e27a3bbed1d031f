import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { importLinks, startCliDaemon } from "./cli-daemon.js";

/**
 * Issue 14: `tokenbroker status` shows health, listeners, store, keys,
 * providers (misconfigured flagged) and the links needing re-link;
 * `links --needs-relink` lists only links whose refresh failed.
 */
describe("status and links --needs-relink", () => {
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let dir: string;
  let addr: string;

  beforeAll(async () => {
    dir = tempDir("tb-cli-status-");
    fake = await useFakeProvider({ expiresInSec: 3600 });
    daemon = await startCliDaemon(dir, fake);
    addr = daemon.unixTarget!;
    await importLinks(addr, [
      { userId: "healthy", ...fake.issue({ accessTtlSec: 3600 }) },
      { userId: "broken", ...fake.issue({ accessTtlSec: 1 }) },
      { userId: "misconf", ...fake.issue({ accessTtlSec: 1 }) },
    ]);
    fake.failNext(1, { oauthError: "invalid_grant" });
    expect((await runCli(["token", "--user", "broken", "--provider", "fake", "--addr", addr])).code).toBe(3);
    // The provider refuses our client credentials: the provider is flagged, the user's link is not failed.
    fake.failNext(1, { oauthError: "invalid_client" });
    expect((await runCli(["token", "--user", "misconf", "--provider", "fake", "--addr", addr])).stderr).toContain("PROVIDER_MISCONFIGURED");
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it("links --needs-relink lists the failed link only, as a table and as JSON", async () => {
    const table = await runCli(["links", "--needs-relink", "--addr", addr]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^PROVIDER\tUSER\tEXPIRES\tREFRESH\tACCOUNT\tSCOPES\nfake\tbroken\t\S+\tfailed: re-link\t-\t\S+\n$/);
    const json = await runCli(["links", "--needs-relink", "--json", "--addr", addr]);
    const links = JSON.parse(json.stdout) as Array<{ user_id: string; has_refresh_token: boolean; refresh_failed_at: string | null }>;
    expect(links).toHaveLength(1);
    expect(links[0]).toMatchObject({ user_id: "broken", has_refresh_token: false });
    expect(Date.parse(links[0]!.refresh_failed_at!)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("status --json: health, version, listeners, store, keys, providers and links needing re-link", async () => {
    const r = await runCli(["status", "--json", "--addr", addr]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown> & {
      keys: Array<{ key_id: string; active: boolean; sealed_values: number }>;
      providers: Array<{ id: string; misconfigured: boolean; misconfigured_reason: string | null }>;
      needs_relink: Array<{ user_id: string; provider_id: string }>;
    };
    expect(s.health).toBe("SERVING");
    expect(s.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(s.listeners).toEqual(daemon.grpc.concat(daemon.http ?? []));
    // What each listener speaks, and the --addr that reaches it (issue 23 item 2).
    const web = daemon.http!.slice("tcp://".length);
    expect(s.listener_details).toEqual([
      { address: daemon.unixTarget, protocol: "grpc", tls: false, mtls: false, cli_address: daemon.unixTarget },
      { address: `tcp://${daemon.tcpTarget}`, protocol: "grpc", tls: false, mtls: false, cli_address: `tcp://${daemon.tcpTarget}` },
      { address: daemon.http, protocol: "connect", tls: false, mtls: false, cli_address: `http://${web}` },
    ]);
    expect(s.store_problem).toBeNull();
    expect(s.store).toBe(`sqlite ${dir}/tb.db`);
    expect(s.keys).toHaveLength(1);
    expect(s.keys[0]).toMatchObject({ active: true });
    expect(s.keys[0]!.sealed_values).toBeGreaterThan(0);
    expect(s.providers).toEqual([{ id: "fake", type: "oauth2", misconfigured: true, misconfigured_reason: expect.stringContaining("invalid_client") }]);
    expect(s.links).toBe(3);
    expect(s.needs_relink).toEqual([expect.objectContaining({ user_id: "broken", provider_id: "fake" })]);
  });

  it("status as text flags the misconfigured provider and lists the link to re-link", async () => {
    const r = await runCli(["status", "--addr", addr]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^health: +SERVING$/m);
    expect(r.stdout).toContain(`store:      sqlite ${dir}/tb.db`);
    expect(r.stdout).toMatch(/^ {2}fake \(oauth2\) {2}MISCONFIGURED: .*invalid_client/m);
    expect(r.stdout).toMatch(/^links: +3, 1 needs re-link$/m);
    expect(r.stdout).toMatch(/^ {2}fake\tbroken\trefresh failed at \S+$/m);
    expect(r.stdout).toContain(`listeners:\n  ${daemon.unixTarget}  gRPC, no TLS\n  tcp://${daemon.tcpTarget}  gRPC, no TLS\n  ${daemon.http}  Connect, gRPC-Web, no TLS  (--addr ${daemon.httpBaseUrl})\n`);
    // No line ends in spaces (issue 23 item 11).
    expect(r.stdout.split("\n").filter((l) => /\s$/.test(l))).toEqual([]);
  });
});
