/**
 * Callers reloaded on SIGHUP, like the TLS files (issue 23 item 12): the
 * config file is changed, the daemon gets SIGHUP, the new caller's token
 * works and the removed one's answers UNAUTHENTICATED, without a restart.
 * A config that no longer loads leaves the callers as they were.
 */
import * as grpc from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { detailOf, grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { pollUntil } from "../support/poll.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";

const OLD_TOKEN = "old-caller-token-reload-0123456789";
const NEW_TOKEN = "new-caller-token-reload-9876543210";
const caller = (name: string, token: string) => ({ name, token_sha256: createHash("sha256").update(token).digest("hex"), scopes: ["token"] });

describe("callers reloaded on SIGHUP", () => {
  let dir: string;
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let config: Record<string, unknown>;
  let seed: { accessToken: string };

  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: 3600 });
    config = {
      listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"] },
      store: { sqlite: { path: `${dir}/tb.db` } },
      encryption: { keys_file: `${dir}/keys` },
      shutdown_grace: "3s",
      callers: [caller("old", OLD_TOKEN)],
      providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl }],
    };
    daemon = await startServe(config, dir);
    seed = fake.issue();
    const links = grpcClient(LinkService, daemon.unixTarget!);
    await unary(links, "importLink", { userId: "alice", providerId: "fake", ...seed, expiresAt: timestampFromMs(Date.now() + 3_600_000) });
    links.close();
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  async function callAs(token: string): Promise<{ token?: string; code?: number; reason?: string | undefined }> {
    const client = grpcClient(TokenService, daemon.tcpTarget!, { callerToken: token });
    try {
      const res = await unary<{ token: Token }>(client, "obtainAccessToken", { userId: "alice", providerId: "fake" });
      return { token: res.token.accessToken };
    } catch (e) {
      const err = await grpcFailure(Promise.reject(e));
      return { code: err.code, reason: detailOf(err)?.reason };
    } finally {
      client.close();
    }
  }

  async function hangup(message: string): Promise<void> {
    const seen = daemon.output().split(message).length;
    daemon.child.kill("SIGHUP");
    await pollUntil(`"${message}" logged`, () => daemon.output().split(message).length, (n) => n > seen, 20_000);
  }

  it("the new caller's token works and the removed one's answers UNAUTHENTICATED", async () => {
    expect(await callAs(OLD_TOKEN)).toEqual({ token: seed.accessToken });
    expect(await callAs(NEW_TOKEN)).toEqual({ code: grpc.status.UNAUTHENTICATED, reason: "CALLER_UNKNOWN" });

    writeFileSync(join(dir, "config.yaml"), stringify({ ...config, callers: [caller("new", NEW_TOKEN)] }));
    await hangup("callers reloaded");
    expect(await callAs(NEW_TOKEN)).toEqual({ token: seed.accessToken });
    expect(await callAs(OLD_TOKEN)).toEqual({ code: grpc.status.UNAUTHENTICATED, reason: "CALLER_UNKNOWN" });
    const line = daemon.output().split("\n").find((l) => l.includes("callers reloaded"))!;
    expect(JSON.parse(line)).toMatchObject({ callers: 1, added: ["new"], removed: ["old"] });
    // The log names callers, never their tokens.
    expect(daemon.output()).not.toContain(NEW_TOKEN);
    expect(daemon.output()).not.toContain(OLD_TOKEN);
  });

  it("a config that does not load leaves the callers as they were, saying why", async () => {
    writeFileSync(join(dir, "config.yaml"), stringify({ ...config, callers: [{ name: "broken", token_sha256: "not-hex", scopes: ["token"] }] }));
    await hangup("callers not reloaded");
    expect(daemon.output()).toMatch(/callers\[0\]\.token_sha256: must be 64 hex characters/);
    expect(await callAs(NEW_TOKEN)).toEqual({ token: seed.accessToken });
  });
});
