import { isAbsolute, join } from "node:path";
import * as z from "./zod.js";
import { parseDuration } from "./duration.js";
import { parseListenAddress, type ListenAddress } from "../listen/listen-address.js";
import { credentialNameProblem } from "../secret-file.js";
import { allowTokenlessSchema, callerSchema, callerTokensSchema } from "./callers.js";

export { SCOPES, type CallerScope } from "./callers.js";

/**
 * The YAML file's shape, as operators write it (snake_case). Unknown keys are
 * errors: a typo such as `min_vaild_for` must not silently fall back to a
 * default. The schema also transforms what it reads: a duration becomes
 * milliseconds, a path an absolute path (relative ones are taken from the
 * config file's directory), so nothing after it parses a field again.
 */

/** "250ms", "10s", "1h30m" → milliseconds. A default is written as text too (`prefault`), and parsed the same way. */
const duration = z.string().transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: "not a duration (use e.g. 250ms, 10s, 5m)" });
    return z.NEVER;
  }
  return ms;
});

/** A path relative to baseDir (the config file's directory), made absolute. */
export function resolvePath(baseDir: string, p: string): string {
  return isAbsolute(p) ? p : join(baseDir, p);
}

const listenAddress = (baseDir: string) =>
  z.string().transform((s, ctx): ListenAddress => {
    const parsed = parseListenAddress(s);
    if (typeof parsed === "string") {
      ctx.addIssue({ code: "custom", message: parsed });
      return z.NEVER;
    }
    if (parsed.kind !== "unix") return parsed;
    const path = resolvePath(baseDir, parsed.path);
    return { kind: "unix", path, url: `unix://${path}` };
  });

/**
 * A listener: its address, or its address with TLS (TCP only). The config
 * loader reports a failed union through the branch of the input's type, so
 * problems keep their own path (`listen.grpc[1].tls.key_file: required`).
 */
const listener = (baseDir: string, file: (message?: string) => z.ZodType<string, string>) =>
  z.union(
    [
      listenAddress(baseDir),
      z.strictObject({
        address: listenAddress(baseDir),
        allow_tokenless: allowTokenlessSchema,
        tls: z.strictObject({
          cert_file: file("must not be empty"),
          key_file: file("must not be empty"),
          /** Client certificates issued by this CA may identify a caller (mTLS); none are asked for without it. */
          client_ca_file: file("must not be empty").optional(),
        }).optional(),
      }),
    ],
    { error: 'expected "unix:///path", "tcp://host:port" or { address, allow_tokenless, tls: { cert_file, key_file, client_ca_file } }' },
  );

const url = z.string().refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), {
  error: "not an http(s) URL",
});

export const PROVIDER_TYPES = [
  "github",
  "gitlab",
  "bitbucket-cloud",
  "bitbucket-server",
  "azure-devops",
  "azure-devops-entra",
  "gitea",
  "jfrog",
  "slack",
  "oauth2",
  "oidc",
] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/**
 * Other names a config may give a type: Atlassian renamed Bitbucket Server to
 * Bitbucket Data Center, and `bitbucket` is what Coder calls Bitbucket Cloud.
 */
const PROVIDER_TYPE_ALIASES: Readonly<Record<string, ProviderType>> = {
  "bitbucket-data-center": "bitbucket-server",
  bitbucket: "bitbucket-cloud",
};

const TYPE_NAMES = [...PROVIDER_TYPES, ...Object.keys(PROVIDER_TYPE_ALIASES)] as [string, ...string[]];

/** The type a config's `type` (a type or an alias of one) names. */
export function canonicalType(name: string): ProviderType {
  return Object.hasOwn(PROVIDER_TYPE_ALIASES, name) ? PROVIDER_TYPE_ALIASES[name]! : (name as ProviderType);
}


/**
 * A file name: non-empty (with this message, or zod's own when none is
 * given) and resolved against baseDir. `emptyAllowed` keeps a field that
 * never checked for emptiness as it was.
 */
function filePaths(baseDir: string) {
  return (message?: string, emptyAllowed = false): z.ZodType<string, string> =>
    (emptyAllowed ? z.string() : message === undefined ? z.string().min(1) : z.string().min(1, { error: message })).transform((p) => resolvePath(baseDir, p));
}

