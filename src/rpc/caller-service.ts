import { timestampFromMs, type Duration } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { CallerService } from "../../gen/tokenbroker/v1/caller_service_pb.js";
import type { CallerTokensConfig } from "../config/callers.js";
import { BrokerError } from "../errors/index.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { CallerTokenRecord, CallerTokenStore } from "../store/caller-token-store.js";
import { newJobToken, newJobTokenId, tokenDigest } from "./caller-token-format.js";
import { callerKey, peerKey } from "./context.js";
import { MAX_ID_BYTES, optionalId, requireId } from "./input.js";
import { defineService, type RpcService } from "./service.js";

/** The scopes a job token may carry: what a job does, never administration or issuing more tokens. */
const JOB_SCOPES = ["token", "link"] as const;
const MAX_PROVIDERS = 64;
const MAX_LIST = 10_000;

/**
 * CallerService (scope `provision`, docs/design.md §6): job-scoped caller
 * tokens. The token is returned once and only its SHA-256 is stored; a
 * listing never holds a secret. A provisioner bound to users issues, lists
 * and revokes tokens of those users only.
 */
export function callerService(store: CallerTokenStore, limits: CallerTokensConfig, providers: ProviderRegistry, now: () => number = Date.now): RpcService {
  return defineService(
    CallerService,
    {
      async issueCallerToken(req, ctx) {
        const userId = requireId("user_id", req.userId);
        if (req.providerIds.length > MAX_PROVIDERS) throw BrokerError.invalidArgument("provider_ids", `at most ${MAX_PROVIDERS}`);
        const providerIds = [...new Set(req.providerIds.map((id, i) => requireId(`provider_ids[${i}]`, id)))];
        for (const id of providerIds) providers.require(id);
        const ttlMs = ttl(req.ttl, limits.maxTtlMs);
        const scopes = [...new Set(req.scopes)];
        for (const [i, s] of scopes.entries()) {
          if (!(JOB_SCOPES as readonly string[]).includes(s)) throw BrokerError.invalidArgument(`scopes[${i}]`, `must be one of ${JOB_SCOPES.join(", ")}`);
        }
        const label = req.label;
        if (Buffer.byteLength(label) > MAX_ID_BYTES) throw BrokerError.invalidArgument("label", `must be at most ${MAX_ID_BYTES} bytes`);
        // eslint-disable-next-line no-control-regex
        if (/[\u0000-\u001f\u007f]/.test(label)) throw BrokerError.invalidArgument("label", "must not contain control characters");
        const token = newJobToken();
        const at = now();
        const record: CallerTokenRecord = {
          id: newJobTokenId(),
          digest: tokenDigest(token),
          userId,
          providerIds,
          scopes: scopes.length === 0 ? ["token"] : scopes,
          label,
          issuedBy: issuer(ctx),
          createdAt: at,
          expiresAt: at + ttlMs,
          revokedAt: null,
        };
        await store.insertCallerToken(record);
        return { token, callerToken: describe(record) };
      },

      async revokeCallerToken(req, ctx) {
        const id = requireId("id", req.id);
        // A provisioner bound to users revokes only their tokens; another user's is "not active" to it (not disclosed).
        const users = ctx.values.get(callerKey)?.users;
        if (users !== undefined) {
          const own = await Promise.all(users.map((userId) => store.listCallerTokens({ userId, activeAt: now() })));
          if (!own.flat().some((r) => r.id === id)) return { revoked: false };
        }
        return { revoked: await store.revokeCallerToken(id, now()) };
      },

      async listCallerTokens(req) {
        const userId = optionalId("user_id", req.userId);
        const rows = await store.listCallerTokens({ userId, activeAt: req.includeInactive ? undefined : now() });
        return { callerTokens: rows.slice(0, MAX_LIST).map(describe) };
      },
    },
    "provision",
  );
}

/** Who issued a token: the caller's name, or for an anonymous socket call the process the kernel named. */
function issuer(ctx: HandlerContext): string {
  const name = ctx.values.get(callerKey)?.name;
  if (name !== undefined) return name;
  const cred = ctx.values.get(peerKey).cred;
  return cred === undefined ? "socket" : `socket uid ${cred.uid} pid ${cred.pid}`;
}

function ttl(d: Duration | undefined, maxMs: number): number {
  if (d === undefined) throw BrokerError.invalidArgument("ttl", "must be set (how long the job may use the token)");
  if (d.seconds < 0n || d.nanos < 0 || d.nanos > 999_999_999) throw BrokerError.invalidArgument("ttl", "must be a non-negative duration");
  const ms = Number(d.seconds) * 1000 + Math.floor(d.nanos / 1_000_000);
  if (ms <= 0) throw BrokerError.invalidArgument("ttl", "must be greater than 0");
  if (ms > maxMs) throw BrokerError.invalidArgument("ttl", `must be at most caller_tokens.max_ttl (${maxMs / 1000}s)`);
  return ms;
}

function describe(r: CallerTokenRecord) {
  return {
    id: r.id,
    userId: r.userId,
    providerIds: r.providerIds,
    scopes: r.scopes,
    label: r.label,
    createdAt: timestampFromMs(r.createdAt),
    expiresAt: timestampFromMs(r.expiresAt),
    ...(r.revokedAt !== null ? { revokedAt: timestampFromMs(r.revokedAt) } : {}),
    issuedBy: r.issuedBy,
  };
}

