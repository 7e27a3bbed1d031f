import { setTimeout as sleep } from "node:timers/promises";
import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { DeviceLinkState, LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import { createBrokerClient } from "./daemon-client.js";
import { describeError } from "./daemon-error.js";
import { resolveAddr } from "./token.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit-codes.js";

type Flags = Record<string, string | boolean | undefined>;

function client(flags: Flags) {
  const callerToken = (flags["caller-token"] as string | undefined) ?? process.env.TOKENBROKER_CALLER_TOKEN;
  return createBrokerClient(LinkService, resolveAddr(flags.addr as string | undefined), { callerToken });
}

function userAndProvider(flags: Flags, command: string): { user: string; provider: string } | undefined {
  if (typeof flags.user !== "string" || typeof flags.provider !== "string") {
    process.stderr.write(`tokenbroker ${command}: --user and --provider are required\n`);
    return undefined;
  }
  return { user: flags.user, provider: flags.provider };
}

/** `link`: prints the authorize URL, or with --device runs the device flow to the end. */
export async function linkCommand(flags: Flags): Promise<number> {
  const who = userAndProvider(flags, "link");
  if (who === undefined) return EXIT_USAGE;
  const c = client(flags);
  try {
    if (flags.device !== true) {
      const res = await c.rpc.startLink(
        { userId: who.user, providerId: who.provider, redirectAfter: (flags["redirect-after"] as string | undefined) ?? "" },
        { timeoutMs: 30_000 },
      );
      process.stdout.write(`${res.authorizeUrl}\n`);
      process.stderr.write(`open the URL above in a browser; it stays valid until ${res.expiresAt ? new Date(timestampMs(res.expiresAt)).toISOString() : "?"}\n`);
      return EXIT_OK;
    }
    const start = await c.rpc.startDeviceLink({ userId: who.user, providerId: who.provider }, { timeoutMs: 30_000 });
    process.stdout.write(`go to ${start.verificationUriComplete || start.verificationUri} and enter the code ${start.userCode}\n`);
    let wait = start.interval ? durationMs(start.interval) : 5000;
    for (;;) {
      await sleep(wait);
      const poll = await c.rpc.pollDeviceLink({ sessionId: start.sessionId }, { timeoutMs: 30_000 });
      switch (poll.state) {
        case DeviceLinkState.LINKED:
          process.stdout.write(`linked ${who.user} to ${who.provider}\n`);
          return EXIT_OK;
        case DeviceLinkState.DENIED:
          process.stderr.write("tokenbroker: the authorization was denied\n");
          return EXIT_FAILURE;
        case DeviceLinkState.EXPIRED:
          process.stderr.write("tokenbroker: the device code expired; run tokenbroker link --device again\n");
          return EXIT_FAILURE;
        default:
          wait = poll.retryAfter ? durationMs(poll.retryAfter) : wait;
      }
    }
  } catch (err) {
    process.stderr.write(describeError(err, who.user, who.provider));
    return EXIT_FAILURE;
  } finally {
    c.close();
  }
}

export async function unlinkCommand(flags: Flags): Promise<number> {
  const who = userAndProvider(flags, "unlink");
  if (who === undefined) return EXIT_USAGE;
  const c = client(flags);
  try {
    const res = await c.rpc.unlink({ userId: who.user, providerId: who.provider }, { timeoutMs: 60_000 });
    process.stdout.write(`unlinked ${who.user} from ${who.provider}; ${res.tokenRevoked ? "tokens revoked at the provider" : `tokens not revoked: ${res.revocationError}`}\n`);
    return EXIT_OK;
  } catch (err) {
    process.stderr.write(describeError(err, who.user, who.provider));
    return EXIT_FAILURE;
  } finally {
    c.close();
  }
}

export async function linksCommand(flags: Flags): Promise<number> {
  const c = client(flags);
  try {
    const all: Link[] = [];
    let pageToken = "";
    do {
      const page = await c.rpc.listLinks(
        { userId: (flags.user as string | undefined) ?? "", providerId: (flags.provider as string | undefined) ?? "", pageSize: 1000, pageToken },
        { timeoutMs: 30_000 },
      );
      all.push(...page.links);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    const iso = (t: Link["expiresAt"]): string | null => (t ? new Date(timestampMs(t)).toISOString() : null);
    if (flags.json === true) {
      process.stdout.write(
        `${JSON.stringify(
          all.map((l) => ({
            user_id: l.userId,
            provider_id: l.providerId,
            has_refresh_token: l.hasRefreshToken,
            expires_at: iso(l.expiresAt),
            last_refreshed_at: iso(l.lastRefreshedAt),
            refresh_failed_at: iso(l.refreshFailure?.failedAt),
          })),
        )}\n`,
      );
    } else {
      process.stdout.write("PROVIDER\tUSER\tEXPIRES\tREFRESH\n");
      for (const l of all) {
        const state = l.refreshFailure ? "failed: re-link" : l.hasRefreshToken ? "yes" : "no";
        process.stdout.write(`${l.providerId}\t${l.userId}\t${iso(l.expiresAt) ?? "never"}\t${state}\n`);
      }
    }
    return EXIT_OK;
  } catch (err) {
    process.stderr.write(describeError(err, "", ""));
    return EXIT_FAILURE;
  } finally {
    c.close();
  }
}
