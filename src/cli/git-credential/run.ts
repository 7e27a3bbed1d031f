/**
 * `tokenbroker git-credential get|store|erase`: git's credential helper
 * (README "Git on build hosts"). main.ts dispatches here before loading the
 * CLI, and this file loads only node: builtins and the small modules beside
 * it, so a `get` costs little more than starting Node (bench/git-credential.ts).
 *
 * get: the provider that matches the URL (MatchProvider), the access token of
 * TOKENBROKER_USER (or, with TOKENBROKER_CALLER_TOKEN and no user, the token's
 * own user) as username/password — or, when git offers `capability[]=authtype`
 * and the provider takes it, as an ephemeral Bearer credential — and when it
 * expires. The refresh token never leaves the daemon.
 * erase: git saw the password refused; the daemon refreshes the link only if
 * that exact token is still the stored one (rejected_access_token) and never
 * deletes it. store: nothing to keep.
 *
 * stdout carries protocol lines only; failures are one line on stderr (never
 * a token) and an exit code from cli/exit-codes.ts.
 */
import { readSync } from "node:fs";
import { resolveAddr } from "../address.js";
import { UsageError } from "../args.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, exitCodeForReason } from "../exit-codes.js";
import { writeErr, writeOut } from "../output.js";
import { CallFailed, lightClient, type LightClient } from "./light-client.js";
import { MAX_INPUT_BYTES, ProtocolError, endOfInput, formatAttributes, parseAttributes, single, urlOf, type Attributes } from "./protocol.js";
import { WireError, decodeMatchProviderResponse, decodeObtainAccessTokenResponse, encodeMatchProviderRequest, encodeObtainAccessTokenRequest } from "./wire.js";

const NAME = "tokenbroker git-credential";
const USAGE = `usage: ${NAME} <get|store|erase>
git's credential helper. Install once per host:
  git config --global credential.helper "tokenbroker git-credential"
(or per host: git config --global credential.https://github.com.helper "tokenbroker git-credential").
Environment: TOKENBROKER_ADDR (the daemon), TOKENBROKER_USER (whose token),
TOKENBROKER_CALLER_TOKEN (the caller token; a job token names its user itself).
`;
/** How long one call may take; git waits for the helper. */
const CALL_TIMEOUT_MS = 30_000;

const TOKEN_SERVICE = "/tokenbroker.v1.TokenService";

