import { ConnectError } from "@connectrpc/connect";
import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { createBrokerClient } from "./daemon-client.js";
import { parseDuration } from "../config/duration.js";
import { ErrorDetailSchema } from "../../gen/tokenbroker/v1/errors_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit-codes.js";

export const DEFAULT_ADDR = "unix://./var/dev/tokenbroker.sock";

export function resolveAddr(flag: string | undefined): string {
  const addr = flag ?? process.env.TOKENBROKER_ADDR ?? DEFAULT_ADDR;
  // grpc-js wants unix:relative or unix:///absolute; accept unix://./x too.
  return addr.replace(/^unix:\/\/\.\//, "unix:./");
}

export async function tokenCommand(flags: Record<string, string | boolean | undefined>): Promise<number> {
  const user = flags.user;
  const provider = flags.provider;
  if (typeof user !== "string" || typeof provider !== "string") {
    process.stderr.write("tokenbroker token: --user and --provider are required\n");
    return EXIT_USAGE;
  }
  let minValidMs: number | undefined;
  if (typeof flags["min-valid"] === "string") {
    minValidMs = parseDuration(flags["min-valid"]);
    if (minValidMs === undefined) {
      process.stderr.write(`tokenbroker token: --min-valid: not a duration (use e.g. 30s, 5m)\n`);
      return EXIT_USAGE;
    }
  }
  const callerToken = (flags["caller-token"] as string | undefined) ?? process.env.TOKENBROKER_CALLER_TOKEN;
  const client = createBrokerClient(TokenService, resolveAddr(flags.addr as string | undefined), { callerToken });
  try {
    const res = await client.rpc.obtainAccessToken(
      { userId: user, providerId: provider, ...(minValidMs !== undefined ? { minValidFor: durationFromMs(minValidMs) } : {}) },
      { timeoutMs: 30_000 },
    );
    const token = res.token;
    if (token === undefined) throw new Error("the daemon answered without a token");
    if (flags.json === true) {
      process.stdout.write(
        `${JSON.stringify({
          access_token: token.accessToken,
          token_type: token.tokenType,
          expires_at: token.expiresAt ? new Date(timestampMs(token.expiresAt)).toISOString() : null,
          extra: token.extra,
        })}\n`,
      );
    } else {
      process.stdout.write(`${token.accessToken}\n`);
    }
    return EXIT_OK;
  } catch (err) {
    process.stderr.write(describeError(err, user, provider));
    return EXIT_FAILURE;
  } finally {
    client.close();
  }
}

export function describeError(err: unknown, user: string, provider: string): string {
  if (!(err instanceof ConnectError)) return `tokenbroker: ${err instanceof Error ? err.message : String(err)}\n`;
  const detail = err.findDetails(ErrorDetailSchema)[0];
  const reason = detail?.reason ?? "UNKNOWN";
  let out = `tokenbroker: ${reason}: ${err.rawMessage}\n`;
  if (detail?.failureReason) out += `  provider said: ${detail.failureReason}\n`;
  if (detail?.hint) out += `  hint: ${detail.hint}\n`;
  if (detail?.retryAfter) out += `  retry after: ${Number(detail.retryAfter.seconds) + detail.retryAfter.nanos / 1e9}s\n`;
  if ((reason === "REAUTH_REQUIRED" || reason === "LINK_NOT_FOUND") && !detail?.hint) {
    out += `  to link again: tokenbroker link --user ${user} --provider ${provider}\n`;
  }
  return out;
}
