import { createContextKey } from "@connectrpc/connect";

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

/** The configured caller a call authenticated as, and how. */
export interface CallerIdentity {
  name: string;
  auth: "token" | "certificate";
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
}

/**
 * Set per request by the web listener; the service wrappers mark it when a
 * call reaches them, so a request the protocol layer refused before any
 * handler (415, 429, 431, a bad `connect-timeout-ms`) can still be audited.
 */
export const reachedHandlerKey = createContextKey<{ reached: boolean } | undefined>(undefined, { description: "reached a handler" });

export const peerKey = createContextKey<PeerInfo>({ tls: false, certNames: undefined }, { description: "peer" });
