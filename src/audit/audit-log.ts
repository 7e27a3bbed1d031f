import type { AuditSink } from "./audit-sink.js";
import type { AuditCaller, CallScope } from "./call-scope.js";

export type AuditEvent = "rpc" | "watch_start" | "refresh" | "refresh_failure_recorded" | "refresh_healed" | "unlink" | "key_rotation";

/** One audit line, before it is written. Never a token, code, verifier, state or secret. */
export interface AuditEntry {
  event: AuditEvent;
  caller: AuditCaller;
  /** The RPC's full name, or the background action. */
  method: string;
  userId?: string | undefined;
  providerId?: string | undefined;
  /** ObtainAccessTokens asks for several. */
  providerIds?: string[] | undefined;
  /** `OK` and an empty reason, or the gRPC code name and the error reason. */
  outcome: { grpcCode: string; reason: string };
  providerContacted: boolean;
  durationMs: number;
  /**
   * A short, non-reversible fingerprint (first 12 hex digits of the SHA-256)
   * of each access token handed out, by provider: a leaked token can be traced
   * to the call that got it.
   */
  tokenFingerprints?: Record<string, string> | undefined;
  /** Facts of the action (rows re-sealed, token revoked): numbers and booleans only. */
  facts?: Record<string, number | boolean> | undefined;
}

/** The caller of work tokenbroker does on its own (no RPC behind it). */
export const INTERNAL_CALLER: AuditCaller = { name: null, transport: "internal", auth: "none" };

/**
 * The audit trail: one JSON line per RPC and per background action, marked
 * `"audit":true`, in the daemon's log line shape (level, time, service, msg).
 * Written whatever the daemon's log level. The line is built from a fixed
 * allowlist of fields — ids, code names, booleans and numbers — so nothing a
 * caller or provider sent can add a key, and no redaction pass is needed:
 * the redacting pino logger costs about 140 µs a line, which on the cache-hit
 * path (one line per RPC) doubled the CPU per call.
 */
export class AuditLog {
  constructor(readonly sink: AuditSink) {}

  /** Writes one line; a promise when it is written later (see AuditSink.write). */
  write(e: AuditEntry): Promise<void> | undefined {
    // Built by assignment, in the field order of the line, without spreads
    // or an object per optional part: this runs once per RPC.
    const line: Record<string, unknown> = {
      level: 30,
      time: isoNow(),
      service: "tokenbroker",
      audit: true,
      event: e.event,
      caller: callerFields(e.caller),
      method: e.method,
      user_id: e.userId ?? null,
    };
    if (e.providerIds !== undefined) line.provider_ids = [...e.providerIds];
    else line.provider_id = e.providerId ?? null;
    line.outcome = { grpc_code: e.outcome.grpcCode, reason: e.outcome.reason };
    if (e.tokenFingerprints !== undefined) line.token_fingerprints = fingerprints(e.tokenFingerprints);
    line.provider_contacted = e.providerContacted;
    line.duration_ms = Math.round(e.durationMs * 1000) / 1000;
    // Facts keep only number and boolean values, whatever a caller built.
    if (e.facts !== undefined) for (const [k, v] of Object.entries(e.facts)) if (typeof v === "number" || typeof v === "boolean") line[k] = v;
    line.msg = e.event;
    return this.sink.write(`${JSON.stringify(line)}\n`);
  }

  /**
   * A background action's line (a refresh, a recorded failure, an unlink, a
   * key rotation): its caller is the call that caused it (`cause`), when
   * there is one.
   */
  action(e: Omit<AuditEntry, "caller">, cause: CallScope | undefined): void {
    this.write({ ...e, caller: cause?.caller ?? INTERNAL_CALLER });
  }

  /** logrotate moved the file: write to a new one under the configured name. */
  reopen(): void {
    this.sink.reopen();
  }

  close(): void {
    this.sink.close();
  }
}

/** The caller's fields, each only when known; numbers stay numbers. */
function callerFields(c: AuditCaller): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = { name: c.name, transport: c.transport, auth: c.auth };
  if (c.uid !== undefined) out.uid = c.uid;
  if (c.gid !== undefined) out.gid = c.gid;
  if (c.pid !== undefined) out.pid = c.pid;
  if (c.peer !== undefined) out.peer = c.peer;
  if (c.cert !== undefined) out.cert = c.cert;
  if (c.tokenId !== undefined) out.token_id = c.tokenId;
  return out;
}

/** Provider id to fingerprint; a fingerprint is 12 hex digits, nothing else passes. */
function fingerprints(f: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(f)) if (/^[0-9a-f]{12}$/.test(v)) out[k] = v;
  return out;
}

/** The time of a line, ISO 8601 in UTC; formatted once per millisecond, as many lines share one under load. */
function isoNow(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}
let lastMs = -1;
let lastIso = "";
