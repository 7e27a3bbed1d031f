import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { parseDuration } from "../config/duration.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { UsageError, str } from "./args.js";
import type { CommandContext } from "./command.js";
import { EXIT_OK } from "./exit-codes.js";
import { writeOut } from "./output.js";

/** `token`: the access token on stdout (or a JSON object), nothing else. */
export async function tokenCommand(ctx: CommandContext): Promise<number> {
  const minValid = str(ctx.flags, "min-valid");
  const minValidMs = minValid === undefined ? undefined : parseDuration(minValid);
  if (minValidMs === undefined && minValid !== undefined) throw new UsageError(`--min-valid "${minValid}": not a duration (use e.g. 30s, 5m)`);
  const res = await ctx.connect(TokenService).obtainAccessToken(
    {
      userId: str(ctx.flags, "user") ?? "",
      providerId: str(ctx.flags, "provider") ?? "",
      ...(minValidMs !== undefined ? { minValidFor: durationFromMs(minValidMs) } : {}),
    },
    { timeoutMs: 30_000 },
  );
  const token = res.token;
  if (token === undefined) throw new Error("the daemon answered without a token");
  if (ctx.flags.json === true) {
    writeOut(
      `${JSON.stringify({
        access_token: token.accessToken,
        token_type: token.tokenType,
        expires_at: token.expiresAt ? new Date(timestampMs(token.expiresAt)).toISOString() : null,
        extra: token.extra,
      })}\n`,
    );
  } else {
    writeOut(`${token.accessToken}\n`);
  }
  return EXIT_OK;
}
