import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { tempDir } from "../support/temp-dir.js";
import { followToCallback } from "../support/fake-oidc-login.js";
import { unary } from "../support/grpc.js";
import { freePort, startLinkDaemon, startOidcIdp, visit, type LinkDaemon, type OidcIdp } from "./link-helpers.js";

/**
 * Issue 13: OpenID Connect Core §11 says a provider must ignore
 * offline_access unless prompt contains consent, and oidc-provider does
 * exactly that. A default `oidc` provider (issuer, client id and secret,
 * nothing else) is linked through the daemon process and gets a refresh
 * token, which then refreshes; the control, the same provider with a prompt
 * that lacks consent, gets none. Before the fix a default provider was the
 * control: its link died with its first access token.
 */

const DEFAULT = "oidc";
const NO_CONSENT = "oidc-login-only";
/** oidc-provider's access tokens here live 300 s (startOidcIdp). */
const LIFETIME_MS = 300_000;

describe("a default oidc provider at an oidc-provider that enforces OpenID Connect Core §11", () => {
  let idp: OidcIdp;
  let tb: LinkDaemon;

  beforeAll(async () => {
    const port = await freePort();
    const callback = (id: string): string => `http://127.0.0.1:${port}/oauth/${id}/callback`;
    idp = await startOidcIdp({ redirectUris: [callback(DEFAULT), callback(NO_CONSENT)] });
    const client = { issuer: idp.issuer, client_id: idp.clientId, client_secret: idp.clientSecret };
    tb = await startLinkDaemon(
      tempDir("tb-oidc-offline-"),
      [
        { id: DEFAULT, type: "oidc", ...client },
        { id: NO_CONSENT, type: "oidc", ...client, auth_url_params: { prompt: "login" } },
      ],
      { port },
    );
  });
  afterAll(async () => {
    await tb?.stop();
    await idp?.close();
  });

  /** StartLink, the browser's way through login and consent, the callback; the authorize URL's query. */
  async function link(userId: string, providerId: string): Promise<URLSearchParams> {
    const started = await unary<{ authorizeUrl: string }>(tb.links, "startLink", { userId, providerId });
    const callback = await followToCallback(started.authorizeUrl, tb.callbackUrl(providerId));
    const answer = await visit(callback);
    expect(answer.status).toBe(200);
    return new URL(started.authorizeUrl).searchParams;
  }

  it("the default provider asks for offline_access with prompt=consent and its link holds a refresh token that refreshes", async () => {
    const query = await link("ada", DEFAULT);
    const { link: got } = await unary<{ link: Link }>(tb.links, "getLink", { userId: "ada", providerId: DEFAULT });
    expect(got.hasRefreshToken).toBe(true);
    expect(idp.issued.refreshTokens).toHaveLength(1);
    expect(query.get("scope")?.split(" ").sort()).toEqual(["offline_access", "openid"]);
    expect(query.get("prompt")).toBe("consent");

    // Past the first access token: asking for all but 500 ms of its lifetime, once it is older than that, needs a refresh.
    const first = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "ada", providerId: DEFAULT });
    await new Promise((r) => setTimeout(r, 700));
    const second = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "ada", providerId: DEFAULT, minValidFor: durationFromMs(LIFETIME_MS - 500) });
    expect(idp.requests.filter((r) => r === "refresh_token")).toEqual(["refresh_token"]);
    expect(second.token.accessToken).not.toBe(first.token.accessToken);
    expect((await idp.introspect(second.token.accessToken)).active).toBe(true);
  });

  it("control: a prompt without consent gets no refresh token from the same provider", async () => {
    const before = idp.issued.refreshTokens.length;
    const query = await link("bob", NO_CONSENT);
    expect(query.get("scope")?.split(" ")).toContain("offline_access");
    expect(query.get("prompt")).toBe("login");
    expect(idp.issued.refreshTokens).toHaveLength(before);

    const { link: got } = await unary<{ link: Link }>(tb.links, "getLink", { userId: "bob", providerId: NO_CONSENT });
    expect(got.hasRefreshToken).toBe(false);
  });
});
