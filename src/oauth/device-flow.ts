import * as oauth from "oauth4webapi";
import { clientAuthFor } from "./client-auth.js";
import { isAllowedTransport, isLoopbackUrl } from "./loopback.js";
import { isSuccessStatus } from "./classify.js";
import { OAuthError, failureReason } from "./oauth-error.js";
import type { OAuthProvider } from "./provider.js";
import { answerError, sendError } from "./token-endpoint-error.js";
import { recordedAnswer, tokenEndpointFetch, type ExchangeRecord } from "./token-endpoint-fetch.js";
import { tokenGrant, USER_AGENT, type GrantOptions } from "./token-grant.js";
import { isErrorAnswer, type TokenSet } from "./token-normalize.js";

/** RFC 8628 §3.2: poll every 5 s unless the server says otherwise. */
const DEFAULT_DEVICE_INTERVAL_SEC = 5;
/** RFC 8628 §3.5: each slow_down adds 5 s to the interval, for good. */
export const SLOW_DOWN_INCREMENT_SEC = 5;

export interface DeviceAuthorization {
  /** Secret: whoever holds it can collect the tokens once the user approves. */
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  intervalSec: number;
  expiresInSec: number;
}

export type DevicePollResult =
  | { status: "linked"; tokens: TokenSet }
  | { status: "pending" }
  | { status: "slow_down" }
  | { status: "denied"; reason: string }
  | { status: "expired" };

export type DeviceProvider = Pick<
  OAuthProvider,
  "id" | "deviceCodeUrl" | "tokenUrl" | "clientId" | "clientSecret" | "tokenAuthMethod" | "extraTokenKeys" | "quirks" | "defaultTokenLifetimeSec"
>;

export interface DeviceStartOptions extends GrantOptions {
  scopes: readonly string[];
}

/**
 * Asks the provider for a device code and user code (RFC 8628 §3.1-3.2).
 * GitHub's endpoint is https://github.com/login/device/code and, like its
 * token endpoint, may answer errors with HTTP 200.
 */
export async function startDeviceAuthorization(p: DeviceProvider, opts: DeviceStartOptions): Promise<DeviceAuthorization> {
  const url = p.deviceCodeUrl;
  if (url === undefined || url === "") {
    throw new OAuthError({ kind: "client_credentials", sent: "not_sent", message: `provider ${p.id} has no device authorization endpoint configured` });
  }
  const seen: ExchangeRecord = {};
  const what = "device authorization endpoint";
  try {
    const as: oauth.AuthorizationServer = { issuer: new URL(url).origin, device_authorization_endpoint: url, token_endpoint: p.tokenUrl };
    const client: oauth.Client = { client_id: p.clientId };
    const params: Record<string, string> = {};
    if (opts.scopes.length > 0) params.scope = opts.scopes.join(" ");
    await oauth.deviceAuthorizationRequest(as, client, clientAuthFor(p), params, {
      [oauth.customFetch]: tokenEndpointFetch(opts, seen, what),
      [oauth.allowInsecureRequests]: isLoopbackUrl(url),
      headers: { "user-agent": USER_AGENT },
    });
  } catch (e) {
    throw sendError(e, seen.exchange, [p.clientSecret], what);
  }
  const x = recordedAnswer(seen, what);
  // GitHub answers errors with HTTP 200 here too.
  if (!isSuccessStatus(x.status) || isErrorAnswer(x.json)) throw answerError(x, [p.clientSecret], what);
  // Nothing is spent by asking for a device code, so an unusable answer may be asked again.
  const parsed = parseDeviceAuthorization(x.json);
  if (typeof parsed === "string") {
    throw new OAuthError({ kind: "transient", sent: "answered", message: `${what} answered an unusable response (${parsed})`, status: x.status });
  }
  return parsed;
}

const asNumber = (v: unknown): number | undefined => {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
};

/**
 * The device authorization response (RFC 8628 §3.2) in the broker's terms,
 * or a short reason it is unusable. Pure. Accepts numbers sent as strings
 * (form-encoded answers) and the `verification_url` spelling some servers
 * use; refuses verification URIs that are not https (or loopback http),
 * because the URI is shown to a user who will type credentials there.
 */
export function parseDeviceAuthorization(json: Record<string, unknown> | undefined): DeviceAuthorization | string {
  if (json === undefined) return "no JSON body";
  const { device_code, user_code } = json;
  const verificationUri = json.verification_uri ?? json.verification_url;
  if (typeof device_code !== "string" || device_code === "") return "device_code missing";
  if (typeof user_code !== "string" || user_code === "") return "user_code missing";
  if (typeof verificationUri !== "string" || !isAllowedTransport(verificationUri)) return "verification_uri missing or not https";
  const expiresIn = asNumber(json.expires_in);
  if (expiresIn === undefined || expiresIn <= 0) return "expires_in missing";
  const interval = asNumber(json.interval);
  const out: DeviceAuthorization = {
    deviceCode: device_code,
    userCode: user_code,
    verificationUri,
    // Never poll faster than once a second, whatever the server says.
    intervalSec: interval === undefined ? DEFAULT_DEVICE_INTERVAL_SEC : Math.max(1, Math.ceil(interval)),
    expiresInSec: Math.floor(expiresIn),
  };
  const complete = json.verification_uri_complete;
  if (typeof complete === "string" && isAllowedTransport(complete)) out.verificationUriComplete = complete;
  return out;
}

/**
 * What a device-token error code means for the polling loop (RFC 8628
 * §3.5), or undefined for errors that are not part of the protocol's
 * conversation (client credentials, transport) and must be thrown.
 * GitHub adds incorrect_device_code; invalid_grant is what RFC 8628 servers
 * answer for an unknown or consumed device code. Either way the session
 * cannot succeed any more, which is what "expired" tells the caller.
 */
export function deviceErrorStatus(error: string | undefined): "pending" | "slow_down" | "denied" | "expired" | undefined {
  switch (error) {
    case "authorization_pending":
      return "pending";
    case "slow_down":
      return "slow_down";
    case "access_denied":
      return "denied";
    case "expired_token":
    case "invalid_grant":
    case "incorrect_device_code":
      return "expired";
    default:
      return undefined;
  }
}

/**
 * One poll of the token endpoint with the device code (RFC 8628 §3.4). The
 * caller owns the loop: wait `intervalSec` between polls and add
 * SLOW_DOWN_INCREMENT_SEC on every slow_down. Throws OAuthError only for
 * failures outside the protocol's states (bad client credentials: kind
 * client_credentials; network, 5xx: transient), which the caller may retry.
 */
export async function pollDeviceToken(p: DeviceProvider, deviceCode: string, opts: GrantOptions): Promise<DevicePollResult> {
  if (deviceCode === "") return { status: "expired" };
  try {
    const tokens = await tokenGrant(
      p,
      (as, client, auth, options) => oauth.deviceCodeGrantRequest(as, client, auth, deviceCode, options),
      opts,
      [deviceCode],
    );
    return { status: "linked", tokens };
  } catch (e) {
    if (!(e instanceof OAuthError)) throw e;
    const status = e.status !== undefined ? deviceErrorStatus(e.error) : undefined;
    switch (status) {
      case "denied":
        return { status, reason: failureReason(e, [deviceCode, p.clientSecret]) };
      case "pending":
      case "slow_down":
      case "expired":
        return { status };
      default:
        throw e;
    }
  }
}
