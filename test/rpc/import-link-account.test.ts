import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import { daemonConfig, runCli, startServe, type ServingDaemon } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";
import { detailOf, grpcClient, grpcFailure, unary } from "../support/grpc.js";

/**
 * ImportLink's optional account and granted_scopes (issue 23 item 12):
 * stored, answered by GetLink and ListLinks, shown by `links`; bad values
 * are INVALID_ARGUMENT naming the field, and nothing is stored.
 */
describe("ImportLink account and granted_scopes, through the daemon process", () => {
  let dir: string;
  let daemon: ServingDaemon;
  let links: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  beforeAll(async () => {
    dir = tempDir("tb-import-account-");
    daemon = await startServe(daemonConfig(dir), dir);
    links = grpcClient(LinkService, daemon.unixTarget!);
  });
  afterAll(async () => {
    links?.close();
    await daemon?.stop();
  });

  const importLink = (userId: string, more: Record<string, unknown>) =>
    unary<{ link: Link }>(links, "importLink", { userId, providerId: "p", accessToken: `at-secret-${userId}`, refreshToken: `rt-secret-${userId}`, ...more });

  it("stores them; GetLink, ListLinks and `links` answer them; without them both are unknown", async () => {
    const { link } = await importLink("ann", { account: "ann@example.com", grantedScopes: ["repo", "read:org", "repo"] });
    expect([link.account, link.grantedScopes]).toEqual(["ann@example.com", ["repo", "read:org"]]);
    const { link: got } = await unary<{ link: Link }>(links, "getLink", { userId: "ann", providerId: "p" });
    expect([got.account, got.grantedScopes]).toEqual(["ann@example.com", ["repo", "read:org"]]);
    await importLink("ben", {});
    const listed = await runCli(["links", "--json", "--addr", daemon.unixTarget!]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ user_id: "ann", account: "ann@example.com", granted_scopes: ["repo", "read:org"] }),
      expect.objectContaining({ user_id: "ben", account: null, granted_scopes: null }),
    ]);
    const table = await runCli(["links", "--addr", daemon.unixTarget!]);
    expect(table.stdout).toMatch(/^PROVIDER\tUSER\tEXPIRES\tREFRESH\tACCOUNT\tSCOPES\np\tann\tnever\tyes\tann@example\.com\trepo,read:org\np\tben\tnever\tyes\t-\t-\n$/);
    for (const out of [listed.stdout, table.stdout, listed.stderr, table.stderr, daemon.output()]) expect(out).not.toContain("-secret-");
  });

  it.each([
    ["account", { account: "a".repeat(257) }],
    ["account", { account: "ann\nX: y" }],
    ["granted_scopes", { grantedScopes: ["repo user"] }],
    ["granted_scopes", { grantedScopes: [""] }],
    ["granted_scopes", { grantedScopes: Array.from({ length: 65 }, (_, i) => `s${i}`) }],
  ])("refuses a bad %s with INVALID_ARGUMENT naming it, storing nothing", async (field, more) => {
    const err = await grpcFailure(importLink("bad", more));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(detailOf(err)?.field).toBe(field);
    const missing = await grpcFailure(unary(links, "getLink", { userId: "bad", providerId: "p" }));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
  });
});
