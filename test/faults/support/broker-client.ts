/**
 * One test caller of a running daemon over its Unix socket, with every answer
 * turned into a plain Outcome (a token, or the gRPC code and the decoded
 * google.rpc details), so fault tests can assert on what a caller saw without
 * try/catch around each call.
 */
import * as grpc from "@grpc/grpc-js";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Link } from "../../../gen/tokenbroker/v1/link_pb.js";
import { LinkService } from "../../../gen/tokenbroker/v1/link_service_pb.js";
import type { Token } from "../../../gen/tokenbroker/v1/token_pb.js";
import { TokenService } from "../../../gen/tokenbroker/v1/token_service_pb.js";
import { detailOf, grpcClient, unary, type ErrorDetails } from "../../support/grpc.js";

export const PROVIDER_ID = "fake";

export type Outcome =
  | { ok: true; token: Token; ms: number }
  | { ok: false; code: grpc.status; reason: string | undefined; detail: ErrorDetails | undefined; message: string; ms: number };

export interface ObtainOptions {
  /** min_valid_for; unset means the daemon's default (60 s). */
  minValidMs?: number;
  /** The call's gRPC deadline (default 15 s). */
  deadlineMs?: number;
}

export interface SeedTokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms; in the past to make the first call refresh. */
  expiresAt: number;
}

export class BrokerClient {
  readonly #tokens: ReturnType<typeof grpcClient>;
  readonly #links: ReturnType<typeof grpcClient>;

  constructor(target: string) {
    this.#tokens = grpcClient(TokenService, target);
    this.#links = grpcClient(LinkService, target);
  }

  async obtain(userId: string, opts: ObtainOptions = {}): Promise<Outcome> {
    const req: Record<string, unknown> = { userId, providerId: PROVIDER_ID };
    if (opts.minValidMs !== undefined) req.minValidFor = durationFromMs(opts.minValidMs);
    const started = performance.now();
    try {
      const res = await unary<{ token: Token }>(this.#tokens, "obtainAccessToken", req, { deadlineMs: opts.deadlineMs ?? 15_000 });
      return { ok: true, token: res.token, ms: performance.now() - started };
    } catch (err) {
      const ms = performance.now() - started;
      const e = err as grpc.ServiceError;
      let detail: ErrorDetails | undefined;
      try {
        detail = detailOf(e);
      } catch {
        detail = undefined; // a status without our detail (e.g. the client's own deadline)
      }
      return { ok: false, code: e.code, reason: detail?.reason, detail, message: e.details, ms };
    }
  }

  /** Stores a link as if the user had just linked (ImportLink). */
  async importLink(userId: string, t: SeedTokens): Promise<void> {
    await unary(this.#links, "importLink", {
      userId,
      providerId: PROVIDER_ID,
      accessToken: t.accessToken,
      refreshToken: t.refreshToken,
      expiresAt: timestampFromMs(t.expiresAt),
    });
  }

  async getLink(userId: string): Promise<Link> {
    const res = await unary<{ link: Link }>(this.#links, "getLink", { userId, providerId: PROVIDER_ID });
    return res.link;
  }

  async unlink(userId: string): Promise<{ tokenRevoked: boolean }> {
    return unary<{ tokenRevoked: boolean }>(this.#links, "unlink", { userId, providerId: PROVIDER_ID });
  }

  close(): void {
    this.#tokens.close();
    this.#links.close();
  }
}

/** An Outcome for assertion messages: code, reason, detail metadata; token values left out. */
export function describeOutcome(o: Outcome): string {
  if (o.ok) return `token (${Math.round(o.ms)} ms)`;
  const md = o.detail === undefined ? "" : ` metadata=${JSON.stringify(o.detail.metadata)} `;
  return `${grpc.status[o.code]} reason=${o.reason ?? "(no detail)"}${md} "${o.message}" (${Math.round(o.ms)} ms)`;
}

/** Milliseconds until the token expires (Infinity when it does not). */
export function remainingMs(t: Token, now = Date.now()): number {
  if (t.expiresAt === undefined) return Infinity;
  return Number(t.expiresAt.seconds) * 1000 + Math.floor(t.expiresAt.nanos / 1e6) - now;
}