type FileSchema = ReturnType<typeof filePaths>;

/** A systemd credential's name: a file name inside $CREDENTIALS_DIRECTORY (secret-file.ts words the refusal, for the keys too). */
const credentialName = z.string().check((ctx) => {
  const problem = credentialNameProblem(ctx.value);
  if (problem !== undefined) ctx.issues.push({ code: "custom", message: problem, input: ctx.value });
});

/** The one of a `*_file` / `*_credential` pair that is set (the schema checked that exactly one is). */
function secretSource(file: string | undefined, credential: string | undefined): { kind: "file"; path: string } | { kind: "credential"; name: string } {
  return file !== undefined ? { kind: "file", path: file } : { kind: "credential", name: credential! };
}

const providerSchema = (file: FileSchema) => z.strictObject({
  id: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/, {
    error: "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
  }),
  type: z.enum(TYPE_NAMES, { error: `must be one of ${TYPE_NAMES.join(", ")}` }),
  display_name: z.string().optional(),
  client_id: z.string().min(1, { error: "must not be empty" }),
  client_secret: z.string().optional(),
  client_secret_file: file(undefined, true).optional(),
  client_secret_credential: credentialName.optional(),
  auth_url: url.optional(),
  token_url: url.optional(),
  validate_url: url.optional(),
  revoke_url: url.optional(),
  device_code_url: url.optional(),
  api_base_url: url.optional(),
  issuer: url.optional(),
  scopes: z.array(z.string()).optional(),
  extra_token_keys: z.array(z.string()).optional(),
  regex: z.string().optional(),
  pkce_methods: z.array(z.enum(["S256", "plain", "none"])).optional(),
  device_flow: z.boolean().optional(),
  no_refresh: z.boolean().optional(),
  token_auth_method: z.enum(["client_secret_basic", "client_secret_post"]).optional(),
  auth_url_params: z.record(z.string(), z.string()).optional(),
  /** The provider's refresh-token reuse grace window (Auth0 rotation overlap, Okta grace period). */
  rotation_grace: duration.optional(),
  /**
   * What the provider does with a refresh token presented again after it rotated, when its
   * catalog entry does not say: `revokes` (the grant; the safe assumption) or `rejected` (a
   * refusal that leaves the grant alive, so a resend after a lost answer is a harmless probe).
   */
  refresh_token_reuse: z.enum(["revokes", "rejected"]).optional(),
  /** Assumed access-token lifetime when a token response has no usable expires_in. */
  default_token_lifetime: duration.optional(),
  /** How long the provider's refresh tokens live unused (overrides the catalog); its links are refreshed before that, used or not. */
  refresh_token_idle_lifetime: duration.optional(),
});
/** `store:` — exactly one of sqlite or postgres, as a tagged union (`kind`). */
const storeSchema = (file: FileSchema) =>
  z
    .strictObject({
      sqlite: z
        .strictObject({
          path: file("must not be empty"),
          /** Decoded links kept in memory for cache hits; 0 disables. */
          cache_entries: z.number().int().min(0).max(10_000_000).default(10_000),
        })
        .optional(),
      /**
       * A fleet on one PostgreSQL database (docs/design.md §4.5). The URL
       * carries the password, so it is only ever read from a file or a
       * systemd credential, never written in this file.
       */
      postgres: z
        .strictObject({
          url_file: file().optional(),
          url_credential: credentialName.optional(),
          pool_size: z.number().int().min(1).max(1000).default(10),
          statement_timeout: duration.prefault("5s"),
          lock_timeout: duration.prefault("2s"),
          /**
           * The client-side deadline of every statement (default
           * statement_timeout + 1s): a connection that sends nothing back for
           * this long is destroyed and the call answers STORE_UNAVAILABLE.
           */
          query_timeout: duration.optional(),
          /** How long getting a connection may take. */
          connect_timeout: duration.prefault("5s"),
          /**
           * Cached records are served only while a heartbeat sent through the
           * pool came back on the LISTEN connection within this long;
           * otherwise every read goes to the database and the LISTEN
           * connection is made again.
           */
          listen_freshness: duration.prefault("3s"),
          cache_entries: z.number().int().min(0).max(10_000_000).default(10_000),
          /**
           * LISTEN for other hosts' commits (off behind a transaction-pooling
           * PgBouncer, which cannot LISTEN): without it the record cache is
           * off and every read goes to the database.
           */
          listen: z.boolean().default(true),
          ssl: z
            .strictObject({
              mode: z.enum(["disable", "require", "verify-ca", "verify-full"]),
              ca_file: file().optional(),
            })
            .optional(),
        })
        .refine((p) => (p.url_file === undefined) !== (p.url_credential === undefined), {
          error: "set exactly one of url_file or url_credential (the URL holds the password: never inline)",
        })
        .transform(({ url_file, url_credential, ...rest }) => ({ ...rest, url: secretSource(url_file, url_credential) }))
        .optional(),
    })
    .refine((s) => (s.sqlite === undefined) !== (s.postgres === undefined), { error: "set exactly one of store.sqlite or store.postgres" })
    .transform((s) => (s.sqlite !== undefined ? { kind: "sqlite" as const, ...s.sqlite } : { kind: "postgres" as const, ...s.postgres! }));

