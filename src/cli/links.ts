import { setTimeout as sleep } from "node:timers/promises";
import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { DeviceLinkState, LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import { str } from "./args.js";
import type { CommandContext } from "./command.js";
import { confirm } from "./confirm.js";
import { EXIT_FAILURE, EXIT_OK } from "./exit-codes.js";
import { writeErr, writeOut } from "./output.js";

/** `link`: prints the authorize URL, or with --device runs the device flow to the end. */
export async function linkCommand(ctx: CommandContext): Promise<number> {
  const userId = str(ctx.flags, "user") ?? "";
  const providerId = str(ctx.flags, "provider") ?? "";
  const links = ctx.connect(LinkService);
  const json = ctx.flags.json === true;
  if (ctx.flags.device !== true) {
    const res = await links.startLink({ userId, providerId, redirectAfter: str(ctx.flags, "redirect-after") ?? "" }, { timeoutMs: 30_000 });
    const expiresAt = res.expiresAt ? new Date(timestampMs(res.expiresAt)).toISOString() : null;
    if (json) writeOut(`${JSON.stringify({ authorize_url: res.authorizeUrl, expires_at: expiresAt })}\n`);
    else writeOut(`${res.authorizeUrl}\n`);
    writeErr(`open the URL ${json ? "in authorize_url" : "above"} in a browser; it stays valid until ${expiresAt ?? "?"}\n`);
    return EXIT_OK;
  }
  const start = await links.startDeviceLink({ userId, providerId }, { timeoutMs: 30_000 });
  // A prompt, like link's: stderr, so stdout holds only the result.
  writeErr(`go to ${start.verificationUriComplete || start.verificationUri} and enter the code ${start.userCode}\n`);
  let wait = start.interval ? durationMs(start.interval) : 5000;
  for (;;) {
    await sleep(wait);
    const poll = await links.pollDeviceLink({ sessionId: start.sessionId }, { timeoutMs: 30_000 });
    switch (poll.state) {
      case DeviceLinkState.LINKED:
        writeOut(json ? `${JSON.stringify({ linked: true, user_id: userId, provider_id: providerId })}\n` : `linked ${userId} to ${providerId}\n`);
        return EXIT_OK;
      case DeviceLinkState.DENIED:
        writeErr("tokenbroker: the authorization was denied\n");
        return EXIT_FAILURE;
      case DeviceLinkState.EXPIRED:
        writeErr("tokenbroker: the device code expired; run tokenbroker link --device again\n");
        return EXIT_FAILURE;
      default:
        wait = poll.retryAfter ? durationMs(poll.retryAfter) : wait;
    }
  }
}

/** `unlink`: asks first on a terminal, unless --yes; a script (stdin not a TTY) is not asked. */
export async function unlinkCommand(ctx: CommandContext): Promise<number> {
  const userId = str(ctx.flags, "user") ?? "";
  const providerId = str(ctx.flags, "provider") ?? "";
  if (ctx.flags.yes !== true && process.stdin.isTTY === true) {
    if (!(await confirm(`unlink ${userId} from ${providerId} and revoke its tokens at the provider?`))) {
      writeErr("tokenbroker: not unlinked\n");
      return EXIT_FAILURE;
    }
  }
  const res = await ctx.connect(LinkService).unlink({ userId, providerId }, { timeoutMs: 60_000 });
  if (ctx.flags.json === true) {
    writeOut(`${JSON.stringify({ unlinked: true, user_id: userId, provider_id: providerId, token_revoked: res.tokenRevoked, revocation_error: res.revocationError || null })}\n`);
    return EXIT_OK;
  }
  writeOut(`unlinked ${userId} from ${providerId}; ${res.tokenRevoked ? "tokens revoked at the provider" : `tokens not revoked: ${res.revocationError}`}\n`);
  return EXIT_OK;
}

/** Every link matching the filters, all pages. */
export async function listAllLinks(ctx: CommandContext, filter: { userId?: string; providerId?: string } = {}): Promise<Link[]> {
  const links = ctx.connect(LinkService);
  const all: Link[] = [];
  let pageToken = "";
  do {
    const page = await links.listLinks({ userId: filter.userId ?? "", providerId: filter.providerId ?? "", pageSize: 1000, pageToken }, { timeoutMs: 30_000 });
    all.push(...page.links);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return all;
}

/** The provider's account name, or "-" when the daemon does not know it. */
export const accountText = (l: Link): string => (l.account === "" ? "-" : l.account);
/** The granted scopes, comma-separated as `gh auth status` shows them; "-" when the provider never said. */
export const scopesText = (l: Link): string => (l.grantedScopes.length === 0 ? "-" : l.grantedScopes.join(","));

const iso = (t: Link["expiresAt"]): string | null => (t ? new Date(timestampMs(t)).toISOString() : null);

/** `links`: a table, or with --json an array; --needs-relink keeps the links whose refresh failed. */
export async function linksCommand(ctx: CommandContext): Promise<number> {
  const user = str(ctx.flags, "user");
  const provider = str(ctx.flags, "provider");
  let all = await listAllLinks(ctx, { ...(user !== undefined ? { userId: user } : {}), ...(provider !== undefined ? { providerId: provider } : {}) });
  if (ctx.flags["needs-relink"] === true) all = all.filter((l) => l.refreshFailure !== undefined);
  if (ctx.flags.json === true) {
    writeOut(
      `${JSON.stringify(
        all.map((l) => ({
          user_id: l.userId,
          provider_id: l.providerId,
          has_refresh_token: l.hasRefreshToken,
          expires_at: iso(l.expiresAt),
          last_refreshed_at: iso(l.lastRefreshedAt),
          refresh_failed_at: iso(l.refreshFailure?.failedAt),
          account: l.account === "" ? null : l.account,
          granted_scopes: l.grantedScopes.length === 0 ? null : l.grantedScopes,
        })),
      )}\n`,
    );
    return EXIT_OK;
  }
  // One write: a table of thousands of links is still flushed whole before exit.
  const rows = all.map((l) => {
    const state = l.refreshFailure ? "failed: re-link" : l.hasRefreshToken ? "yes" : "no";
    return `${l.providerId}\t${l.userId}\t${iso(l.expiresAt) ?? "never"}\t${state}\t${accountText(l)}\t${scopesText(l)}\n`;
  });
  writeOut(`PROVIDER\tUSER\tEXPIRES\tREFRESH\tACCOUNT\tSCOPES\n${rows.join("")}`);
  return EXIT_OK;
}
