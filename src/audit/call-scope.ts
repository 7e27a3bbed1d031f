/**
 * What the audit line of one RPC learns while the call runs. It is passed
 * explicitly — as the `cause` of the work a call starts (a refresh, a code
 * exchange) — down to where a provider is contacted and where a background
 * line is written. An AsyncLocalStorage did this implicitly until it showed
 * up as a tenth of a cache hit's CPU on Node 20 (it turns on promise hooks
 * for every promise of the process), and it also named as a background
 * line's caller whichever call happened to schedule a timer.
 */
export interface CallScope {
  /** The caller, once caller auth named it: background work started by the call names it too. */
  caller?: AuditCaller | undefined;
  /** Set when anything the call did sent a request to a provider. */
  providerContacted: boolean;
}

/** Who made a call, as the audit log names it. */
export interface AuditCaller {
  /** The configured caller's name; null for an anonymous call (a Unix socket without a token, an open service). */
  name: string | null;
  /** How it came: `grpc+unix`, `grpc+tcp`, `grpc+tls`, `connect+tls`, `grpcweb+tcp`, … or `internal`. */
  transport: string;
  /**
   * What identified it: a configured caller's bearer token, a job-scoped
   * caller token, a client certificate, the socket peer's uid/gid (`peer`),
   * the socket's file mode alone (`socket`), or nothing.
   */
  auth: "token" | "job-token" | "certificate" | "peer" | "socket" | "none";
  /** A Unix socket peer's uid, gid and pid, from the kernel (SO_PEERCRED). */
  uid?: number | undefined;
  gid?: number | undefined;
  pid?: number | undefined;
  /** A TCP peer's address, `host:port`. */
  peer?: string | undefined;
  /** The client certificate's name that identified the caller (mTLS). */
  cert?: string | undefined;
  /** A job-scoped caller token's id (never the token). */
  tokenId?: string | undefined;
}

/** Marks the call whose work this is (none for the daemon's own work) as having sent a request to a provider. */
export function noteProviderContacted(cause: CallScope | undefined): void {
  if (cause !== undefined) cause.providerContacted = true;
}
