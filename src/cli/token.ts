import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { createBrokerClient } from "./daemon-client.js";
import { parseDuration } from "../config/duration.js";
import { describeError } from "./daemon-error.js";
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
