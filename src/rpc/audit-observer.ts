import { Code } from "@connectrpc/connect";
import type { AuditLog } from "../audit/audit-log.js";
import { tokenFingerprint } from "./caller-token-format.js";
import type { CallObserver, RefusedRequest } from "./service.js";
import { grpcCodeName } from "./code-name.js";
import { wireStatus } from "./wire-error.js";

/**
 * One audit line per RPC: who called, what, for which user and provider, how
 * it ended, whether a provider was contacted. The user and provider come
 * from the request, or from the link or token answered (CompleteLink and
 * PollDeviceLink name them only in their answer).
 */
export function auditObserver(audit: AuditLog): CallObserver {
  return ({ method, durationMs, input, output, error, scope, ctx }) => {
    let grpcCode = "OK";
    let reason = "";
    if (error !== undefined) {
      const wire = wireStatus(error);
      grpcCode = codeName(wire.code);
      reason = wire.reason;
    }
    const subject = subjectOf(input, output);
    return audit.write({
      event: "rpc",
      caller: scope.caller ?? { name: null, transport: ctx.protocolName, auth: "none" },
      method: `/${method.parent.typeName}/${method.name}`,
      userId: subject.userId,
      providerId: subject.providerId,
      providerIds: subject.providerIds,
      outcome: { grpcCode, reason },
      tokenFingerprints: fingerprintsOf(output),
      providerContacted: scope.providerContacted,
      durationMs,
    });
  };
}

/**
 * The fingerprint of every access token in an answer (ObtainAccessToken's
 * `token`, ObtainAccessTokens' per-provider results), by provider id.
 */
function fingerprintsOf(output: unknown): Record<string, string> | undefined {
  const tokens: unknown[] = [];
  const single = field(output, "token");
  if (single !== undefined) tokens.push(single);
  const results = field(output, "results");
  if (Array.isArray(results)) {
    for (const r of results) {
      const outcome = field(r, "outcome");
      if (field(outcome, "case") === "token") tokens.push(field(outcome, "value"));
    }
  }
  let out: Record<string, string> | undefined;
  for (const t of tokens) {
    const value = field(t, "accessToken");
    const provider = field(t, "providerId");
    if (typeof value === "string" && value !== "" && typeof provider === "string") (out ??= {})[provider] = tokenFingerprint(value);
  }
  return out;
}

/** The audit line of a web request refused before any handler (web/refusals.ts): an anonymous caller, the HTTP status as a fact. */
export function auditRefusal(audit: AuditLog): (r: RefusedRequest) => void {
  return (r) =>
    audit.write({
      event: "rpc",
      caller: { name: null, transport: r.transport, auth: "none" },
      method: r.method,
      outcome: { grpcCode: r.grpcCode, reason: "REFUSED_BEFORE_HANDLER" },
      providerContacted: false,
      durationMs: r.durationMs,
      facts: { http_status: r.httpStatus },
    });
}

/** `FAILED_PRECONDITION`, as gRPC spells its codes (rpc/code-name.ts). */
export const codeName: (code: Code) => string = grpcCodeName;

interface Subject {
  userId?: string | undefined;
  providerId?: string | undefined;
  providerIds?: string[] | undefined;
}

function subjectOf(input: unknown, output: unknown): Subject {
  const fromInput = idsOf(input);
  const answered = field(output, "link") ?? field(output, "token");
  const fromOutput = idsOf(answered);
  const providerIds = field(input, "providerIds");
  return {
    userId: fromInput.userId ?? fromOutput.userId,
    providerId: fromInput.providerId ?? fromOutput.providerId,
    providerIds: Array.isArray(providerIds) && providerIds.length > 0 ? providerIds.map(String) : undefined,
  };
}

function idsOf(message: unknown): Subject {
  const userId = field(message, "userId");
  const providerId = field(message, "providerId");
  return {
    userId: typeof userId === "string" && userId !== "" ? userId : undefined,
    providerId: typeof providerId === "string" && providerId !== "" ? providerId : undefined,
  };
}

function field(message: unknown, name: string): unknown {
  return typeof message === "object" && message !== null ? (message as Record<string, unknown>)[name] : undefined;
}
