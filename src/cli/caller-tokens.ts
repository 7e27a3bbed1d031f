import { timestampMs } from "@bufbuild/protobuf/wkt";
import { CallerService, type CallerToken } from "../../gen/tokenbroker/v1/caller_service_pb.js";
import { parseDuration } from "../config/duration.js";
import { UsageError, str } from "./args.js";
import type { CommandContext } from "./command.js";
import { EXIT_OK } from "./exit-codes.js";
import { writeOut } from "./output.js";

/** A comma-separated option as a list ("" and unset: none). */
function list(ctx: CommandContext, name: string): string[] {
  return (str(ctx.flags, name) ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
}

const iso = (t: CallerToken["expiresAt"]): string | null => (t ? new Date(timestampMs(t)).toISOString() : null);

function describe(t: CallerToken): Record<string, unknown> {
  return {
    id: t.id,
    user_id: t.userId,
    provider_ids: t.providerIds,
    scopes: t.scopes,
    label: t.label,
    issued_by: t.issuedBy,
    created_at: iso(t.createdAt),
    expires_at: iso(t.expiresAt),
    revoked_at: iso(t.revokedAt),
  };
}

/**
 * `caller-token issue`: prints the job token alone on stdout (for
 * `TOKENBROKER_CALLER_TOKEN=$(…)`), or with --json the token and what was
 * issued. The token is shown this once; the daemon keeps its SHA-256.
 */
export async function callerTokenIssue(ctx: CommandContext): Promise<number> {
  const ttlText = str(ctx.flags, "ttl") as string;
  const ttlMs = parseDuration(ttlText);
  if (ttlMs === undefined) throw new UsageError(`--ttl "${ttlText}": not a duration (use e.g. 30m, 2h)`);
  const res = await ctx.connect(CallerService).issueCallerToken({
    userId: str(ctx.flags, "user") as string,
    providerIds: list(ctx, "providers"),
    ttl: { seconds: BigInt(Math.floor(ttlMs / 1000)), nanos: (ttlMs % 1000) * 1_000_000 },
    scopes: list(ctx, "scopes"),
    label: str(ctx.flags, "label") ?? "",
  });
  if (ctx.flags.json === true) writeOut(`${JSON.stringify({ token: res.token, ...describe(res.callerToken!) })}\n`);
  else writeOut(`${res.token}\n`);
  return EXIT_OK;
}

/** `caller-token revoke ID`. */
export async function callerTokenRevoke(ctx: CommandContext): Promise<number> {
  const id = ctx.positionals[0];
  if (id === undefined) throw new UsageError("caller-token revoke needs the token's id (from `caller-token list`)");
  const res = await ctx.connect(CallerService).revokeCallerToken({ id });
  writeOut(res.revoked ? `revoked ${id}\n` : `${id} was not active (unknown, already revoked or expired)\n`);
  return EXIT_OK;
}

/** `caller-token list`: never a token, only ids and what each is for. */
export async function callerTokenList(ctx: CommandContext): Promise<number> {
  const res = await ctx.connect(CallerService).listCallerTokens({ userId: str(ctx.flags, "user") ?? "", includeInactive: ctx.flags.all === true });
  if (ctx.flags.json === true) {
    writeOut(`${JSON.stringify(res.callerTokens.map(describe))}\n`);
    return EXIT_OK;
  }
  const rows = res.callerTokens.map((t) => `${t.id}\t${t.userId}\t${t.providerIds.join(",") || "*"}\t${iso(t.expiresAt)}\t${t.revokedAt ? "revoked" : "active"}\t${t.label}\n`);
  writeOut(`ID\tUSER\tPROVIDERS\tEXPIRES\tSTATE\tLABEL\n${rows.join("")}`);
  return EXIT_OK;
}
