import { clientAuthParts } from "./client-auth.js";
import { fetchBounded } from "./http.js";
import { isAllowedTransport } from "./loopback.js";
import { OAuthError } from "./oauth-error.js";
import type { OAuthProvider } from "./provider.js";
import { redactSecrets } from "../redact.js";
import { messageSafe } from "./token-endpoint-error.js";
import { USER_AGENT } from "./token-grant.js";

export type RevokeProvider = Pick<
  OAuthProvider,
  "id" | "clientId" | "clientSecret" | "tokenAuthMethod" | "revokeUrl" | "apiBaseUrl" | "revocation"
>;

export interface RevokeRequest {
  refreshToken?: string | undefined;
  accessToken?: string | undefined;
  /** Budget for the whole revocation, every request included. */
  timeoutMs: number;
}

export interface RevokeResult {
  revoked: boolean;
  /** Why not; never holds a token value. */
  error?: string;
}

/** One HTTP request of a revocation, built without I/O so tests can read it. */
export interface PlannedRevocation {
  url: string;
  method: "POST" | "DELETE";
  headers: Record<string, string>;
  body: string;
  /** Which answer counts as success. */
  style: "rfc7009" | "github-grant" | "slack";
  token: "refresh_token" | "access_token";
}

export const GITHUB_API_VERSION = "2022-11-28";

/**
 * The requests that revoke these tokens, in order, or why there are none.
 * - RFC 7009: the refresh token first (revoking it SHOULD end the whole
 *   grant, §2.1), then the access token, each with its token_type_hint and
 *   the client's usual authentication.
 * - GitHub: DELETE /applications/{client_id}/grant with Basic client auth and
 *   the access token in a JSON body; it deletes the user's whole grant.
 * - Slack: auth.revoke, authenticated by the token being revoked.
 */
export function planRevocation(p: RevokeProvider, req: Omit<RevokeRequest, "timeoutMs">): PlannedRevocation[] | string {
  const refresh = nonEmpty(req.refreshToken);
  const access = nonEmpty(req.accessToken);
  if (p.revocation === "none") return "provider has no revocation endpoint";
  if (refresh === undefined && access === undefined) return "no token to revoke";

  if (p.revocation === "github-grant") {
    const url = p.revokeUrl ?? (p.apiBaseUrl === undefined ? undefined : `${p.apiBaseUrl.replace(/\/+$/, "")}/applications/${encodeURIComponent(p.clientId)}/grant`);
    if (url === undefined) return "provider has no revocation endpoint";
    if (!isAllowedTransport(url)) return "revocation URL is neither https nor loopback http";
    if (access === undefined) return "GitHub revokes a grant by its access token and none is stored";
    const basic = clientAuthParts({ ...p, tokenAuthMethod: "client_secret_basic" });
    return [
      {
        url,
        method: "DELETE",
        headers: {
          ...basic.headers,
          "content-type": "application/json",
          "x-github-api-version": GITHUB_API_VERSION,
          "user-agent": USER_AGENT,
        },
        body: JSON.stringify({ access_token: access }),
        style: "github-grant",
        token: "access_token",
      },
    ];
  }

  const url = p.revokeUrl;
  if (url === undefined || url === "") return "provider has no revocation endpoint";
  if (!isAllowedTransport(url)) return "revocation URL is neither https nor loopback http";

  if (p.revocation === "slack") {
    if (access === undefined) return "Slack revokes by access token and none is stored";
    return [
      {
        url,
        method: "POST",
        headers: { authorization: `Bearer ${access}`, "content-type": "application/x-www-form-urlencoded", "user-agent": USER_AGENT },
        body: "",
        style: "slack",
        token: "access_token",
      },
    ];
  }

  const auth = clientAuthParts(p);
  const rfc = (token: string, hint: PlannedRevocation["token"]): PlannedRevocation => ({
    url,
    method: "POST",
    headers: { ...auth.headers, "content-type": "application/x-www-form-urlencoded", "user-agent": USER_AGENT },
    body: new URLSearchParams({ ...auth.form, token, token_type_hint: hint }).toString(),
    style: "rfc7009",
    token: hint,
  });
  const plan: PlannedRevocation[] = [];
  if (refresh !== undefined) plan.push(rfc(refresh, "refresh_token"));
  if (access !== undefined) plan.push(rfc(access, "access_token"));
  return plan;
}

/**
 * Whether one answer means "revoked". Pure. RFC 7009 §2.2 answers 200 (also
 * for tokens it does not know); GitHub answers 204 and nothing else means
 * success; Slack answers HTTP 200 either way and puts `ok` in the body.
 */
export function revocationAnswer(style: PlannedRevocation["style"], status: number, json: unknown): { ok: true } | { ok: false; error: string } {
  const body = typeof json === "object" && json !== null ? (json as Record<string, unknown>) : {};
  const code = typeof body.error === "string" && body.error !== "" ? ` with ${messageSafe(body.error)}` : "";
  switch (style) {
    case "github-grant":
      return status === 204 ? { ok: true } : { ok: false, error: `GitHub grant deletion answered HTTP ${status}${code} (expected 204)` };
    case "slack":
      if (status === 200 && body.ok === true) return { ok: true };
      return { ok: false, error: `auth.revoke answered HTTP ${status}${code || " without ok"}` };
    case "rfc7009":
      return status === 200 ? { ok: true } : { ok: false, error: `revocation endpoint answered HTTP ${status}${code}` };
  }
}

/**
 * Best-effort revocation for Unlink (the link is already deleted). Never
 * throws and never puts a token in `error`. `revoked` reports the first
 * request, which carries the longest-lived token (the refresh token when
 * there is one): if that failed, a live credential may remain even when a
 * later request succeeded.
 */
export async function revokeTokens(p: RevokeProvider, req: RevokeRequest): Promise<RevokeResult> {
  const secrets = [req.refreshToken ?? "", req.accessToken ?? "", p.clientSecret];
  try {
    const plan = planRevocation(p, req);
    if (typeof plan === "string") return { revoked: false, error: plan };
    const started = performance.now();
    let first: RevokeResult | undefined;
    for (const r of plan) {
      // One budget for the whole revocation: each request gets what is left of it.
      const left = Math.round(req.timeoutMs - (performance.now() - started));
      if (left <= 0) break;
      let outcome: { ok: true } | { ok: false; error: string };
      try {
        const x = await fetchBounded(
          r.url,
          { method: r.method, headers: r.headers, body: r.body === "" ? undefined : r.body },
          { timeoutMs: left, maxBodyBytes: 64 * 1024 },
          "revocation endpoint",
        );
        outcome = revocationAnswer(r.style, x.status, parseJson(x.body));
      } catch (e) {
        outcome = { ok: false, error: e instanceof OAuthError ? e.message : "revocation request failed" };
      }
      first ??= outcome.ok ? { revoked: true } : { revoked: false, error: `${r.token === "refresh_token" ? "refresh token" : "access token"}: ${outcome.error}` };
    }
    const out = first ?? { revoked: false, error: "no revocation request was made" };
    return out.error === undefined ? out : { revoked: out.revoked, error: redactSecrets(out.error, secrets) };
  } catch {
    return { revoked: false, error: "revocation failed unexpectedly" };
  }
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === "" ? undefined : s;
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}
