import { AsyncLocalStorage } from "node:async_hooks";

/** What the audit line of one RPC learns while the call runs. */
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

// The scope follows the call's async work (a refresh it starts, a code
// exchange), so code far from the RPC layer can say "a provider was
// contacted" without every signature carrying the call.
const storage = new AsyncLocalStorage<CallScope>();

export function runInCallScope<T>(scope: CallScope, work: () => T): T {
  return storage.run(scope, work);
}

export function currentCallScope(): CallScope | undefined {
  return storage.getStore();
}

/** Marks the current call (if any) as having sent a request to a provider. */
export function noteProviderContacted(): void {
  const scope = storage.getStore();
  if (scope !== undefined) scope.providerContacted = true;
}
