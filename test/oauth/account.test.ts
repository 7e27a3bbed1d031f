import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountFromClaims, accountFromIdToken, fetchAccount, grantedScopesOf } from "../../src/oauth/account.js";

const jwt = (claims: unknown): string => `${Buffer.from('{"alg":"RS256"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.c2ln`;

describe("the account a token belongs to", () => {
  it("takes the first usable name the providers' user endpoints use", () => {
    expect(accountFromClaims({ login: "octocat", id: 1, email: "o@example.com" })).toBe("octocat"); // GitHub, Gitea
    expect(accountFromClaims({ username: "gl-user", id: 7 })).toBe("gl-user"); // GitLab, Bitbucket
    expect(accountFromClaims({ sub: "248289761001", preferred_username: "j.doe" })).toBe("j.doe"); // OIDC userinfo
    expect(accountFromClaims({ sub: "248289761001" })).toBe("248289761001");
    expect(accountFromClaims({ ok: true, user: "slackbot", team: "T" })).toBe("slackbot"); // Slack auth.test
    expect(accountFromClaims({ emailAddress: "a@dev.azure.com", displayName: "A" })).toBe("a@dev.azure.com"); // Azure DevOps profile
    // Nothing usable: not an object, empty, not a string, control characters, absurdly long.
    for (const body of [null, "OK", [], {}, { login: "" }, { login: 5 }, { login: "a\nb" }, { login: "x".repeat(257) }]) {
      expect(accountFromClaims(body), JSON.stringify(body)).toBeUndefined();
    }
    expect(accountFromClaims({ login: 5, username: "second" })).toBe("second");
  });

  it("reads an ID token's claims; anything that is not a compact JWS is no account", () => {
    expect(accountFromIdToken(jwt({ sub: "s-1", preferred_username: "pat" }))).toBe("pat");
    expect(accountFromIdToken(jwt({ sub: "s-1" }))).toBe("s-1");
    for (const t of [undefined, 5, "", "a.b", "a.!!!.c", `x.${Buffer.from("not json").toString("base64url")}.y`, jwt([1])]) expect(accountFromIdToken(t)).toBeUndefined();
  });

  it("splits a scope answer on spaces (RFC 6749 §3.3) and on GitHub's commas; no scope keeps the stored ones (undefined)", () => {
    expect(grantedScopesOf("repo read:org")).toEqual(["repo", "read:org"]);
    expect(grantedScopesOf("repo,gist")).toEqual(["repo", "gist"]);
    expect(grantedScopesOf("openid  openid offline_access")).toEqual(["openid", "offline_access"]);
    expect(grantedScopesOf(" ")).toEqual([]);
    expect(grantedScopesOf(undefined)).toBeUndefined();
  });
});

describe("fetchAccount against a loopback user endpoint", () => {
  let server: Server;
  let base: string;
  const seen: Array<string | undefined> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      const [status, body] =
        req.url === "/user" ? [200, '{"login":"octocat"}'] : req.url === "/denied" ? [401, '{"login":"not-this"}'] : req.url === "/html" ? [200, "<html>"] : [404, "{}"];
      res.writeHead(status, { "content-type": "application/json" }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("names the account of a 2xx JSON answer, sending the token as a bearer; anything else is undefined, never a throw", async () => {
    expect(await fetchAccount(`${base}/user`, "tok-1", { timeoutMs: 5000 })).toBe("octocat");
    expect(seen.at(-1)).toBe("Bearer tok-1");
    expect(await fetchAccount(`${base}/denied`, "tok-1", { timeoutMs: 5000 })).toBeUndefined();
    expect(await fetchAccount(`${base}/html`, "tok-1", { timeoutMs: 5000 })).toBeUndefined();
    expect(await fetchAccount("http://127.0.0.1:1/user", "tok-1", { timeoutMs: 5000 })).toBeUndefined();
    const asked = seen.length;
    // Not https and not loopback: the bearer token would travel in clear, so nothing is sent.
    expect(await fetchAccount("http://example.com/user", "tok-1", { timeoutMs: 5000 })).toBeUndefined();
    expect(await fetchAccount(`${base}/user`, "", { timeoutMs: 5000 })).toBeUndefined();
    expect(seen.length).toBe(asked);
  });
});
