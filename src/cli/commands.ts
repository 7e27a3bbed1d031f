import { UsageError, str, type Flags, type OptionSpec } from "./args.js";
import type { Command } from "./command.js";

const user = (help: string, required = true): OptionSpec => ({ name: "user", type: "string", value: "U", help, required });
const provider = (help: string, required = true): OptionSpec => ({ name: "provider", type: "string", value: "P", help, required });
const json = (help: string): OptionSpec => ({ name: "json", type: "boolean", help });
const config: OptionSpec = { name: "config", type: "string", value: "FILE", help: "the configuration file (default: TOKENBROKER_CONFIG)" };

/** The client options every command that talks to the daemon takes. */
export const CLIENT_OPTIONS: readonly OptionSpec[] = [
  { name: "addr", type: "string", value: "ADDR", help: "the daemon: unix:///path or tcp://host:port (gRPC), tls://host:port (gRPC over TLS), http://host:port or https://host:port (the web listener: Connect) (default: TOKENBROKER_ADDR, else unix:///run/tokenbroker/tokenbroker.sock when it exists, else unix://./var/dev/tokenbroker.sock)" },
  { name: "caller-token", type: "string", value: "T", help: "caller token, needed on TCP and the web listener (default: TOKENBROKER_CALLER_TOKEN)" },
  { name: "cacert", type: "string", value: "FILE", help: "tls:// and https://: trust the CA in this PEM file (default: TOKENBROKER_CACERT, else the system's CAs and NODE_EXTRA_CA_CERTS)" },
  { name: "cert", type: "string", value: "FILE", help: "tls:// and https://: a client certificate (PEM) for mTLS, with --key (default: TOKENBROKER_CERT)" },
  { name: "key", type: "string", value: "FILE", help: "the client certificate's private key (PEM) (default: TOKENBROKER_KEY)" },
];

// Every command's code is imported when it runs: serve, dev and check-config
// load the whole daemon, the client commands the wire libraries and generated
// messages, and the table itself is read by every start (--version, --help).

function port(flags: Flags, name: string): number | undefined {
  const s = str(flags, name);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!/^\d+$/.test(s) || n > 65_535) throw new UsageError(`--${name} "${s}": not a port number (0 to 65535)`);
  return n;
}

