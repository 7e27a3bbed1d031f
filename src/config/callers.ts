import * as z from "./zod.js";
import { certNameProblem } from "../listen/cert-names.js";
import { parseDuration } from "./duration.js";

/**
 * The callers part of the config (docs/design.md §6): who may call, with
 * which scopes, bound to which users, and how job-scoped caller tokens are
 * limited. Kept apart from schema.ts and load.ts so it changes alone.
 */

export const SCOPES = ["token", "link", "admin", "provision"] as const;
export type CallerScope = (typeof SCOPES)[number];

/** A user id as the RPCs take them: 1-256 bytes. */
const userId = z.string().min(1, { error: "must not be empty" }).refine((s) => Buffer.byteLength(s) <= 256, { error: "must be at most 256 bytes" });
const unixId = z.number().int().min(0).max(0xffff_fffe);

export const callerSchema = z
  .strictObject({
    name: z.string().min(1),
    token_sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, { error: "must be 64 hex characters (SHA-256)" }).optional(),
    /** A verified client certificate whose subject CN or a subjectAltName is one of these is this caller. */
    cert_names: z
      .array(
        z
          .string()
          .min(1)
          .superRefine((entry, ctx) => {
            const problem = certNameProblem(entry);
            if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
          }),
      )
      .min(1)
      .optional(),
    /**
     * A tokenless call on a Unix socket whose peer (SO_PEERCRED, read from the
     * kernel) has this uid and/or gid is this caller.
     */
    match: z
      .strictObject({ uid: unixId.optional(), gid: unixId.optional() })
      .refine((m) => m.uid !== undefined || m.gid !== undefined, { error: "set uid, gid or both" })
      .optional(),
    /** When set, the caller may act only for these users (USER_NOT_ALLOWED otherwise). */
    users: z.array(userId).min(1).optional(),
    scopes: z.array(z.enum(SCOPES)).min(1),
  })
  .refine((c) => c.token_sha256 !== undefined || c.cert_names !== undefined || c.match !== undefined, { error: "set token_sha256, cert_names, match or several" });

/** Limits of the job-scoped caller tokens CallerService issues. */
export const callerTokensSchema = z
  .strictObject({
    /** The longest ttl IssueCallerToken accepts. */
    max_ttl: z.string().refine((s) => (parseDuration(s) ?? 0) > 0, { error: "not a positive duration (use e.g. 30m, 24h)" }).default("24h"),
  })
  .default({ max_ttl: "24h" });

export interface CallerConfig {
  name: string;
  tokenSha256?: Buffer | undefined;
  /** Client-certificate names (subject CN, subjectAltName) that identify this caller. */
  certNames: string[];
  /** A tokenless Unix-socket call whose peer has this uid and/or gid (SO_PEERCRED) is this caller. */
  match?: { uid?: number | undefined; gid?: number | undefined } | undefined;
  /** When set, the only users this caller may act for. */
  users?: string[] | undefined;
  scopes: CallerScope[];
}

export interface CallerTokensConfig {
  maxTtlMs: number;
}

export function resolveCallers(input: ReadonlyArray<z.infer<typeof callerSchema>>): CallerConfig[] {
  return input.map((c) => ({
    name: c.name,
    tokenSha256: c.token_sha256 === undefined ? undefined : Buffer.from(c.token_sha256, "hex"),
    certNames: c.cert_names ?? [],
    match: c.match,
    users: c.users,
    scopes: c.scopes,
  }));
}

export function resolveCallerTokens(input: z.infer<typeof callerTokensSchema>): CallerTokensConfig {
  return { maxTtlMs: parseDuration(input.max_ttl) as number };
}

/**
 * `allow_tokenless` of a listener's object form: whether a call without a
 * caller credential is served. Default: yes on a Unix socket (reaching the
 * socket is the credential), no on TCP. Only a Unix socket may allow it.
 */
export const allowTokenlessSchema = z.boolean().optional();

export function resolveAllowTokenless(kind: "unix" | "tcp", input: unknown, where: string, problems: string[]): { allowTokenless: boolean } {
  const given = typeof input === "object" && input !== null ? (input as { allow_tokenless?: boolean }).allow_tokenless : undefined;
  if (given === true && kind === "tcp") problems.push(`${where}.allow_tokenless: only a unix:// listener may serve tokenless calls (on TCP any local process could)`);
  return { allowTokenless: given ?? kind === "unix" };
}
