import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseDuration } from "../config/duration.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { UsageError, str } from "./args.js";
import type { CommandContext } from "./command.js";
import { failureOf } from "./daemon-error.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_RETRY, exitCodeForReason } from "./exit-codes.js";
import { writeErr, writeOut } from "./output.js";

/** The environment variables `--exec` sets for its command. */
export const TOKEN_ENV = "TOKENBROKER_TOKEN";
export const TOKEN_FILE_ENV = "TOKENBROKER_TOKEN_FILE";

/**
 * `token`: the access token on stdout (or a JSON object), nothing else; with
 * `--watch`, `--file` or `--exec` it follows the link through
 * WatchAccessToken for as long as it runs.
 */
export async function tokenCommand(ctx: CommandContext): Promise<number> {
  const minValid = str(ctx.flags, "min-valid");
  const minValidMs = minValid === undefined ? undefined : parseDuration(minValid);
  if (minValidMs === undefined && minValid !== undefined) throw new UsageError(`--min-valid "${minValid}": not a duration (use e.g. 30s, 5m)`);
  const watch = ctx.flags.watch === true;
  const exec = ctx.flags.exec === true;
  const file = str(ctx.flags, "file");
  if (!exec && ctx.positionals.length > 0) throw new UsageError(`unexpected argument "${ctx.positionals[0]}" (a command to run goes after --exec --)`);
  if (exec && ctx.positionals.length === 0) throw new UsageError("--exec needs a command: --exec -- CMD [ARG...]");
  if (exec && watch) throw new UsageError("--exec and --watch do not go together: the command's output is on stdout");
  const request = {
    userId: str(ctx.flags, "user") ?? "",
    providerId: str(ctx.flags, "provider") ?? "",
    ...(minValidMs !== undefined ? { minValidFor: durationFromMs(minValidMs) } : {}),
  };
  if (watch || exec || file !== undefined) return follow(ctx, request, { watch, json: ctx.flags.json === true, file, command: exec ? ctx.positionals : undefined });

  const res = await ctx.connect(TokenService).obtainAccessToken(request, { timeoutMs: 30_000 });
  const token = res.token;
  if (token === undefined) throw new Error("the daemon answered without a token");
  writeOut(ctx.flags.json === true ? `${JSON.stringify(tokenJson(token))}\n` : `${token.accessToken}\n`);
  return EXIT_OK;
}

function tokenJson(token: Token): Record<string, unknown> {
  return {
    access_token: token.accessToken,
    token_type: token.tokenType,
    expires_at: token.expiresAt ? new Date(timestampMs(token.expiresAt)).toISOString() : null,
    extra: token.extra,
  };
}

interface FollowOptions {
  watch: boolean;
  json: boolean;
  file: string | undefined;
  /** `--exec`: the command and its arguments. */
  command: string[] | undefined;
}

/** How long a reconnect waits when the daemon named no retry delay. */
const RECONNECT_MS = 1_000;

/**
 * Follows the link: prints each new token (`--watch`), keeps a file holding
 * it (`--file`; `--exec` makes a private one when none is named) and runs a
 * command (`--exec`). A failure the daemon says to retry (it restarts, the
 * provider is down) reconnects while the current token still works; a
 * reconnect gets the current state first, and an unchanged token is not
 * delivered twice. Anything else ends it with the failure's exit code. The
 * file goes when the command ends, on SIGINT and SIGTERM, and on any exit.
 */
