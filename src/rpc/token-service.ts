import { Code } from "@connectrpc/connect";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { RefreshEngine } from "../broker/engine.js";
import { BrokerError } from "../errors/index.js";
import { gitCredentialStyle, type ProviderRegistry } from "../providers/index.js";
import { callerPatience } from "./caller-deadline.js";
import { callScopeOf } from "./context.js";
import { tokenOf } from "./convert.js";
import { tokenAnswer } from "./token-answers.js";
import { MAX_PROVIDERS_PER_CALL, MAX_URL_BYTES, durationMs, limitBytes, requireId, requireSecret } from "./input.js";
import { defineService, type RpcService } from "./service.js";
import { watchAccessToken, type WatchDeps } from "./watch-handler.js";
import { statusMessage, wireStatus } from "./wire-error.js";


/** Told of every token handed out: its provider and expiry (null: does not expire). */
export type ServedToken = (providerId: string, expiresAt: number | null) => void;

export interface TokenServiceOptions {
  engine: RefreshEngine;
  providers: ProviderRegistry;
  /** min_valid_for when a request leaves it unset. */
  defaultMinValidMs: number;
  served: ServedToken;
  /** WatchAccessToken's dependencies; without them (tests that build the service bare) the method answers UNIMPLEMENTED. */
  watch?: WatchDeps;
}

export function tokenService({ engine, providers, defaultMinValidMs, served, watch }: TokenServiceOptions): RpcService {
  return defineService(
    TokenService,
    {
      async obtainAccessToken(req, ctx) {
        const key = { userId: requireId("user_id", req.userId), providerId: requireId("provider_id", req.providerId) };
        const minValid = durationMs("min_valid_for", req.minValidFor, defaultMinValidMs);
        // The erase compare-and-swap of `tokenbroker git-credential erase` (broker/rejected-token.ts).
        const rejectedAccessToken = requireSecret("rejected_access_token", req.rejectedAccessToken, false);
        const rec = await engine.obtain(key, minValid, () => callerPatience(ctx), rejectedAccessToken === "" ? undefined : { rejectedAccessToken }, callScopeOf(ctx));
        served(rec.providerId, rec.expiresAt);
        return tokenAnswer(rec);
      },

      async obtainAccessTokens(req, ctx) {
        const userId = requireId("user_id", req.userId);
        if (req.providerIds.length === 0) throw BrokerError.invalidArgument("provider_ids", "must not be empty");
        if (req.providerIds.length > MAX_PROVIDERS_PER_CALL) throw BrokerError.invalidArgument("provider_ids", `at most ${MAX_PROVIDERS_PER_CALL}`);
        const ids = [...new Set(req.providerIds.map((id, i) => requireId(`provider_ids[${i}]`, id)))];
        const minValid = durationMs("min_valid_for", req.minValidFor, defaultMinValidMs);
        let patience: AbortSignal | undefined;
        const waitFor = (): AbortSignal => (patience ??= callerPatience(ctx));
        const results = await Promise.all(
          ids.map(async (providerId) => {
            try {
              const rec = await engine.obtain({ userId, providerId }, minValid, waitFor, undefined, callScopeOf(ctx));
              served(rec.providerId, rec.expiresAt);
              return { providerId, outcome: { case: "token" as const, value: tokenOf(rec) } };
            } catch (err) {
              const wire = wireStatus(err, { userId, providerId });
              if (wire.code === Code.Internal || wire.code === Code.DeadlineExceeded) throw err;
              return { providerId, outcome: { case: "error" as const, value: statusMessage(wire) } };
            }
          }),
        );
        return { results };
      },

      // Without its dependencies (tests that build the service bare) the method answers UNIMPLEMENTED.
      ...(watch !== undefined ? { watchAccessToken: (req, ctx) => watchAccessToken(req, ctx, engine, watch, defaultMinValidMs, served) } : {}),

      matchProvider(req) {
        if (req.url === "") throw BrokerError.invalidArgument("url", "must not be empty");
        limitBytes("url", req.url, MAX_URL_BYTES);
        const config = providers.match(req.url).config;
        const git = gitCredentialStyle(config.type);
        return { providerId: config.id, gitUsername: git.username, gitBearer: git.bearer };
      },
    },
    "token",
  );
}
