import { AdminService } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import type { RefreshEngine } from "../broker/engine.js";
import type { ProviderConfig } from "../config/config.js";
import { defineService, type RpcService } from "./service.js";

export function adminService(engine: RefreshEngine, providers: ProviderConfig[]): RpcService {
  return defineService(
    AdminService,
    {
      listProviders() {
        return {
          providers: providers.map((p) => ({
            id: p.id,
            type: p.type,
            displayName: p.displayName,
            scopes: p.scopes,
            regex: p.regex?.source ?? "",
            deviceFlow: p.deviceFlow,
            noRefresh: p.noRefresh,
            clientId: p.clientId,
            authUrl: p.authUrl ?? "",
            tokenUrl: p.tokenUrl,
            misconfiguredReason: engine.gate(p.id)?.misconfiguredReason ?? "",
          })),
        };
      },
    },
    "admin",
  );
}