/** Every command, in the order `tokenbroker --help` lists them. */
export const COMMANDS: readonly Command[] = [
  {
    name: "serve",
    summary: "run the daemon",
    options: [config],
    run: async (ctx) => (await import("./serve.js")).serveCommand(str(ctx.flags, "config")),
  },
  {
    name: "dev",
    summary: "run the daemon in dev mode (state under ./var/dev, a demo provider and a demo link)",
    description: "Dev mode generates a key and a caller token, starts the built-in demo provider on loopback and imports a demo link (user demo, provider demo). The demo provider approves every authorization at once, so `tokenbroker link --user me --provider demo` and `link --device` work too.",
    options: [
      { name: "dir", type: "string", value: "DIR", help: "where the state lives (default: ./var/dev)" },
      { name: "grpc-port", type: "string", value: "N", help: "the loopback gRPC port (default: 7480; 0 picks one)" },
      { name: "http-port", type: "string", value: "N", help: "the web listener's port (default: 7481; 0 picks one)" },
    ],
    run: async (ctx) => {
      const { devCommand } = await import("./dev.js");
      const grpc = port(ctx.flags, "grpc-port");
      const http = port(ctx.flags, "http-port");
      return devCommand(str(ctx.flags, "dir"), { ...(grpc !== undefined ? { grpc } : {}), ...(http !== undefined ? { http } : {}) });
    },
  },
  {
    name: "check-config",
    summary: "check a configuration as serve would, without starting",
    description: "Checks the file, the keys (read and parsed), the client secrets (readable) and the listener addresses. A store directory that systemd's StateDirectory= creates at start is a warning, not an error. OIDC discovery is skipped unless --online.",
    options: [config, { name: "online", type: "boolean", help: "also fetch each oidc provider's discovery document" }],
    run: async (ctx) => (await import("./check-config.js")).checkConfigCommand(str(ctx.flags, "config"), { online: ctx.flags.online === true }),
  },
  {
    name: "status",
    summary: "the running daemon: health, listeners, store, keys, providers, links needing re-link",
    description: "Over TCP or the web listener the caller token needs the admin and link scopes. Each listener is shown with what it speaks (gRPC or Connect/gRPC-Web, TLS, mTLS) and the --addr that reaches it. While the store is down the listeners, the providers and the store's cause are still shown (keys and links are unknown then). Exit 0 while the daemon serves, 4 when it is stopping or its store is down.",
    client: true,
    options: [json("one JSON object")],
    run: async (ctx) => (await import("./status.js")).statusCommand(ctx),
  },
  {
    name: "token",
    summary: "print an access token, or keep one fresh for a job (--watch, --file, --exec)",
    description:
      "Prints the access token alone on stdout (or a JSON object with --json), refreshing it first when it would expire sooner than --min-valid. " +
      "--watch, --file and --exec keep following the link (WatchAccessToken) until stopped: every new token comes before the previous one has less than --min-valid left. " +
      `--exec -- CMD [ARG...] runs CMD with the token in ${"$"}TOKENBROKER_TOKEN and the path of a file holding it in ${"$"}TOKENBROKER_TOKEN_FILE (--file's, or a private one), and exits with CMD's exit code. ` +
      "An environment variable cannot change under a running process: TOKENBROKER_TOKEN keeps the token CMD started with, while the file is rewritten on every refresh, so a job that outlives its token reads the file (or uses the git credential helper). " +
      "The file is replaced atomically (mode 0600) and removed on exit, SIGINT and SIGTERM. A failure the daemon says to retry reconnects while the current token still works; any other ends the command with its exit code.",
    client: true,
    restArgs: true,
    options: [
      user("the user"),
      provider("the provider id"),
      { name: "min-valid", type: "string", value: "DURATION", help: "how long the token must stay valid, e.g. 90s, 5m (default: the daemon's refresh.min_valid_for)" },
      json("print {access_token, token_type, expires_at, extra} (with --watch: one object per line, with its generation)"),
      { name: "watch", type: "boolean", help: "keep running and print each new token on its own line" },
      { name: "file", type: "string", value: "PATH", help: "keep PATH holding the current token (rewritten atomically on every change, mode 0600, removed on exit)" },
      { name: "exec", type: "boolean", help: "run the command after -- with the token in TOKENBROKER_TOKEN and the file path in TOKENBROKER_TOKEN_FILE" },
    ],
    run: async (ctx) => (await import("./token.js")).tokenCommand(ctx),
  },
  {
    // main.ts runs it before loading this table (it must start fast); listed here for --help.
    name: "git-credential",
    args: "OPERATION",
    summary: "git's credential helper: get, store or erase (README \"Git on build hosts\")",
    options: [],
    run: async (ctx) => (await import("./git-credential/run.js")).gitCredentialMain(ctx.positionals),
  },
  {
    name: "link",
    summary: "print the authorize URL for a user (or run the device flow)",
    client: true,
    options: [
      user("the user to link"),
      provider("the provider id"),
      { name: "device", type: "boolean", help: "run the device flow: show a code to enter at the provider and wait until it is approved" },
      { name: "redirect-after", type: "string", value: "PATH", help: "where the browser goes after linking (relative, or an allow-listed origin)" },
      json("print {authorize_url, expires_at}; with --device, {linked, user_id, provider_id} once linked (prompts stay on stderr)"),
    ],
    run: async (ctx) => (await import("./links.js")).linkCommand(ctx),
  },
  {
    name: "unlink",
    summary: "delete a link and revoke its tokens",
    description: "Asks for confirmation when stdin is a terminal, unless --yes.",
    client: true,
    options: [user("the user"), provider("the provider id"), { name: "yes", type: "boolean", help: "do not ask" }, json("print {unlinked, user_id, provider_id, token_revoked, revocation_error}")],
    run: async (ctx) => (await import("./links.js")).unlinkCommand(ctx),
  },
  {
    name: "links",
    summary: "list links (never token values)",
    client: true,
    options: [
      user("only this user's links", false),
      provider("only this provider's links", false),
      { name: "needs-relink", type: "boolean", help: "only links whose refresh failed (the user must link again)" },
      json("a JSON array"),
    ],
    run: async (ctx) => (await import("./links.js")).linksCommand(ctx),
  },
  {
    name: "caller-token issue",
    summary: "issue a job-scoped caller token for one user (printed once; needs the provision scope)",
    description: "The token acts only for --user (and --providers when given) until --ttl passes or it is revoked: a call about another user is USER_NOT_ALLOWED. Give it to the job as TOKENBROKER_CALLER_TOKEN.",
    client: true,
    options: [
      user("the user the token acts for"),
      { name: "ttl", type: "string", value: "DURATION", help: "how long it is valid, e.g. 2h (at most the daemon's caller_tokens.max_ttl)", required: true },
      { name: "providers", type: "string", value: "P,P", help: "only these providers (default: any)" },
      { name: "scopes", type: "string", value: "S,S", help: "token and/or link (default: token)" },
      { name: "label", type: "string", value: "TEXT", help: "names the job in the audit log and the list" },
      json("the token and what was issued as one JSON object"),
    ],
    run: async (ctx) => (await import("./caller-tokens.js")).callerTokenIssue(ctx),
  },
  {
    name: "caller-token revoke",
    args: "ID",
    summary: "revoke a job-scoped caller token by its id",
    client: true,
    options: [],
    run: async (ctx) => (await import("./caller-tokens.js")).callerTokenRevoke(ctx),
  },
  {
    name: "caller-token list",
    summary: "list job-scoped caller tokens (never the tokens themselves)",
    client: true,
    options: [user("only this user's", false), { name: "all", type: "boolean", help: "also expired and revoked ones" }, json("a JSON array")],
    run: async (ctx) => (await import("./caller-tokens.js")).callerTokenList(ctx),
  },
  {
    name: "keys generate",
    summary: "print a new key line for the keys file (its key id on stderr)",
    options: [],
    run: async () => (await import("./keys.js")).keysGenerate(),
  },
  {
    name: "keys status",
    summary: "per key id: active or decrypt-only, and how many values it sealed",
    client: true,
    options: [json("a JSON object")],
    run: async (ctx) => (await import("./keys.js")).keysStatus(ctx),
  },
  {
    name: "keys rotate",
    summary: "re-seal every value under the active key, online, showing progress",
    client: true,
    options: [{ name: "batch", type: "string", value: "N", help: "rows per batch (default: 200)" }, json("print {reencrypted_rows, remaining_values} (progress stays on stderr)")],
    run: async (ctx) => (await import("./keys.js")).keysRotate(ctx),
  },
  {
    name: "keys retire",
    args: "ID",
    summary: "remove a key from the keys file once no value uses it",
    client: true,
    options: [{ name: "keys-file", type: "string", value: "FILE", help: "the keys file to edit", required: true }],
    run: async (ctx) => (await import("./keys.js")).keysRetire(ctx),
  },
  {
    name: "store migrate",
    summary: "copy a SQLite store into a PostgreSQL database (values stay sealed)",
    description:
      "Stop the daemons on the SQLite file first: a refresh they commit after the copy would be lost. A file another process holds open (found through /proc) is refused, naming it, with exit 4; the file's write lock is held for the whole copy. The target gets the schema migrations, then every link, pending flow and key sentinel in one transaction, copied as stored (no value is opened to copy it). Before committing, the row counts must match and a sample of values must open on the target with the keys file; anything wrong rolls back. A target that holds rows is refused unless --overwrite.",
    options: [
      { name: "from", type: "string", value: "sqlite:PATH", help: "the SQLite store file", required: true },
      { name: "to", type: "string", value: "postgres:URL_FILE", help: "a file holding the database's postgres:// URL (as store.postgres.url_file)", required: true },
      { name: "keys-file", type: "string", value: "FILE", help: "the keys file the store is sealed with", required: true },
      { name: "overwrite", type: "boolean", help: "replace what the target holds" },
    ],
    run: async (ctx) => (await import("./store-migrate.js")).storeMigrateCommand(ctx),
  },
];