/** `encryption:` — the keys file or the keys credential (exactly one). */
const encryptionSchema = (file: FileSchema) =>
  z
    .strictObject({
      keys_file: file().optional(),
      keys_credential: credentialName.optional(),
    })
    .refine((e) => (e.keys_file === undefined) !== (e.keys_credential === undefined), {
      error: "set exactly one of keys_file or keys_credential",
    })
    .transform((e) => secretSource(e.keys_file, e.keys_credential));

/** `refresh:` — the engine's timings and limits (docs/design.md §3). */
const refreshSchema = z
  .strictObject({
    min_valid_for: duration.prefault("60s"),
    timeout: duration.prefault("10s"),
    initial_backoff: duration.prefault("250ms"),
    max_backoff: duration.prefault("2s"),
    retry_budget: duration.prefault("10s"),
    provider_concurrency: z.number().int().min(1).max(1024).default(8),
    validate: z.boolean().default(true),
    misconfigured_backoff: duration.prefault("30s"),
    lease_ttl: duration.prefault("15s"),
    answer_timeout: duration.prefault("5m"),
    interrupted_window: duration.prefault("10m"),
    /** Links a caller asked for within this long are refreshed in the background ahead of expiry; 0s: never. */
    keep_fresh_for: duration.prefault("24h"),
  })
  .prefault({});

export type ProviderInput = z.output<ReturnType<typeof providerSchema>>;
export type ConfigInput = z.output<ReturnType<typeof configSchema>>;

/** The whole file's schema; relative paths in it are taken from baseDir. */
export const configSchema = (baseDir: string) => {
  const file = filePaths(baseDir);
  return z.strictObject({
    listen: z
      .strictObject({
        grpc: z.array(listener(baseDir, file)).default([]),
        http: listener(baseDir, file).optional(),
      })
      .default({ grpc: [] }),
    public_url: url.optional(),
    /** Origins a link flow's redirect_after may point to (relative paths are always allowed). */
    redirect_allowlist: z.array(url).default([]),
    /** How long a StartLink state stays usable. */
    link_state_ttl: duration.prefault("10m"),
    store: storeSchema(file),
    encryption: encryptionSchema(file),
    refresh: refreshSchema,
    shutdown_grace: duration.prefault("10s"),
    /** WatchAccessToken streams (docs/design.md §3.5). */
    watch: z.strictObject({ max_streams_per_caller: z.number().int().min(1).max(100_000).default(64) }).default({ max_streams_per_caller: 64 }),
    log: z
      .strictObject({
        level: z.enum(["trace", "debug", "info", "warn", "error", "silent"]).default("info"),
        /** `journald`: each JSON line behind its `<N>` syslog priority prefix (under systemd); `json`: plain JSON lines. */
        format: z.enum(["json", "journald"]).default("json"),
      })
      .default({ level: "info", format: "json" }),
    /** The audit trail: stdout with the other logs unless `file` is set. */
    audit: z.strictObject({ file: file("must not be empty").optional() }).default({}),
    callers: z.array(callerSchema).default([]),
    caller_tokens: callerTokensSchema,
    providers: z.array(providerSchema(file)).default([]),
  });
};
