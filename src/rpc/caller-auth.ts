import { createHash, timingSafeEqual } from "node:crypto";
import type { HandlerContext } from "@connectrpc/connect";
import type { CallerConfig } from "../config/config.js";
import { BrokerError, Reason } from "../errors/index.js";
import { certNameMatches } from "../listen/cert-names.js";
import type { CallerTokenStore } from "../store/caller-token-store.js";
import { enforceBinding } from "./caller-binding.js";
import { JOB_TOKEN_PREFIX, tokenDigest } from "./caller-token-format.js";
import { authorizationKey, callerKey, listenerKindKey, peerKey, tokenlessKey, type CallerIdentity } from "./context.js";
import type { CallGuard, RpcService } from "./service.js";

/**
 * Caller authentication (docs/design.md §6), in this order:
 * 1. `authorization: Bearer <token>`: a job-scoped caller token (prefix
 *    `tbj_`, looked up by its SHA-256 in the store; expired or revoked is
 *    UNAUTHENTICATED), or else a configured caller's token, checked against
 *    SHA-256 hashes from the config in constant time;
 * 2. a client certificate verified by the listener's client CA whose subject
 *    CN or subjectAltName is one of a caller's `cert_names`;
 * 3. on a Unix socket, the peer's uid/gid from the kernel matching a caller's
 *    `match`;
 * 4. nothing: served only where the listener allows tokenless calls (by
 *    default Unix sockets do, TCP does not).
 * Then the service's scope, then the caller's binding to users (and a job
 * token's providers): a call about another user is USER_NOT_ALLOWED and
 * changes nothing; an empty user_id from a caller bound to one user means
 * that user. Returns a promise only when the store must be asked.
 */
export function callerGuard(configured: CallerConfig[] | CallerSet, jobTokens?: CallerTokenStore, now: () => number = Date.now): CallGuard {
  const set = configured instanceof CallerSet ? configured : new CallerSet(configured);
  return (ctx: HandlerContext, service: RpcService, input: unknown) => {
    if (service.scope === undefined) return;
    // One list for the whole call: a SIGHUP reload replaces it, never changes it under a call.
    const callers = set.current;
    const header = ctx.values.get(authorizationKey) ?? ctx.requestHeader.get("authorization");
    if (header !== null) {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
      if (token === undefined) throw new BrokerError(Reason.CALLER_UNKNOWN, "the authorization header is not a Bearer token");
      if (token.startsWith(JOB_TOKEN_PREFIX) && jobTokens !== undefined) {
        return jobTokens.findCallerToken(tokenDigest(token)).then((record) => {
          if (record === undefined) throw new BrokerError(Reason.CALLER_UNKNOWN, "unknown caller token");
          const identity: CallerIdentity = {
            name: record.label === "" ? record.id : record.label,
            auth: "job-token",
            users: [record.userId],
            providers: record.providerIds,
            tokenId: record.id,
          };
          ctx.values.set(callerKey, identity);
          if (record.revokedAt !== null) throw new BrokerError(Reason.CALLER_UNKNOWN, `caller token ${record.id} was revoked`);
          if (record.expiresAt <= now()) throw new BrokerError(Reason.CALLER_UNKNOWN, `caller token ${record.id} expired at ${new Date(record.expiresAt).toISOString()}`);
          authorize(identity, record.scopes, service, ctx, input);
        });
      }
      const caller = identify(callers, token);
      if (caller === undefined) throw new BrokerError(Reason.CALLER_UNKNOWN, "unknown caller token");
      return admit(caller, { name: caller.name, auth: "token", users: caller.users }, service, ctx, input);
    }
    const peer = ctx.values.get(peerKey);
    if (peer.certNames !== undefined) {
      const names = peer.certNames;
      const caller = callers.find((c) => c.certNames.some((n) => certNameMatches(n, names)));
      if (caller === undefined) throw new BrokerError(Reason.CALLER_UNKNOWN, "the client certificate names no configured caller", { hint: "add one of its names to a caller's cert_names" });
      return admit(caller, { name: caller.name, auth: "certificate", users: caller.users, certName: caller.certNames.find((n) => certNameMatches(n, names)) }, service, ctx, input);
    }
    const cred = peer.cred;
    if (cred !== undefined) {
      const caller = callers.find((c) => c.match !== undefined && (c.match?.uid === undefined || c.match.uid === cred.uid) && (c.match?.gid === undefined || c.match.gid === cred.gid));
      if (caller !== undefined) return admit(caller, { name: caller.name, auth: "peer", users: caller.users }, service, ctx, input);
    }
    if (ctx.values.get(tokenlessKey) ?? ctx.values.get(listenerKindKey) === "unix") return;
    throw new BrokerError(Reason.CALLER_UNKNOWN, ctx.values.get(listenerKindKey) === "unix" ? "this socket requires a caller token" : "a caller token is required on TCP listeners", {
      hint: "send authorization: Bearer <token> (a job token from IssueCallerToken, or a caller configured in callers[]), or on a TLS listener with a client CA a client certificate named in a caller's cert_names",
    });
  };
}

function admit(caller: CallerConfig, identity: CallerIdentity, service: RpcService, ctx: HandlerContext, input: unknown): void {
  ctx.values.set(callerKey, identity);
  authorize(identity, caller.scopes, service, ctx, input);
}

function authorize(identity: CallerIdentity, scopes: readonly string[], service: RpcService, ctx: HandlerContext, input: unknown): void {
  if (service.scope !== undefined && !scopes.includes(service.scope)) {
    throw new BrokerError(Reason.SCOPE_MISSING, `caller ${identity.name} lacks the ${service.scope} scope`);
  }
  enforceBinding(identity, input);
  void ctx;
}

/**
 * The configured callers, replaced as a whole when SIGHUP reloads them
 * (rpc/callers-reload.ts): calls after the swap see the new list, a call
 * already past the guard keeps the caller it was admitted as.
 */
export class CallerSet {
  #callers: readonly CallerConfig[];
  constructor(callers: readonly CallerConfig[]) {
    this.#callers = callers;
  }
  get current(): readonly CallerConfig[] {
    return this.#callers;
  }
  replace(callers: readonly CallerConfig[]): void {
    this.#callers = callers;
  }
}

/**
 * The configured caller a bearer token names. Matches are remembered per
 * caller list (a reload starts afresh), so a caller's every call after its
 * first costs a map lookup instead of a SHA-256 and a comparison with each
 * configured hash; a token that names no caller is never remembered.
 */
function identify(callers: readonly CallerConfig[], token: string): CallerConfig | undefined {
  let memo = identified.get(callers);
  if (memo === undefined) identified.set(callers, (memo = new Map()));
  const known = memo.get(token);
  if (known !== undefined) return known;
  const found = identifyByDigest(callers, token);
  if (found !== undefined) {
    if (memo.size >= 1024) memo.clear();
    memo.set(token, found);
  }
  return found;
}

const identified = new WeakMap<readonly CallerConfig[], Map<string, CallerConfig>>();

function identifyByDigest(callers: readonly CallerConfig[], token: string): CallerConfig | undefined {
  const digest = createHash("sha256").update(token, "utf8").digest();
  let found: CallerConfig | undefined;
  // Compare against every caller, so timing does not tell which one matched.
  for (const c of callers) {
    if (c.tokenSha256 !== undefined && c.tokenSha256.length === digest.length && timingSafeEqual(c.tokenSha256, digest)) found ??= c;
  }
  return found;
}
