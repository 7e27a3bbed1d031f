import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { AuditLog } from "../audit/audit-log.js";
import { AdminService } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import { BrokerError } from "../errors/index.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { ListenerFact } from "../listen/listener-facts.js";
import type { KeyRotation } from "../store/key-rotation.js";
import { MAX_BATCH } from "./input.js";
import { defineService, type RpcService } from "./service.js";
import { callScopeOf } from "./context.js";

const DEFAULT_BATCH = 200;

/** What GetServerStatus reports; the composition root knows it (listeners are bound after the services are built). */
export interface ServerFacts {
  version: string;
  startedAt: number;
  listeners: string[];
  store: string;
  /** What each listener speaks (listen/listener-facts.ts). */
  listenerDetails?: ListenerFact[];
  /** Why the store does not answer now; undefined while it does. */
  storeProblem?: string | undefined;
}

export interface AdminServiceOptions {
  providers: ProviderRegistry;
  rotation: KeyRotation;
  audit: AuditLog;
  server: () => ServerFacts;
}

export function adminService({ providers, rotation, audit, server }: AdminServiceOptions): RpcService {
  return defineService(
    AdminService,
    {
      listProviders() {
        return {
          providers: providers.all().map(({ config: p, gate }) => ({
            id: p.id,
            type: p.type,
            displayName: p.displayName,
            scopes: [...p.scopes],
            regex: p.regex?.source ?? "",
            deviceFlow: p.deviceFlow,
            noRefresh: p.noRefresh,
            clientId: p.clientId,
            authUrl: p.authUrl ?? "",
            tokenUrl: p.tokenUrl,
            misconfiguredReason: gate.misconfiguredReason ?? "",
          })),
        };
      },

      async getKeyStatus() {
        const { keys, underUnknownKeys } = await rotation.status();
        return {
          keys: keys.map((k) => ({
            keyId: k.keyId,
            active: k.active,
            sealedValues: k.sealedValues,
            ...(k.firstSeenAt !== undefined ? { firstSeenAt: timestampFromMs(k.firstSeenAt) } : {}),
          })),
          valuesUnderUnknownKeys: underUnknownKeys,
        };
      },

      async reencryptLinks(req, ctx) {
        if (req.batchSize > MAX_BATCH) throw BrokerError.invalidArgument("batch_size", `must be at most ${MAX_BATCH}`);
        const started = performance.now();
        const { rows, remaining } = await rotation.reencrypt(req.batchSize === 0 ? DEFAULT_BATCH : req.batchSize, ctx.signal);
        audit.action({
          event: "key_rotation",
          method: "reencrypt",
          outcome: { grpcCode: "OK", reason: "" },
          providerContacted: false,
          durationMs: performance.now() - started,
          facts: { reencrypted_rows: rows, remaining_values: remaining },
        }, callScopeOf(ctx));
        return { reencryptedRows: rows, remainingValues: remaining };
      },

      getServerStatus() {
        const facts = server();
        // Nothing here reads the store: status answers while it is down.
        return {
          version: facts.version,
          startedAt: timestampFromMs(facts.startedAt),
          listeners: facts.listeners,
          store: facts.store,
          listenerDetails: facts.listenerDetails ?? [],
          storeProblem: facts.storeProblem ?? "",
        };
      },
    },
    "admin",
  );
}