async function follow(ctx: CommandContext, request: { userId: string; providerId: string }, opts: FollowOptions): Promise<number> {
  const rpc = ctx.connect(TokenService);
  const stop = new AbortController();
  const sink = opts.file !== undefined ? new TokenFile(resolve(opts.file)) : opts.command !== undefined ? TokenFile.private() : undefined;
  let child: ChildProcess | undefined;
  let childExit: Promise<number> | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    // The command decides how it ends; without one, the watch ends here.
    if (child !== undefined && child.exitCode === null) child.kill(signal);
    else stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let current: Token | undefined;
  let failing = false;
  const deliver = (token: Token, generation: bigint): void => {
    sink?.write(token.accessToken);
    if (opts.watch) writeOut(opts.json ? `${JSON.stringify({ ...tokenJson(token), generation: generation.toString() })}\n` : `${token.accessToken}\n`);
    if (opts.command !== undefined && child === undefined) {
      const [command, ...args] = opts.command as [string, ...string[]];
      child = spawn(command, args, { stdio: "inherit", env: { ...process.env, [TOKEN_ENV]: token.accessToken, [TOKEN_FILE_ENV]: sink?.path ?? "" } });
      childExit = new Promise((resolveExit) => {
        child!.once("error", (err: NodeJS.ErrnoException) => {
          writeErr(`tokenbroker token: cannot run ${JSON.stringify(command)}: ${err.code ?? err.message}\n`);
          resolveExit(EXIT_FAILURE);
        });
        child!.once("exit", (code, signal) => resolveExit(code ?? 128 + signalNumber(signal)));
      });
      void childExit.then(() => stop.abort());
    }
  };

  const watching = (async (): Promise<void> => {
    while (!stop.signal.aborted) {
      try {
        for await (const msg of rpc.watchAccessToken(request, { signal: stop.signal })) {
          const token = msg.token;
          if (token === undefined) continue;
          if (current === undefined || token.accessToken !== current.accessToken) deliver(token, msg.generation);
          current = token;
          if (msg.refreshFailing !== failing) {
            failing = msg.refreshFailing;
            const why = msg.refreshFailure?.message ?? "";
            writeErr(failing ? `tokenbroker token: refreshing is failing (${why}); ${validity(token)}\n` : "tokenbroker token: refreshing works again\n");
          }
        }
        if (stop.signal.aborted) return;
        // The daemon never ends a watch with OK; should one end so, it is reconnected after a pause like an outage.
        throw new ConnectError("the daemon ended the watch", Code.Unavailable);
      } catch (err) {
        if (stop.signal.aborted) return;
        const failure = failureOf(err, ctx.address());
        const left = current === undefined ? 0 : current.expiresAt === undefined ? Number.POSITIVE_INFINITY : timestampMs(current.expiresAt) - Date.now();
        if (exitCodeForReason(failure.reason) !== EXIT_RETRY || left <= RECONNECT_MS) throw err;
        const waitMs = Math.min(left - RECONNECT_MS, Math.max(100, (failure.retryAfterSec ?? RECONNECT_MS / 1000) * 1000));
        writeErr(`tokenbroker token: ${failure.message}; reconnecting in ${Math.ceil(waitMs / 1000)}s\n`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, waitMs);
          stop.signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
        });
      }
    }
  })();

  try {
    try {
      await watching;
    } catch (err) {
      // The token can no longer be kept fresh: the command must not go on with a stale one.
      if (child !== undefined && child.exitCode === null) child.kill("SIGTERM");
      await childExit;
      throw err;
    }
    return childExit !== undefined ? await childExit : EXIT_OK;
  } finally {
    stop.abort();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    sink?.remove();
  }
}

function validity(token: Token): string {
  return token.expiresAt === undefined ? "the current token does not expire" : `the current token stays valid until ${new Date(timestampMs(token.expiresAt)).toISOString()}`;
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return signal === null ? 0 : (numbers[signal] ?? 0);
}

/**
 * A file holding the current token: each write goes to a temporary file in
 * the same directory (mode 0600) renamed over it, so a reader sees the old
 * token or the new one, never part of one; removed on `remove()` and, should
 * the process exit some other way, on exit.
 */
export class TokenFile {
  readonly #dir: string | undefined;
  readonly #onExit = (): void => this.remove();
  #seq = 0;

  constructor(
    readonly path: string,
    privateDir?: string,
  ) {
    this.#dir = privateDir;
    process.once("exit", this.#onExit);
  }

  /** A file in a new directory only this user can enter (--exec without --file). */
  static private(): TokenFile {
    const dir = mkdtempSync(join(tmpdir(), "tokenbroker-"));
    return new TokenFile(join(dir, "token"), dir);
  }

  write(token: string): void {
    const temp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.${++this.#seq}.tmp`);
    try {
      writeFileSync(temp, token, { mode: 0o600, flag: "wx" });
      chmodSync(temp, 0o600);
      renameSync(temp, this.path);
    } catch (err) {
      rmSync(temp, { force: true });
      throw new Error(`cannot write the token file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }

  remove(): void {
    process.off("exit", this.#onExit);
    rmSync(this.path, { force: true });
    if (this.#dir !== undefined) rmSync(this.#dir, { recursive: true, force: true });
  }
}
