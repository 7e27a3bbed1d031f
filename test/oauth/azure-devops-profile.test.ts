import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogDefaults } from "../../src/config/catalog-defaults.js";
import { validateToken } from "../../src/oauth/validate.js";

/**
 * Issue 13: Azure DevOps validation against an Azure-DevOps-style Profiles
 * API on loopback. Profiles - Get is a preview API: asked for with a
 * non-preview api-version it answers HTTP 400 (VssInvalidPreviewVersionException),
 * which validation can only read as "unknown"; it needs a token with
 * vso.profile, and answers 401 otherwise. The catalog's request, moved to
 * the fake's origin with its path and query unchanged, must be accepted.
 */

interface ProfileRequest {
  path: string;
  apiVersion: string | null;
  status: number;
}

const PREVIEW = /^\d+\.\d+-preview(?:\.\d+)?$/;

/** Token → the scopes it was granted. */
const grants = new Map<string, string[]>();
const seen: ProfileRequest[] = [];
let server: Server;
let origin: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const answer = (status: number, body: unknown): void => {
      seen.push({ path: u.pathname, apiVersion: u.searchParams.get("api-version"), status });
      const text = JSON.stringify(body);
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) }).end(text);
    };
    if (req.method !== "GET" || u.pathname !== "/_apis/profile/profiles/me") return answer(404, {});
    const version = u.searchParams.get("api-version") ?? "";
    if (!PREVIEW.test(version)) {
      return answer(400, {
        $id: "1",
        innerException: null,
        message: `The requested version "${version}" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: "${version}-preview"`,
        typeName: "Microsoft.VisualStudio.Services.WebApi.VssInvalidPreviewVersionException, Microsoft.VisualStudio.Services.WebApi",
        typeKey: "VssInvalidPreviewVersionException",
        errorCode: 0,
        eventId: 3000,
      });
    }
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
    const scopes = token === undefined ? undefined : grants.get(token);
    if (scopes === undefined || !scopes.includes("vso.profile")) return answer(401, { message: "TF400813: The user is not authorized to access this resource." });
    answer(200, { displayName: "Ada", publicAlias: "a1b2", emailAddress: "ada@example.com", id: "a1b2" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** The same request at the fake: path and query as built, origin replaced. */
function atFake(url: string): string {
  const u = new URL(url);
  return `${origin}${u.pathname}${u.search}`;
}

const LEGACY = catalogDefaults("azure-devops")!;
const ENTRA = catalogDefaults("azure-devops-entra")!;

describe("Azure DevOps validation against a Profiles API that refuses non-preview versions", () => {
  it("the catalog's request for a legacy token, granted the catalog's default scopes, is valid", async () => {
    grants.set("legacy-token", [...LEGACY.scopes]);
    const result = await validateToken(atFake(LEGACY.validateUrl!), "legacy-token", { timeoutMs: 2000 });
    expect(result).toEqual({ outcome: "valid", status: 200 });
    expect(seen.at(-1)).toEqual({ path: "/_apis/profile/profiles/me", apiVersion: "7.1-preview.3", status: 200 });
  });

  it("the catalog's request for an Entra token (its registration grants vso.profile) is valid", async () => {
    grants.set("entra-token", ["vso.code_write", "vso.profile"]);
    expect(await validateToken(atFake(ENTRA.validateUrl!), "entra-token", { timeoutMs: 2000 })).toEqual({ outcome: "valid", status: 200 });
  });

  it("the former request (api-version=7.1) gets HTTP 400: validation could never tell", async () => {
    grants.set("any-token", ["vso.profile"]);
    const former = `${origin}/_apis/profile/profiles/me?api-version=7.1`;
    expect(await validateToken(former, "any-token", { timeoutMs: 2000 })).toEqual({ outcome: "unknown", status: 400 });
  });

  it("a token granted only the former default scope (vso.code_write) is invalid: after a refresh that means REAUTH_REQUIRED", async () => {
    grants.set("code-only", ["vso.code_write"]);
    expect(await validateToken(atFake(LEGACY.validateUrl!), "code-only", { timeoutMs: 2000 })).toEqual({ outcome: "invalid", status: 401 });
    expect(LEGACY.scopes).toContain("vso.profile");
  });
});
