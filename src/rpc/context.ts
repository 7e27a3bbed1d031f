import { createContextKey } from "@connectrpc/connect";
import type { HandlerContext } from "@connectrpc/connect";
import type { CallScope } from "../audit/call-scope.js";
import type { PeerCredentials } from "../listen/peer-credentials.js";

/**
 * Which kind of listener a call arrived on. The default is "tcp", the
 * stricter one: a call whose transport is unknown must authenticate.
 */
export const listenerKindKey = createContextKey<"unix" | "tcp">("tcp", { description: "listener kind" });

/**
 * The `authorization` header when the transport can read it without
 * materializing every header (grpc-js metadata); undefined means "read
 * ctx.requestHeader".
 */
export const authorizationKey = createContextKey<string | null | undefined>(undefined, { description: "authorization header" });

/**
 * Whether this listener serves a call that brings no caller credential;
 * undefined: by its kind (a Unix socket does, TCP does not).
 */
export const tokenlessKey = createContextKey<boolean | undefined>(undefined, { description: "tokenless calls allowed" });

/**
 * The caller a call authenticated as, and how: a configured caller's token,
 * client certificate or socket peer (`peer`: matched by uid/gid), or a
 * job-scoped caller token issued by CallerService (`job-token`).
 */
export interface CallerIdentity {
  name: string;
  auth: "token" | "certificate" | "peer" | "job-token";
  /** When set, the only users the caller may act for (docs/design.md §6). */
  users?: readonly string[] | undefined;
  /** A job token's providers; undefined or empty: any. */
  providers?: readonly string[] | undefined;
  /** A job token's id (not a secret). */
  tokenId?: string | undefined;
  /** The certificate name that matched a caller's cert_names. */
  certName?: string | undefined;
}

/** Set by caller auth (docs/design.md §6) once it knows the caller, also when it then refuses the call. */
export const callerKey = createContextKey<CallerIdentity | undefined>(undefined, { description: "caller" });

/**
 * The connection's TLS state: whether it is TLS, and the names of a client
 * certificate that the listener's client CA verified (subject CN and
 * subjectAltName entries); undefined when there is none.
 */
export interface PeerInfo {
  tls: boolean;
  certNames: string[] | undefined;
  /** A TCP peer's address, `host:port`. */
  address?: string | undefined;
  /** A Unix socket peer's process and user, from the kernel (SO_PEERCRED). */
  cred?: PeerCredentials | undefined;
}

/**
 * Set per request by the web listener; the service wrappers mark it when a
 * call reaches them, so a request the protocol layer refused before any
 * handler (415, 429, 431, a bad `connect-timeout-ms`) can still be audited.
 */
export const reachedHandlerKey = createContextKey<{ reached: boolean } | undefined>(undefined, { description: "reached a handler" });

/**
 * The call's audit scope (audit/call-scope.ts), set by the service wrapper
 * before caller auth: handlers pass it as the cause of the work they start.
 */
export const callScopeKey = createContextKey<CallScope | undefined>(undefined, { description: "audit call scope" });

/** The scope of the call `ctx` belongs to; undefined outside a unary call. */
export function callScopeOf(ctx: HandlerContext): CallScope | undefined {
  return ctx.values.get(callScopeKey);
}

export const peerKey = createContextKey<PeerInfo>({ tls: false, certNames: undefined }, { description: "peer" });
