import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, HelpSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema, type Status } from "../../gen/google/rpc/status_pb.js";
import { BrokerError, NOTHING_TO_UNLINK_HINT, Reason, domainError } from "../errors/index.js";
import { MAX_ID_BYTES } from "./input.js";

/** `google.rpc.ErrorInfo.domain` of every error tokenbroker sends. */
export const ERROR_DOMAIN = "tokenbroker";

/**
 * `google.rpc.Help.Link.url` of every error. The fix is an action (a CLI
 * command, a config change), not a page the daemon serves, and the project
 * has no fixed documentation host: so the link is a reference to the README's
 * error table, relative to the package or repository root (README.md ships in
 * both). Help.Link asks only for "the URL of the link".
 */
export const HELP_URL = "README.md#errors";

/**
 * The reason fixes the gRPC code, so the two never drift apart between
 * transports (docs/design.md §9).
 */
const codeOf: Record<Reason, Code> = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  NOT_FOUND: Code.NotFound,
  PROVIDER_NOT_FOUND: Code.NotFound,
  LINK_NOT_FOUND: Code.NotFound,
  REAUTH_REQUIRED: Code.FailedPrecondition,
  PROVIDER_MISCONFIGURED: Code.FailedPrecondition,
  PROVIDER_UNAVAILABLE: Code.Unavailable,
  PROVIDER_RATE_LIMITED: Code.ResourceExhausted,
  DEADLINE_EXCEEDED: Code.DeadlineExceeded,
  CALLER_UNKNOWN: Code.Unauthenticated,
  SCOPE_MISSING: Code.PermissionDenied,
  DECRYPT_FAILED: Code.DataLoss,
  STORE_UNAVAILABLE: Code.Unavailable,
  MIN_VALIDITY_UNREACHABLE: Code.FailedPrecondition,
  UNIMPLEMENTED: Code.Unimplemented,
  SHUTTING_DOWN: Code.Unavailable,
  INTERNAL: Code.Internal,
  REFRESH_INTERRUPTED: Code.Unavailable,
  USER_NOT_ALLOWED: Code.PermissionDenied,
  WATCH_LIMIT_REACHED: Code.ResourceExhausted,
};

export function grpcCode(reason: Reason): Code {
  return codeOf[reason];
}

/** Whom a call concerned, from its request: filled into ErrorInfo.metadata where the error itself does not say. */
export interface Subject {
  userId?: string | undefined;
  providerId?: string | undefined;
}

/**
 * Every message type an error's details hold (a `google.protobuf.Any` each,
 * in a gRPC status and in ObtainAccessTokens' per-provider `google.rpc.Status`).
 * The JSON encoders' type registry is built from it (answer-encoding.ts), so
 * a detail type added here is one JSON can write.
 */
export const DETAIL_SCHEMAS: readonly DescMessage[] = [ErrorInfoSchema, RetryInfoSchema, HelpSchema, BadRequestSchema];

/** The longest google.protobuf.Duration the JSON mapping can write (±315,576,000,000 s, about 10,000 years). */
export const MAX_RETRY_DELAY_MS = 315_576_000_000_000;

/** One `google.rpc` detail message, in the shape ConnectError takes. */
export interface WireDetail {
  desc: DescMessage;
  value: MessageShape<DescMessage>;
}

/** What goes on the wire for an error: code, human message, reason and the google.rpc details. */
export interface WireStatus {
  code: Code;
  message: string;
  reason: string;
  details: WireDetail[];
}

/**
 * Anything thrown by a handler, as the caller will see it. Unknown errors
 * become INTERNAL without their message, so nothing internal (or secret)
 * leaks.
 */
export function wireStatus(err: unknown, subject: Subject = {}): WireStatus {
  const known = domainError(err);
  if (known instanceof BrokerError) return { code: grpcCode(known.reason), message: known.message, reason: known.reason, details: detailsOf(known, subject) };
  if (known instanceof ConnectError) {
    const sent = sentDetails(known);
    if (sent !== undefined) return { code: known.code, message: known.rawMessage, reason: sent.reason, details: sent.details };
    // Raised by connect itself (a bad request, a deadline): the reason decides the code, as for ours.
    return wireStatus(new BrokerError(reasonForCode(known.code), known.rawMessage), subject);
  }
  return wireStatus(new BrokerError(Reason.INTERNAL, "internal error"), subject);
}

/** The ConnectError both transports send (grpc-js through grpc-transport.ts, connect-node directly). */
export function toConnectError(err: unknown, subject: Subject = {}): ConnectError {
  // Already in wire form (details attached): pass it on untouched.
  if (err instanceof ConnectError && sentDetails(err) !== undefined) return err;
  const s = wireStatus(err, subject);
  return new ConnectError(s.message, s.code, undefined, s.details);
}

