import Database from "better-sqlite3";
import { join } from "node:path";
import { status as grpcStatus } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import { tempDir } from "../support/temp-dir.js";
import { enableLinkFlows, type LinkFlows } from "../support/fake-link-flows.js";
import { followToCallback } from "../support/fake-oidc-login.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { detailOf, grpcFailure, unary } from "../support/grpc.js";
import { ALLOWED_ORIGIN, EVIL, KNOWN_BAD, KNOWN_GOOD, fuzzTargets } from "../support/redirect-targets.js";
import { startLinkDaemon, visit, type LinkDaemon } from "./link-helpers.js";

/**
 * redirect_after through the daemon process (docs/design.md §6): StartLink
 * refuses every target a browser would follow off public_url's origin or the
 * allow-list — judged after WHATWG URL resolution, with no control or
 * whitespace character at all — and stores nothing for it; the callback
 * re-judges the stored target, sends the resolved URL, and never answers 500
 * for a target that no longer passes.
 */

const GH = "gh";

describe("redirect_after: StartLink and the web callback", () => {
  let gh: FakeProvider;
  let ghFlows: LinkFlows;
  let tb: LinkDaemon;
  let db: Database.Database;
  let allowed: Set<string>;

  beforeAll(async () => {
    gh = await useFakeProvider({ mode: "github", clientId: "Iv1.redirect-client", clientSecret: "gh-redirect-secret-5c4b3a29" });
    ghFlows = enableLinkFlows(gh);
    const providers = [{ id: GH, type: "github", client_id: gh.clientId, client_secret: gh.clientSecret, auth_url: ghFlows.authorizeUrl, token_url: gh.tokenUrl, validate_url: gh.validateUrl }];
    tb = await startLinkDaemon(tempDir("tb-redirect-"), providers, { extra: { redirect_allowlist: [ALLOWED_ORIGIN] } });
    db = new Database(join(tb.dir, "tb.db"));
    db.pragma("busy_timeout = 5000");
    allowed = new Set([new URL(tb.publicUrl).origin, ALLOWED_ORIGIN]);
  });
  afterAll(async () => {
    db?.close();
    await tb?.stop();
  });

  const flowCount = (): number => (db.prepare("SELECT count(*) AS n FROM auth_flows").get() as { n: number }).n;
  const startLink = (userId: string, redirectAfter: string) =>
    unary<{ authorizeUrl: string; state: string }>(tb.links, "startLink", { userId, providerId: GH, redirectAfter });

  /** A browser's whole trip: authorize, back to the callback, then the callback's answer (not followed). */
  async function linkVia(userId: string, redirectAfter: string) {
    const { authorizeUrl } = await startLink(userId, redirectAfter);
    const callback = await followToCallback(authorizeUrl, tb.callbackUrl(GH));
    return { callback, answer: await visit(callback) };
  }

  it("refuses the known tricks with INVALID_ARGUMENT naming redirect_after, storing nothing", async () => {
    for (const bad of KNOWN_BAD) {
      const before = flowCount();
      const err = await grpcFailure(startLink("mallory", bad));
      expect(err.code, JSON.stringify(bad)).toBe(grpcStatus.INVALID_ARGUMENT);
      expect(detailOf(err)?.reason).toBe("INVALID_ARGUMENT");
      expect(detailOf(err)?.field).toBe("redirect_after");
      expect(flowCount(), JSON.stringify(bad)).toBe(before);
    }
  });

  it("fuzz: for every target StartLink accepts, the browser's resolution against public_url stays on an allowed origin", async () => {
    const targets = fuzzTargets([EVIL]);
    expect(targets.length).toBeGreaterThan(2000);
    let accepted = 0;
    const before = flowCount();
    // Eight calls in flight at a time: a few seconds for the table on two shared cores.
    for (let i = 0; i < targets.length; i += 8) {
      await Promise.all(
        targets.slice(i, i + 8).map(async (target) => {
          const refusal = await startLink("fuzz", target).then(
            () => undefined,
            (err: unknown) => err,
          );
          if (refusal !== undefined) {
            expect(detailOf(refusal)?.field, JSON.stringify(target)).toBe("redirect_after");
            return;
          }
          accepted++;
          const resolved = new URL(target, tb.publicUrl);
          expect(allowed.has(resolved.origin), JSON.stringify(target)).toBe(true);
          expect(resolved.username + resolved.password).toBe("");
        }),
      );
    }
    // Refusals stored nothing: one flow per accepted target.
    expect(flowCount() - before).toBe(accepted);
    expect(accepted).toBeGreaterThan(100);
  });

  it("the callback sends the resolved target; a browser following it stays on public_url's origin or the allow-list", async () => {
    for (const [i, { target }] of [...KNOWN_GOOD.entries()].filter(([, g]) => ["/a/../b/./c", `/.//${EVIL}`, "x/y", "/ünïcode?q=ß", "HTTPS://APP.EXAMPLE.COM:443/Done"].includes(g.target))) {
      const { callback, answer } = await linkVia(`follow-${i}`, target);
      expect(answer.status, JSON.stringify(target)).toBe(302);
      expect(answer.headers.get("referrer-policy")).toBe("no-referrer");
      // What a browser does with the Location header: resolve it against the URL it is on.
      const next = new URL(answer.location!, callback);
      expect(allowed.has(next.origin), JSON.stringify(target)).toBe(true);
      expect(next.href).toBe(new URL(target, tb.publicUrl).href);
      await unary<{ link: Link }>(tb.links, "getLink", { userId: `follow-${i}`, providerId: GH });
    }
  });

  it("a stored target that no longer passes (tampered, or the allow-list changed) gets the success page, never a 500 nor a redirect", async () => {
    for (const [i, stored] of [`/\u2028/${EVIL}`, `/\t/${EVIL}`, `https://${EVIL}/`, `/\\${EVIL}`].entries()) {
      const userId = `stale-${i}`;
      const { authorizeUrl } = await startLink(userId, "/fine");
      expect(db.prepare("UPDATE auth_flows SET redirect_after = ? WHERE user_id = ?").run(stored, userId).changes).toBe(1);
      const callback = await followToCallback(authorizeUrl, tb.callbackUrl(GH));
      const answer = await visit(callback);
      expect(answer.status, JSON.stringify(stored)).toBe(200);
      expect(answer.location).toBeNull();
      expect(answer.body).toContain("Your gh account is linked");
      const { link } = await unary<{ link: Link }>(tb.links, "getLink", { userId, providerId: GH });
      expect(link.hasRefreshToken).toBe(true);
    }
    // The daemon said why, without the target.
    expect(tb.daemon.output()).toContain("stored redirect_after no longer allowed");
    expect(tb.daemon.output()).not.toContain(EVIL);
  });
});
