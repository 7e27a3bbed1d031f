import { createHash } from "node:crypto";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TEST_CALLERS, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, unary } from "../support/grpc.js";

/** A caller that may only link: asking it for a token is SCOPE_MISSING. */
export const LINK_ONLY_TOKEN = "link-only-caller-token-0123456789";

/** A daemon for the CLI suites: a Unix socket and loopback TCP, the fake as provider "fake", short retries. */
export async function startCliDaemon(dir: string, fake: FakeProvider): Promise<ServingDaemon> {
  return startServe(
    {
      listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"], http: "tcp://127.0.0.1:0" },
      store: { sqlite: { path: `${dir}/tb.db` } },
      encryption: { keys_file: `${dir}/keys` },
      refresh: { timeout: "1s", retry_budget: "1s", initial_backoff: "50ms", max_backoff: "100ms" },
      shutdown_grace: "3s",
      callers: [...TEST_CALLERS, { name: "linker", token_sha256: createHash("sha256").update(LINK_ONLY_TOKEN).digest("hex"), scopes: ["link"] }],
      providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl, validate_url: fake.validateUrl }],
    },
    dir,
  );
}

/** Imports links over the Unix socket, `concurrency` calls at a time. */
export async function importLinks(target: string, links: Array<{ userId: string; accessToken: string; refreshToken: string; expiresAt: number }>, concurrency = 32): Promise<void> {
  const client = grpcClient(LinkService, target);
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < links.length) {
          const l = links[next++]!;
          await unary(client, "importLink", { userId: l.userId, providerId: "fake", accessToken: l.accessToken, refreshToken: l.refreshToken, expiresAt: timestampFromMs(l.expiresAt) });
        }
      }),
    );
  } finally {
    client.close();
  }
}