/** The `google.rpc.Status` of an error, as ObtainAccessTokens carries it per provider. */
export function statusMessage(s: WireStatus): Status {
  return create(StatusSchema, { code: s.code, message: s.message, details: s.details.map((d) => anyPack(d.desc, d.value)) });
}

/** The subject named by a request message's `user_id` and `provider_id`, when it has them. */
export function subjectOf(request: unknown): Subject {
  if (typeof request !== "object" || request === null) return {};
  const { userId, providerId } = request as { userId?: unknown; providerId?: unknown };
  return { userId: typeof userId === "string" ? userId : undefined, providerId: typeof providerId === "string" ? providerId : undefined };
}

function usableId(v: string | undefined): string | undefined {
  // An oversized id is what an INVALID_ARGUMENT is about: not echoed back.
  return v !== undefined && Buffer.byteLength(v) <= MAX_ID_BYTES ? v : undefined;
}

function detailsOf(err: BrokerError, subject: Subject): WireDetail[] {
  const d = err.detail;
  const metadata: Record<string, string> = {};
  const put = (key: string, value: string | undefined): void => {
    if (value !== undefined && value !== "") metadata[key] = value;
  };
  put("provider_id", usableId(subject.providerId));
  put("user_id", usableId(subject.userId));
  for (const [k, v] of Object.entries(d.metadata ?? {})) put(k, v);
  if (d.failedAt !== undefined) put("failed_at", new Date(d.failedAt).toISOString());
  put("failure_reason", d.failureReason);
  put("field", d.field);

  const details: WireDetail[] = [{ desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: err.reason, domain: ERROR_DOMAIN, metadata }) }];
  if (d.retryAfterMs !== undefined && !Number.isNaN(d.retryAfterMs)) {
    // A provider's Retry-After is any number of digits: capped where a Duration still has a JSON form.
    const delayMs = Math.min(MAX_RETRY_DELAY_MS, Math.max(0, Math.ceil(d.retryAfterMs)));
    details.push({ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: durationFromMs(delayMs) }) });
  }
  const help = helpText(err, metadata);
  if (help !== undefined) details.push({ desc: HelpSchema, value: create(HelpSchema, { links: [{ description: help, url: HELP_URL }] }) });
  if (err.reason === Reason.INVALID_ARGUMENT) {
    // An empty field: the request as a whole is not a valid message.
    details.push({ desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations: [{ field: d.field ?? "", description: err.message }] }) });
  }
  return details;
}

/** What to do about it: the exact link command when the link is known, else the domain's hint. */
function helpText(err: BrokerError, metadata: Record<string, string>): string | undefined {
  const user = metadata.user_id;
  const provider = metadata.provider_id;
  if (user !== undefined && provider !== undefined) {
    const command = `tokenbroker link --user ${shellWord(user)} --provider ${shellWord(provider)}`;
    if (err.reason === Reason.REAUTH_REQUIRED) return `link again: ${command}`;
    // Unlink found nothing to delete: linking first is no advice there.
    if (err.reason === Reason.LINK_NOT_FOUND && err.detail.hint === NOTHING_TO_UNLINK_HINT) return `tokenbroker links --user ${shellWord(user)} lists this user's links`;
    if (err.reason === Reason.LINK_NOT_FOUND) return `link first: ${command}`;
  }
  return err.detail.hint;
}

/** An id as one shell word, quoted only when it needs to be. */
function shellWord(s: string): string {
  return /^[\w.@:+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The reason and details of a ConnectError that already carries ours (our ErrorInfo). */
function sentDetails(err: ConnectError): { reason: string; details: WireDetail[] } | undefined {
  const info = err.findDetails(ErrorInfoSchema).find((i) => i.domain === ERROR_DOMAIN);
  if (info === undefined) return undefined;
  const details: WireDetail[] = [{ desc: ErrorInfoSchema, value: info }];
  for (const desc of DETAIL_SCHEMAS) if (desc !== ErrorInfoSchema) for (const value of err.findDetails(desc)) details.push({ desc, value });
  return { reason: info.reason, details };
}

function reasonForCode(code: Code): Reason {
  switch (code) {
    case Code.Unimplemented:
      return Reason.UNIMPLEMENTED;
    case Code.DeadlineExceeded:
      return Reason.DEADLINE_EXCEEDED;
    case Code.InvalidArgument:
      return Reason.INVALID_ARGUMENT;
    case Code.Unavailable:
      return Reason.SHUTTING_DOWN;
    default:
      return Reason.INTERNAL;
  }
}
