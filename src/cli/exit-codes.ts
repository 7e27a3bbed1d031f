/**
 * The CLI's exit codes, by outcome, so a script can tell "retry later" from
 * "ask the user to re-link" without reading messages. README "Exit codes"
 * documents them; keep the two in step.
 */
export const EXIT_OK = 0;
/** Any other failure (an internal error, a denied device flow, a refused retire, …). */
export const EXIT_FAILURE = 1;
/** Bad usage, a bad address, an invalid configuration or request. */
export const EXIT_USAGE = 2;
/** The link needs the user: refresh token refused or gone (REAUTH_REQUIRED). */
export const EXIT_REAUTH = 3;
/** Try again later: provider or store unavailable, rate limited, daemon restarting or unreachable. */
export const EXIT_RETRY = 4;
/** No such link, provider or session. */
export const EXIT_NOT_FOUND = 5;
/** The caller may not do this: no or unknown caller token, missing scope, no access to the socket. */
export const EXIT_PERMISSION = 6;

const BY_REASON: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: EXIT_USAGE,
  REAUTH_REQUIRED: EXIT_REAUTH,
  PROVIDER_UNAVAILABLE: EXIT_RETRY,
  PROVIDER_RATE_LIMITED: EXIT_RETRY,
  STORE_UNAVAILABLE: EXIT_RETRY,
  // The interrupted refresh's answer may still be stored; until the window ends, asking again may get it.
  REFRESH_INTERRUPTED: EXIT_RETRY,
  // Another of the caller's watch streams must end first.
  WATCH_LIMIT_REACHED: EXIT_RETRY,
  SHUTTING_DOWN: EXIT_RETRY,
  // The refresh the call started runs on and is stored: asking again gets it.
  DEADLINE_EXCEEDED: EXIT_RETRY,
  // Nothing answered: during a restart the next try succeeds (and the message says what to check).
  DAEMON_UNREACHABLE: EXIT_RETRY,
  NOT_FOUND: EXIT_NOT_FOUND,
  LINK_NOT_FOUND: EXIT_NOT_FOUND,
  PROVIDER_NOT_FOUND: EXIT_NOT_FOUND,
  CALLER_UNKNOWN: EXIT_PERMISSION,
  SCOPE_MISSING: EXIT_PERMISSION,
  USER_NOT_ALLOWED: EXIT_PERMISSION,
  SOCKET_PERMISSION_DENIED: EXIT_PERMISSION,
  // The CLI's own, when no daemon error came back: the command line must change, retrying does not help.
  ADDRESS_MISMATCH: EXIT_USAGE,
  TLS_UNTRUSTED: EXIT_USAGE,
};

/** The exit code for a failed call's reason (see CallFailure.reason). */
export function exitCodeForReason(reason: string): number {
  return BY_REASON[reason] ?? EXIT_FAILURE;
}