/** Runs the helper; answers the exit code. Output goes through cli/output.ts (the caller flushes). */
export async function gitCredentialMain(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [op, ...rest] = argv;
  if (op === "--help" || op === "-h") {
    writeOut(USAGE);
    return EXIT_OK;
  }
  if ((op !== "get" && op !== "store" && op !== "erase") || rest.length > 0) {
    writeErr(`${NAME}: ${op === undefined ? "which operation?" : rest.length > 0 ? `unexpected argument "${rest[0]}"` : `unknown operation "${op}"`} (git runs it as get, store or erase)\n${USAGE}`);
    return EXIT_USAGE;
  }
  let attrs: Attributes;
  try {
    attrs = parseAttributes(readInput());
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    writeErr(`${NAME} ${op}: refused input: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (op === "store") return EXIT_OK; // the daemon keeps the link; nothing of git's to store
  const target = urlOf(attrs);
  // Not a URL a provider could match (ssh, a certificate prompt): leave it to other helpers.
  if (target === undefined || (target.protocol !== "https" && target.protocol !== "http")) return EXIT_OK;
  const user = env.TOKENBROKER_USER === "" ? undefined : env.TOKENBROKER_USER;
  const callerToken = env.TOKENBROKER_CALLER_TOKEN === "" ? undefined : env.TOKENBROKER_CALLER_TOKEN;
  const refuse = (message: string, code: number): number => {
    writeErr(`${NAME} ${op}: ${oneLine(message)}\n`);
    // get: git is told to stop here rather than fall through to a prompt that a build cannot answer.
    if (op === "get") writeOut("quit=true\n");
    return code;
  };
  if (user === undefined && callerToken === undefined) {
    return refuse("set TOKENBROKER_USER (whose token git gets) or TOKENBROKER_CALLER_TOKEN (a job token bound to its user)", EXIT_USAGE);
  }
  let address: string;
  try {
    address = resolveAddr(undefined, env);
  } catch (err) {
    if (err instanceof UsageError) return refuse(err.message, EXIT_USAGE);
    throw err;
  }
  const client = lightClient(address, callerToken);
  try {
    const match = decodeMatchProviderResponse(await client.unary(`${TOKEN_SERVICE}/MatchProvider`, encodeMatchProviderRequest(target.url), CALL_TIMEOUT_MS));
    if (op === "erase") return await erase(client, attrs, user, match.providerId);
    const token = decodeObtainAccessTokenResponse(await client.unary(`${TOKEN_SERVICE}/ObtainAccessToken`, encodeObtainAccessTokenRequest({ userId: user ?? "", providerId: match.providerId, rejectedAccessToken: "" }), CALL_TIMEOUT_MS));
    if (token === undefined || token.accessToken === "") return refuse("the daemon answered without a token", EXIT_FAILURE);
    const expiry: Array<[string, string]> = token.expiresAtMs !== undefined ? [["password_expiry_utc", String(Math.floor(token.expiresAtMs / 1000))]] : [];
    const bearer = match.gitBearer && (attrs.get("capability[]") ?? []).includes("authtype");
    const answer: Array<[string, string]> = bearer
      ? [["capability[]", "authtype"], ["authtype", "Bearer"], ["credential", token.accessToken], ["ephemeral", "true"], ...expiry]
      : [["username", match.gitUsername || "oauth2"], ["password", token.accessToken], ...expiry];
    writeOut(formatAttributes(answer));
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CallFailed) {
      // A URL no provider claims is not ours: other helpers (or none) answer it.
      if (err.reason === "PROVIDER_NOT_FOUND") return EXIT_OK;
      return refuse(describe(err, user), exitCodeForReason(err.reason));
    }
    if (err instanceof WireError || err instanceof ProtocolError) return refuse(`the daemon's answer could not be used: ${err.message}`, EXIT_FAILURE);
    throw err;
  } finally {
    client.close();
  }
}

/** erase: report the refused token; the daemon refreshes only if it is still the stored one. */
async function erase(client: LightClient, attrs: Attributes, user: string | undefined, providerId: string): Promise<number> {
  const rejected = single(attrs, "password") || (single(attrs, "authtype")?.toLowerCase() === "bearer" ? single(attrs, "credential") : undefined);
  if (rejected === undefined || rejected === "") return EXIT_OK;
  await client.unary(`${TOKEN_SERVICE}/ObtainAccessToken`, encodeObtainAccessTokenRequest({ userId: user ?? "", providerId, rejectedAccessToken: rejected }), CALL_TIMEOUT_MS);
  return EXIT_OK;
}

/** One line for a build log: the reason, the daemon's message, what to do. */
function describe(err: CallFailed, user: string | undefined): string {
  if (err.reason === "DAEMON_UNREACHABLE" || err.reason === "SOCKET_PERMISSION_DENIED") return err.message;
  let line = `${err.reason}: ${err.message}`;
  if (err.hint !== undefined) line += `; ${err.hint}`;
  else if ((err.reason === "LINK_NOT_FOUND" || err.reason === "REAUTH_REQUIRED") && user !== undefined && err.info?.metadata.provider_id !== undefined) {
    line += `; link with: tokenbroker link --user ${user} --provider ${err.info.metadata.provider_id}`;
  }
  if (err.retryAfterMs !== undefined) line += ` (retry after ${Math.ceil(err.retryAfterMs / 1000)}s)`;
  return line;
}

const oneLine = (s: string): string => s.replace(/[\r\n\u0000]+/g, " ");

/**
 * stdin up to the blank line that ends the attributes (or its end), read
 * synchronously: git writes it all at once. More than MAX_INPUT_BYTES is
 * refused before it is all read.
 */
function readInput(): Buffer {
  const chunks: Buffer[] = [];
  let size = 0;
  const buf = Buffer.alloc(16_384);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      if (code === "EOF") break;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    size += n;
    if (size > MAX_INPUT_BYTES) throw new ProtocolError(`input longer than ${MAX_INPUT_BYTES} bytes`);
    if (endOfInput(Buffer.concat(chunks)) !== undefined) break;
  }
  return Buffer.concat(chunks);
}
