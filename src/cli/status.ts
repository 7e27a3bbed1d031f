import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../gen/grpc/health/v1/health_pb.js";
import { AdminService } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import type { CommandContext } from "./command.js";
import { EXIT_OK, EXIT_RETRY } from "./exit-codes.js";
import { listAllLinks } from "./links.js";
import { writeOut } from "./output.js";

const iso = (t: Timestamp | undefined): string | null => (t ? new Date(timestampMs(t)).toISOString() : null);

/**
 * `status`: one look at the running daemon — health, version, listeners,
 * store, keys with their counts, providers (misconfigured ones flagged) and
 * the links whose refresh failed. Exit 0 while it serves, 4 otherwise.
 */
export async function statusCommand(ctx: CommandContext): Promise<number> {
  const health = await ctx.connect(Health).check({ service: "" }, { timeoutMs: 10_000 });
  const admin = ctx.connect(AdminService);
  const [server, keys, providers, links] = await Promise.all([
    admin.getServerStatus({}, { timeoutMs: 10_000 }),
    admin.getKeyStatus({}, { timeoutMs: 60_000 }),
    admin.listProviders({}, { timeoutMs: 10_000 }),
    listAllLinks(ctx),
  ]);
  const serving = health.status === Serving.SERVING;
  const relink = links.filter((l) => l.refreshFailure !== undefined);
  const report = {
    health: serving ? "SERVING" : (Serving[health.status] ?? "UNKNOWN"),
    version: server.version,
    started_at: iso(server.startedAt),
    listeners: server.listeners,
    store: server.store,
    keys: keys.keys.map((k) => ({ key_id: k.keyId, active: k.active, sealed_values: k.sealedValues })),
    values_under_unknown_keys: keys.valuesUnderUnknownKeys,
    providers: providers.providers.map((p) => ({ id: p.id, type: p.type, misconfigured: p.misconfiguredReason !== "", misconfigured_reason: p.misconfiguredReason || null })),
    links: links.length,
    needs_relink: relink.map((l) => ({ user_id: l.userId, provider_id: l.providerId, refresh_failed_at: iso(l.refreshFailure?.failedAt) })),
  };
  if (ctx.flags.json === true) {
    writeOut(`${JSON.stringify(report)}\n`);
    return serving ? EXIT_OK : EXIT_RETRY;
  }
  const lines = [
    `health:     ${report.health}`,
    `version:    ${report.version}, serving since ${report.started_at ?? "?"}`,
    `listeners:  ${report.listeners.join(", ")}`,
    `store:      ${report.store}`,
    `keys:       ${report.keys.map((k) => `${k.key_id} (${k.active ? "active" : "decrypt-only"}, ${k.sealed_values} values)`).join(", ")}${report.values_under_unknown_keys > 0 ? `, ${report.values_under_unknown_keys} values under unknown keys` : ""}`,
    report.providers.length === 0 ? "providers:  none" : "providers:",
    ...report.providers.map((p) => `  ${p.id} (${p.type})${p.misconfigured ? `  MISCONFIGURED: ${p.misconfigured_reason}` : ""}`),
    `links:      ${report.links}, ${relink.length} need${relink.length === 1 ? "s" : ""} re-link`,
    ...report.needs_relink.map((l) => `  ${l.provider_id}\t${l.user_id}\trefresh failed at ${l.refresh_failed_at ?? "?"}`),
  ];
  writeOut(`${lines.join("\n")}\n`);
  return serving ? EXIT_OK : EXIT_RETRY;
}
