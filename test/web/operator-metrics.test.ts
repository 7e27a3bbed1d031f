/**
 * The operator's gauges (issue 23 item 12): build info, links by state and
 * the served TLS certificate's expiry — which follows a SIGHUP reload — on a
 * live daemon, promtool-clean, with no user id or token in them.
 */
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync } from "node:fs";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { TEST_CALLERS, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { pollUntil } from "../support/poll.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { makeCa, makeCert } from "../integration/tls-certs.js";

const promtool = spawnSync("promtool", ["--version"]).status === 0;
const USER_OK = "metrics-healthy-user-4b1e";
const USER_GONE = "metrics-gone-user-9c2d";
const notAfterSec = (pem: Buffer): number => Math.floor(Date.parse(new X509Certificate(pem).validTo) / 1000);

describe("operator metrics on a live daemon", () => {
  let dir: string;
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let live: { cert: string; key: string };
  let firstPem: Buffer;
  const scrape = async (): Promise<string> => (await fetch(`${daemon.httpBaseUrl!}/metrics`)).text();

  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: 3600 });
    const ca = makeCa(dir, "ca", "tokenbroker test CA");
    const first = makeCert(dir, "server", ca, "tokenbroker", "server", { days: 2 });
    firstPem = first.certPem;
    live = { cert: `${dir}/live.crt`, key: `${dir}/live.key` };
    copyFileSync(first.cert, live.cert);
    copyFileSync(first.key, live.key);
    daemon = await startServe(
      {
        listen: { grpc: [`unix://${dir}/tb.sock`, { address: "tcp://127.0.0.1:0", tls: { cert_file: live.cert, key_file: live.key } }], http: "tcp://127.0.0.1:0" },
        store: { sqlite: { path: `${dir}/tb.db` } },
        encryption: { keys_file: `${dir}/keys` },
        shutdown_grace: "3s",
        callers: TEST_CALLERS,
        providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl }],
      },
      dir,
    );
    const links = grpcClient(LinkService, daemon.unixTarget!);
    const ok = fake.issue();
    await unary(links, "importLink", { userId: USER_OK, providerId: "fake", ...ok, expiresAt: timestampFromMs(Date.now() + 3_600_000) });
    // The second link's refresh token is revoked at the provider: its next refresh fails for good.
    const gone = fake.issue();
    await unary(links, "importLink", { userId: USER_GONE, providerId: "fake", ...gone, expiresAt: timestampFromMs(Date.now() - 60_000) });
    links.close();
    fake.revoke(gone.refreshToken!);
    const tokens = grpcClient(TokenService, daemon.unixTarget!);
    await grpcFailure(unary(tokens, "obtainAccessToken", { userId: USER_GONE, providerId: "fake" }));
    tokens.close();
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it("build info, links by state and the certificate's expiry; promtool-clean; no user id or token", async () => {
    const text = await scrape();
    expect(text).toContain(`tokenbroker_build_info{version="`);
    expect(text).toMatch(new RegExp(`^tokenbroker_build_info\\{version="\\d+\\.\\d+\\.\\d+[^"]*",node="${process.version.replace(/\./g, "\\.")}"\\} 1$`, "m"));
    expect(text).toMatch(/^tokenbroker_links\{state="healthy"\} 1$/m);
    expect(text).toMatch(/^tokenbroker_links\{state="needs_relink"\} 1$/m);
    const listener = daemon.grpc.find((u) => u.startsWith("tcp://"))!;
    expect(text).toContain(`tokenbroker_tls_certificate_expiry_seconds{listener="${listener}"} ${notAfterSec(firstPem)}`);
    expect(text).not.toContain(USER_OK);
    expect(text).not.toContain(USER_GONE);
    for (const t of fake.issuedTokens()) expect(text).not.toContain(t);
    if (promtool) {
      const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      expect(r.stdout + r.stderr).toBe("");
      expect(r.status).toBe(0);
    }
  });

  it("after a renewed certificate and SIGHUP, the expiry is the new certificate's", async () => {
    const ca = makeCa(dir, "ca2", "tokenbroker test CA 2");
    const renewed = makeCert(dir, "renewed", ca, "tokenbroker", "server", { days: 30 });
    copyFileSync(renewed.cert, live.cert);
    copyFileSync(renewed.key, live.key);
    daemon.child.kill("SIGHUP");
    const want = `} ${notAfterSec(renewed.certPem)}`;
    await pollUntil("the renewed expiry", scrape, (t) => t.split("\n").some((l) => l.startsWith("tokenbroker_tls_certificate_expiry_seconds{") && l.endsWith(want)), 20_000);
  });
});
