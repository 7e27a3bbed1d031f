import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../gen/grpc/health/v1/health_pb.js";
import { AdminService, type GetKeyStatusResponse } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import type { CommandContext } from "./command.js";
import { reasonOf } from "./daemon-error.js";
import { EXIT_OK, EXIT_RETRY } from "./exit-codes.js";
import { accountText, listAllLinks, scopesText } from "./links.js";

/** At most this many links are listed one by one in the human output; `tokenbroker links` lists them all. */
const STATUS_LINK_LINES = 20;
import { writeOut } from "./output.js";

const iso = (t: Timestamp | undefined): string | null => (t ? new Date(timestampMs(t)).toISOString() : null);

/** A part of the answer that needs the store: its value, or, while the store cannot serve, undefined. */
async function unlessStoreDown<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (reasonOf(err) === "STORE_UNAVAILABLE") return undefined;
    throw err;
  }
}

/**
 * `status`: one look at the running daemon — health, version, listeners
 * (what each speaks), store, keys with their counts, providers
 * (misconfigured ones flagged) and the links whose refresh failed. While
 * the store is down it still prints what the daemon knows without it
 * (listeners, providers, the store's cause). Exit 0 while it serves, 4
 * otherwise.
 */
export async function statusCommand(ctx: CommandContext): Promise<number> {
  const health = await ctx.connect(Health).check({ service: "" }, { timeoutMs: 10_000 });
  const admin = ctx.connect(AdminService);
  const [server, keys, providers, links] = await Promise.all([
    admin.getServerStatus({}, { timeoutMs: 10_000 }),
    unlessStoreDown<GetKeyStatusResponse>(admin.getKeyStatus({}, { timeoutMs: 60_000 })),
    admin.listProviders({}, { timeoutMs: 10_000 }),
    unlessStoreDown<Link[]>(listAllLinks(ctx)),
  ]);
  const serving = health.status === Serving.SERVING;
  const storeDown = keys === undefined || links === undefined;
  const storeProblem = server.storeProblem !== "" ? server.storeProblem : storeDown ? "the store cannot serve now (STORE_UNAVAILABLE)" : null;
  const relink = (links ?? []).filter((l) => l.refreshFailure !== undefined);
  const details = server.listenerDetails.length > 0 ? server.listenerDetails : server.listeners.map((address) => ({ address, protocol: "", tls: false, mtls: false, cliAddress: "" }));
  const report = {
    health: serving ? "SERVING" : (Serving[health.status] ?? "UNKNOWN"),
    version: server.version,
    started_at: iso(server.startedAt),
    listeners: server.listeners,
    listener_details: details.map((l) => ({ address: l.address, protocol: l.protocol, tls: l.tls, mtls: l.mtls, cli_address: l.cliAddress })),
    store: server.store,
    store_problem: storeProblem,
    keys: keys?.keys.map((k) => ({ key_id: k.keyId, active: k.active, sealed_values: k.sealedValues })) ?? null,
    values_under_unknown_keys: keys?.valuesUnderUnknownKeys ?? null,
    providers: providers.providers.map((p) => ({ id: p.id, type: p.type, misconfigured: p.misconfiguredReason !== "", misconfigured_reason: p.misconfiguredReason || null })),
    links: links?.length ?? null,
    needs_relink: links === undefined ? null : relink.map((l) => ({ user_id: l.userId, provider_id: l.providerId, refresh_failed_at: iso(l.refreshFailure?.failedAt) })),
    // Whose account each link is and what it was granted, as `gh auth status` shows them.
    link_accounts:
      links === undefined
        ? null
        : links.map((l) => ({
            user_id: l.userId,
            provider_id: l.providerId,
            account: l.account === "" ? null : l.account,
            granted_scopes: l.grantedScopes.length === 0 ? null : l.grantedScopes,
          })),
  };
  const code = serving && storeProblem === null ? EXIT_OK : EXIT_RETRY;
  if (ctx.flags.json === true) {
    writeOut(`${JSON.stringify(report)}\n`);
    return code;
  }
  const unknown = "unknown: the store cannot serve now";
  const describe = (l: (typeof report.listener_details)[number]): string => {
    if (l.protocol === "") return `  ${l.address}`;
    const what = [l.protocol === "grpc" ? "gRPC" : "Connect, gRPC-Web", l.tls ? "TLS" : "no TLS", ...(l.mtls ? ["mTLS"] : [])].join(", ");
    return `  ${l.address}  ${what}${l.cli_address !== "" && l.cli_address !== l.address ? `  (--addr ${l.cli_address})` : ""}`;
  };
  const lines = [
    `health:     ${report.health}`,
    `version:    ${report.version}, serving since ${report.started_at ?? "?"}`,
    "listeners:",
    ...report.listener_details.map(describe),
    `store:      ${report.store}${storeProblem !== null ? `  UNAVAILABLE: ${storeProblem}` : ""}`,
    keys === undefined
      ? `keys:       ${unknown}`
      : `keys:       ${keys.keys.map((k) => `${k.keyId} (${k.active ? "active" : "decrypt-only"}, ${k.sealedValues} values)`).join(", ")}${keys.valuesUnderUnknownKeys > 0 ? `, ${keys.valuesUnderUnknownKeys} values under unknown keys` : ""}`,
    report.providers.length === 0 ? "providers:  none" : "providers:",
    ...report.providers.map((p) => `  ${p.id} (${p.type})${p.misconfigured ? `  MISCONFIGURED: ${p.misconfigured_reason}` : ""}`),
    links === undefined ? `links:      ${unknown}` : `links:      ${links.length}, ${relink.length} need${relink.length === 1 ? "s" : ""} re-link`,
    ...relink.map((l) => `  ${l.providerId}\t${l.userId}\trefresh failed at ${iso(l.refreshFailure?.failedAt) ?? "?"}`),
    ...accountLines(links),
  ];
  writeOut(`${lines.map((l) => l.trimEnd()).join("\n")}\n`);
  return code;
}

/** One line per link (provider, user, account, scopes) while there are few; a pointer to `links` otherwise. */
function accountLines(links: Link[] | undefined): string[] {
  if (links === undefined || links.length === 0) return [];
  if (links.length > STATUS_LINK_LINES) return [`accounts:   ${links.length} links; \`tokenbroker links\` shows each one's account and scopes`];
  return ["accounts:", ...links.map((l) => `  ${l.providerId}\t${l.userId}\taccount ${accountText(l)}\tscopes ${scopesText(l)}`)];
}
