import { createHash, timingSafeEqual } from "node:crypto";
import type { HandlerContext } from "@connectrpc/connect";
import type { CallerConfig } from "../config/config.js";
import { BrokerError, Reason } from "../errors/index.js";
import { certNameMatches } from "../net/cert-names.js";
import { authorizationKey, callerKey, listenerKindKey, peerKey } from "./context.js";
import type { CallGuard, RpcService } from "./service.js";

/**
 * Caller authentication (docs/design.md §6): `authorization: Bearer <token>`, checked
 * against SHA-256 hashes from the config in constant time, or else a client
 * certificate verified by the listener's client CA whose subject CN or
 * subjectAltName is one of a caller's `cert_names`, kind for kind
 * (net/cert-names.ts: a bare entry is a DNS name or the CN, never an email
 * or URI subjectAltName); then the service's
 * scope. On a Unix socket a credential is optional (the socket's mode and
 * group already decide who may connect); on TCP it is required.
 */
export function callerGuard(configured: CallerConfig[] | CallerSet): CallGuard {
  const set = configured instanceof CallerSet ? configured : new CallerSet(configured);
  return (ctx: HandlerContext, service: RpcService) => {
    if (service.scope === undefined) return;
    // One list for the whole call: a SIGHUP reload replaces it, never changes it under a call.
    const callers = set.current;
    const header = ctx.values.get(authorizationKey) ?? ctx.requestHeader.get("authorization");
    let caller: CallerConfig | undefined;
    if (header !== null) {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
      if (token === undefined) throw new BrokerError(Reason.CALLER_UNKNOWN, "the authorization header is not a Bearer token");
      caller = identify(callers, token);
      if (caller === undefined) throw new BrokerError(Reason.CALLER_UNKNOWN, "unknown caller token");
      ctx.values.set(callerKey, { name: caller.name, auth: "token" });
    } else {
      const names = ctx.values.get(peerKey).certNames;
      if (names !== undefined) {
        caller = callers.find((c) => c.certNames.some((n) => certNameMatches(n, names)));
        if (caller === undefined) throw new BrokerError(Reason.CALLER_UNKNOWN, "the client certificate names no configured caller", { hint: "add one of its names to a caller's cert_names" });
        ctx.values.set(callerKey, { name: caller.name, auth: "certificate" });
      } else {
        if (ctx.values.get(listenerKindKey) === "unix") return;
        throw new BrokerError(Reason.CALLER_UNKNOWN, "a caller token is required on TCP listeners", {
          hint: "send authorization: Bearer <token> for a caller configured in callers[], or on a TLS listener with a client CA a client certificate named in a caller's cert_names",
        });
      }
    }
    if (!caller.scopes.includes(service.scope)) {
      throw new BrokerError(Reason.SCOPE_MISSING, `caller ${caller.name} lacks the ${service.scope} scope`);
    }
  };
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

function identify(callers: readonly CallerConfig[], token: string): CallerConfig | undefined {
  const digest = createHash("sha256").update(token, "utf8").digest();
  let found: CallerConfig | undefined;
  // Compare against every caller, so timing does not tell which one matched.
  for (const c of callers) {
    if (c.tokenSha256 !== undefined && c.tokenSha256.length === digest.length && timingSafeEqual(c.tokenSha256, digest)) found ??= c;
  }
  return found;
}
