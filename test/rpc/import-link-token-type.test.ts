import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { daemonConfig, startServe, type ServingDaemon } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";
import { detailOf, grpcClient, grpcFailure, unary } from "../support/grpc.js";

/**
 * ImportLink's token_type: at most 64 bytes of token68-ish characters
 * (letters, digits, `-._~+/`), since it is handed back to callers who put it
 * in an Authorization header. A refusal names token_type and stores nothing.
 */
describe("ImportLink token_type, through the daemon process", () => {
  let dir: string;
  let daemon: ServingDaemon;
  let links: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  let tokens: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  beforeAll(async () => {
    dir = tempDir("tb-token-type-");
    // Its provider is never contacted: imported tokens without an expiry are served as they are.
    daemon = await startServe(daemonConfig(dir), dir);
    links = grpcClient(LinkService, daemon.unixTarget!);
    tokens = grpcClient(TokenService, daemon.unixTarget!);
  });
  afterAll(async () => {
    links?.close();
    tokens?.close();
    await daemon?.stop();
  });

  const importLink = (userId: string, tokenType: string, accessToken = `at-${userId}`) =>
    unary(links, "importLink", { userId, providerId: "p", accessToken, refreshToken: `rt-${userId}`, tokenType });
  const obtain = (userId: string) => unary<{ token: Token }>(tokens, "obtainAccessToken", { userId, providerId: "p" });

  it("accepts the usual schemes and anything token68-ish up to 64 bytes, and hands it back", async () => {
    const good = ["Bearer", "bearer", "DPoP", "MAC", "N_A", "a-b.c_d~e+f/g", "x".repeat(64)];
    for (const [i, type] of good.entries()) {
      await importLink(`good-${i}`, type);
      expect((await obtain(`good-${i}`)).token.tokenType).toBe(type);
    }
    await importLink("unset", "");
    expect((await obtain("unset")).token.tokenType).toBe("bearer");
  });

  it("refuses longer values and any other character with INVALID_ARGUMENT naming token_type, storing nothing", async () => {
    const bad = ["x".repeat(65), "Bearer x", "bearer\n", "bearer\r\nX-Injected: 1", "\tbearer", "bearer\u0000", "bé", "béarer", "a=b", "a;b", "a,b", "<script>", '"bearer"', "bearer\u2028", "\u00a0bearer", "a\\b", "a:b"];
    for (const [i, type] of bad.entries()) {
      const err = await grpcFailure(importLink(`bad-${i}`, type));
      expect(err.code, JSON.stringify(type)).toBe(grpc.status.INVALID_ARGUMENT);
      expect(detailOf(err)?.reason).toBe("INVALID_ARGUMENT");
      expect(detailOf(err)?.field).toBe("token_type");
      const missing = await grpcFailure(unary(links, "getLink", { userId: `bad-${i}`, providerId: "p" }));
      expect(missing.code, JSON.stringify(type)).toBe(grpc.status.NOT_FOUND);
    }
  });

  it("a refused re-import leaves the existing link as it was", async () => {
    await importLink("keep", "Bearer", "at-keep-1");
    const err = await grpcFailure(importLink("keep", "Bearer x", "at-keep-2"));
    expect(detailOf(err)?.field).toBe("token_type");
    expect((await obtain("keep")).token).toMatchObject({ accessToken: "at-keep-1", tokenType: "Bearer" });
  });
});
