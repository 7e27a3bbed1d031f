import type { SealContext, Sealer } from "../crypto/index.js";
import type { AuthFlow, DeviceFlow } from "./flow-store.js";

/** Rows of `auth_flows` and `device_flows` (migration 2) as both stores read them. */
export interface AuthFlowRow {
  state_hash: string;
  provider_id: string;
  user_id: string;
  code_verifier: Buffer | null;
  redirect_after: string | null;
  created_at: number;
  expires_at: number;
}

export interface DeviceFlowRow {
  session_hash: string;
  provider_id: string;
  user_id: string;
  device_code: Buffer;
  interval_ms: number;
  next_poll_at: number;
  created_at: number;
  expires_at: number;
}

/** Where each flow secret is sealed for (re-sealing needs the same contexts). */
export const authFlowContext = (providerId: string, userId: string): SealContext => ({ table: "auth_flows", column: "code_verifier", providerId, userId });
export const deviceFlowContext = (providerId: string, userId: string): SealContext => ({ table: "device_flows", column: "device_code", providerId, userId });

export function sealAuthFlow(sealer: Sealer, f: AuthFlow): AuthFlowRow {
  return {
    state_hash: f.stateHash,
    provider_id: f.providerId,
    user_id: f.userId,
    code_verifier: f.codeVerifier === null || f.codeVerifier === "" ? null : sealer.seal(f.codeVerifier, authFlowContext(f.providerId, f.userId)),
    redirect_after: f.redirectAfter,
    created_at: f.createdAt,
    expires_at: f.expiresAt,
  };
}

export function openAuthFlow(sealer: Sealer, row: AuthFlowRow): AuthFlow {
  return {
    stateHash: row.state_hash,
    providerId: row.provider_id,
    userId: row.user_id,
    codeVerifier: row.code_verifier === null ? null : sealer.open(row.code_verifier, authFlowContext(row.provider_id, row.user_id)),
    redirectAfter: row.redirect_after,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

export function sealDeviceFlow(sealer: Sealer, f: DeviceFlow): DeviceFlowRow {
  return {
    session_hash: f.sessionHash,
    provider_id: f.providerId,
    user_id: f.userId,
    device_code: sealer.seal(f.deviceCode, deviceFlowContext(f.providerId, f.userId)),
    interval_ms: f.intervalMs,
    next_poll_at: f.nextPollAt,
    created_at: f.createdAt,
    expires_at: f.expiresAt,
  };
}

export function openDeviceFlow(sealer: Sealer, row: DeviceFlowRow): DeviceFlow {
  return {
    sessionHash: row.session_hash,
    providerId: row.provider_id,
    userId: row.user_id,
    deviceCode: sealer.open(row.device_code, deviceFlowContext(row.provider_id, row.user_id)),
    intervalMs: row.interval_ms,
    nextPollAt: row.next_poll_at,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}
