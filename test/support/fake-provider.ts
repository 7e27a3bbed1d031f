/**
 * A hostile-but-honest OAuth2 provider on a real loopback socket, for tests.
 *
 * It enforces what makes refreshing hard: single-use rotating refresh tokens
 * with reuse detection (presenting a spent refresh token revokes the whole
 * token family, as Auth0 and Okta do), GitHub's errors-in-HTTP-200 dialect,
 * and injectable faults and races. It holds no real secrets; every token is
 * random and lives only in this process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { clientCredentials, readBody, send, written } from "./fake-http.js";
import { isProcessedFault, type ProcessedFault, type TokenFault, type ValidateFault } from "./fake-token-faults.js";
import { HeldTokenRequests, type HeldTokenRequest } from "./held-token-requests.js";
import { TokenLedger, type TokenStatus } from "./token-ledger.js";

export { clientCredentials, readBody, send } from "./fake-http.js";
export type { LateAnswerFault, OddSuccessFault, TokenFault, ValidateFault } from "./fake-token-faults.js";
export type { HeldTokenRequest, TokenArrival } from "./held-token-requests.js";

/** "github": every token-endpoint error is HTTP 200 with `error`, refreshing kills older access tokens. */
export type ProviderMode = "standard" | "github";

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** Handed to `beforeRespond` once a refresh has been decided, before the answer is written. */
export interface TokenRequestContext {
  /** 1-based position of this request among all token-endpoint requests. */
  readonly index: number;
  readonly presentedRefreshToken: string | undefined;
  readonly outcome: "issued" | "rejected";
  /** The OAuth error code when rejected. */
  readonly error?: string;
  /** The new tokens when issued (refreshToken is the old one when rotation is off). */
  readonly issued?: IssuedTokens;
}

export interface FakeProviderOptions {
  mode?: ProviderMode;
  clientId?: string;
  clientSecret?: string;
  /** Single-use rotating refresh tokens (default true). false: responses omit refresh_token. */
  rotate?: boolean;
  /** Lifetime of issued access tokens (default 120). */
  expiresInSec?: number;
  /** Answer the token endpoint form-encoded (GitHub's legacy default). */
  formEncoded?: boolean;
  /** Leave token_type out of token responses. */
  omitTokenType?: boolean;
  /**
   * Extra members of every successful token response, e.g. `{ authed_user: { access_token } }`.
   * Merged last, so it can also override standard members (`{ refresh_token: null }`).
   */
  extra?: Record<string, unknown> | (() => Record<string, unknown>);
  /** Delay before the token endpoint processes a request. */
  latencyMs?: number;
  /** See FakeProvider.reuseGraceSec (default 0). */
  reuseGraceSec?: number;
  /** See FakeProvider.lateAnswerMs (default 0). */
  lateAnswerMs?: number;
  /** See FakeProvider.supersedeAccess (default: true in github mode, else false). */
  supersedeAccess?: boolean;
  beforeRespond?: (ctx: TokenRequestContext) => Promise<void>;
}

/** What an extension's handler decides for one token request of its grant type. */
export type GrantDecision = { issue: true; onIssued?: (t: IssuedTokens) => void } | { error: string; description: string; status?: number };
/** Decides a grant other than refresh_token; the client was already authenticated. */
export type GrantHandler = (form: URLSearchParams) => GrantDecision;
/** An extra endpoint; returns true when it handled the request. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean> | boolean;

type TokenReply = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

const JSON_TYPE = "application/json";

export class FakeProvider {
  readonly url: string;
  readonly tokenUrl: string;
  readonly validateUrl: string;

  // Behaviour, all settable at runtime.
  mode: ProviderMode;
  clientId: string;
  clientSecret: string;
  rotate: boolean;
  expiresInSec: number;
  formEncoded: boolean;
  omitTokenType: boolean;
  extra: Record<string, unknown> | (() => Record<string, unknown>) | undefined;
  latencyMs: number;
  /**
   * Seconds after a rotation during which the refresh token it spent is
   * accepted once more (Auth0's rotation overlap, Okta's grace period): the
   * answer is a new pair, the pair the rotation issued is superseded, and it
   * is counted in `graceReuses`, not in `replays`. 0: reuse detection at once.
   */
  reuseGraceSec: number;
  /**
   * A slow provider: every refresh is processed (rotated) at once and its
   * answer written this many ms later (0: at once). A LateAnswerFault does
   * the same for one request.
   */
  lateAnswerMs: number;
  /** A refresh kills the family's older access tokens (GitHub does); undefined: only in github mode. */
  supersedeAccess: boolean | undefined;
  beforeRespond: ((ctx: TokenRequestContext) => Promise<void>) | undefined;
  /** Queues consumed one per request; push directly or use failNext / failValidateNext. */
  readonly tokenFaults: TokenFault[] = [];
  readonly validateFaults: ValidateFault[] = [];

  // Observations.
  /** Every request to the token endpoint, faulted, rejected or successful. */
  tokenRequests = 0;
  /** Successful refreshes (new tokens issued). */
  refreshes = 0;
  /** Token requests answered with an OAuth error by the provider's own logic (not faults). */
  rejections = 0;
  validateRequests = 0;
  /** The `login` the validate endpoint (GitHub's /user) names for a valid token. */
  login = "fake-user";
  /** Spent refresh tokens presented again, outside any grace window: the number that must stay 0. */
  replays = 0;
  /** Spent refresh tokens accepted inside the reuse grace window. */
  graceReuses = 0;
  /** Families revoked by reuse detection. */
  revokedFamilies = 0;
  /** Refreshes processed whose answer was held back by neverAnswer (their new pair reached no one). */
  unanswered = 0;
  inFlight = 0;
  peakInFlight = 0;
  /** How the last token request authenticated the client. */
  lastClientAuth: "basic" | "post" | "none" | undefined;
  /** Internal failures (e.g. a throwing beforeRespond); tests should expect this empty. */
  readonly errors: unknown[] = [];

  /**
   * Extensions (test/support/fake-link-flows.ts): grant types other than
   * refresh_token, keyed by grant_type, and extra endpoints tried before the
   * 404. Client authentication is checked before a grant handler runs.
   */
  readonly grantHandlers = new Map<string, GrantHandler>();
  readonly extraRoutes: RouteHandler[] = [];

  private readonly ledger = new TokenLedger();
  private readonly sleepers = new Set<() => void>();
  private readonly holds = new HeldTokenRequests();

  constructor(
    private readonly server: Server,
    opts: FakeProviderOptions,
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    this.tokenUrl = `${this.url}/token`;
    this.validateUrl = `${this.url}/user`;
    this.mode = opts.mode ?? "standard";
    this.clientId = opts.clientId ?? "tb-client";
    this.clientSecret = opts.clientSecret ?? "tb-client-secret";
    this.rotate = opts.rotate ?? true;
    this.expiresInSec = opts.expiresInSec ?? 120;
    this.formEncoded = opts.formEncoded ?? false;
    this.omitTokenType = opts.omitTokenType ?? false;
    this.extra = opts.extra;
    this.latencyMs = opts.latencyMs ?? 0;
    this.reuseGraceSec = opts.reuseGraceSec ?? 0;
    this.lateAnswerMs = opts.lateAnswerMs ?? 0;
    this.supersedeAccess = opts.supersedeAccess;
    this.beforeRespond = opts.beforeRespond;
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      res.on("error", () => {}); // the client may have gone (timeouts, resets)
      this.route(req, res).catch((e: unknown) => this.errors.push(e));
    });
  }

  /** Seeds a new token family, as if the user had just linked. */
  issue(opts?: { accessTtlSec?: number; withRefresh?: true }): IssuedTokens;
  issue(opts: { accessTtlSec?: number; withRefresh: false }): Omit<IssuedTokens, "refreshToken"> & { refreshToken: undefined };
  issue(opts: { accessTtlSec?: number; withRefresh?: boolean } = {}): IssuedTokens | (Omit<IssuedTokens, "refreshToken"> & { refreshToken: undefined }) {
    const { accessToken, refreshToken, expiresAt } = this.ledger.seed(opts.accessTtlSec ?? this.expiresInSec, opts.withRefresh !== false);
    // Narrowed apart for the overloads: without or with a refresh token.
    return refreshToken === undefined ? { accessToken, refreshToken, expiresAt } : { accessToken, refreshToken, expiresAt };
  }

  /** Every access and refresh token value this provider ever issued (for leak checks). */
  issuedTokens(): string[] {
    return this.ledger.all();
  }

  /** Valid = known, unexpired, not superseded (github mode) and its family not revoked. */
  isValid(accessToken: string): boolean {
    return this.ledger.isValid(accessToken);
  }

  /** Why a token is or is not valid (token-ledger.ts). */
  status(accessToken: string): TokenStatus {
    return this.ledger.status(accessToken);
  }

  /** Revokes the family of an access or refresh token (the user revoked the app). */
  revoke(anyToken: string): void {
    this.ledger.revoke(anyToken);
  }

  /** The next n token-endpoint responses are `fault`. */
  failNext(n: number, fault: TokenFault): void {
    for (let i = 0; i < n; i++) this.tokenFaults.push(fault);
  }

  /** The next n validate-endpoint responses are `fault`. */
  failValidateNext(n: number, fault: ValidateFault): void {
    for (let i = 0; i < n; i++) this.validateFaults.push(fault);
  }

  /**
   * Holds the next token request that arrives (queued: each call holds one
   * more request, in arrival order) until the returned `release()`.
   */
  holdNextTokenRequest(): HeldTokenRequest {
    return this.holds.hold();
  }

  async close(): Promise<void> {
    this.holds.releaseAll();
    for (const wake of [...this.sleepers]) wake();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Until the client closes the connection or close() is called. */
  private untilClosed(res: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleepers.delete(wake);
        resolve();
      };
      this.sleepers.add(wake);
      res.once("close", wake);
      if (res.destroyed) wake();
    });
  }

  /** Cancellable on close(), so hung requests never hold the suite open. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", this.url).pathname;
    if (path === "/token" && req.method === "POST") return this.handleToken(req, res);
    if (path === "/user" && req.method === "GET") return this.handleValidate(req, res);
    for (const route of this.extraRoutes) if (await route(req, res, path)) return;
    send(res, 404, JSON_TYPE, "{}");
  }

  private async handleToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const index = ++this.tokenRequests;
    const fault = this.tokenFaults.shift();
    const hold = this.holds.take();
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      const form = new URLSearchParams(await readBody(req));
      if (hold) {
        hold.arrive({ index, grantType: form.get("grant_type") ?? undefined, presentedRefreshToken: form.get("refresh_token") ?? undefined });
        await hold.released;
      }
      if (this.latencyMs > 0) await this.sleep(this.latencyMs);
      let processed: ProcessedFault | undefined;
      if (fault !== undefined) {
        if (!isProcessedFault(fault)) return await this.applyFault(fault, req, res);
        processed = fault;
      }
      const odd = processed !== undefined && "oddSuccess" in processed ? processed : undefined;
      const { reply, ctx } = this.processRefresh(index, form, req.headers.authorization, odd?.numericRefreshToken);
      if (this.beforeRespond) await this.beforeRespond(ctx);
      if (processed !== undefined && "neverAnswer" in processed) {
        // Rotated; the answer is never written. The socket stays open until the client or close() ends it.
        this.unanswered++;
        await this.untilClosed(res);
        return;
      }
      const lateMs = processed !== undefined && "answerAfterMs" in processed ? processed.answerAfterMs : this.lateAnswerMs;
      if (lateMs > 0) await this.sleep(lateMs);
      if (odd && ctx.issued) {
        this.sendToken(res, { status: odd.status ?? 200, body: odd.oddSuccess(ctx.issued) }, odd.formEncoded);
      } else {
        this.sendToken(res, reply);
      }
    } catch (e) {
      this.errors.push(e);
      if (!res.headersSent) send(res, 500, JSON_TYPE, JSON.stringify({ error: "server_error" }));
    } finally {
      this.inFlight--;
      if (hold) void written(res).then(hold.answer);
    }
  }

  private processRefresh(
    index: number,
    form: URLSearchParams,
    authorization: string | undefined,
    numericRefreshToken = false,
  ): { reply: TokenReply; ctx: TokenRequestContext } {
    const presented = form.get("refresh_token") ?? undefined;
    const reject = (error: string, description: string, status = 400): { reply: TokenReply; ctx: TokenRequestContext } => {
      this.rejections++;
      const headers: Record<string, string> = {};
      if (error === "invalid_client" && this.lastClientAuth === "basic") headers["www-authenticate"] = 'Basic realm="fake"';
      const reply = this.errorReply(error, description, status, headers);
      return { reply, ctx: { index, presentedRefreshToken: presented, outcome: "rejected", error } };
    };

    const client = clientCredentials(form, authorization);
    this.lastClientAuth = client.method;
    if (client.id !== this.clientId || client.secret !== this.clientSecret) {
      return this.mode === "github"
        ? reject("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
        : reject("invalid_client", "Client authentication failed.", 401);
    }
    const handler = this.grantHandlers.get(form.get("grant_type") ?? "");
    if (handler !== undefined) {
      const decision = handler(form);
      if ("error" in decision) return reject(decision.error, decision.description, decision.status);
      const issued = this.issueGrant(index);
      if (issued.ctx.issued !== undefined) decision.onIssued?.(issued.ctx.issued);
      return issued;
    }
    if (form.get("grant_type") !== "refresh_token") {
      return reject("unsupported_grant_type", "Only the refresh_token grant is supported.");
    }
    const redeemed = this.ledger.redeem(presented, {
      rotate: this.rotate,
      supersedeAccess: this.supersedeAccess ?? this.mode === "github", // GitHub kills the old pair
      accessTtlSec: this.expiresInSec,
      numericRefreshToken,
      graceSec: this.reuseGraceSec,
    });
    if (redeemed.outcome === "dead") {
      if (redeemed.replay) this.replays++;
      if (redeemed.revokedFamily) this.revokedFamilies++;
      return this.mode === "github"
        ? reject("bad_refresh_token", "The refresh token passed is incorrect or expired.")
        : reject("invalid_grant", "The refresh token is invalid, expired or revoked.");
    }
    if (redeemed.grace) this.graceReuses++;
    const { accessToken, refreshToken, expiresAt } = redeemed;
    this.refreshes++;
    const body: Record<string, unknown> = { access_token: accessToken, token_type: "bearer", expires_in: this.expiresInSec };
    if (this.omitTokenType) delete body.token_type;
    if (this.rotate) body.refresh_token = refreshToken;
    if (this.mode === "github") Object.assign(body, { refresh_token_expires_in: 15_897_600, scope: "" });
    Object.assign(body, typeof this.extra === "function" ? this.extra() : this.extra);
    const issued: IssuedTokens = { accessToken, refreshToken, expiresAt };
    return {
      reply: { status: 200, body },
      ctx: { index, presentedRefreshToken: presented, outcome: "issued", issued },
    };
  }

  /** A new token family for an initial grant (authorization code, device code). */
  private issueGrant(index: number): { reply: TokenReply; ctx: TokenRequestContext } {
    const issued = this.issue();
    const body: Record<string, unknown> = {
      access_token: issued.accessToken,
      token_type: "bearer",
      expires_in: this.expiresInSec,
      refresh_token: issued.refreshToken,
    };
    if (this.omitTokenType) delete body.token_type;
    if (this.mode === "github") Object.assign(body, { refresh_token_expires_in: 15_897_600, scope: "" });
    Object.assign(body, typeof this.extra === "function" ? this.extra() : this.extra);
    return { reply: { status: 200, body }, ctx: { index, presentedRefreshToken: undefined, outcome: "issued", issued } };
  }

  private errorReply(error: string, description: string | undefined, status: number, headers?: Record<string, string>): TokenReply {
    const body: Record<string, unknown> = { error };
    if (description !== undefined) body.error_description = description;
    return { status: this.mode === "github" ? 200 : status, body, ...(headers ? { headers } : {}) };
  }

  private sendToken(res: ServerResponse, reply: TokenReply, formEncoded = this.formEncoded): void {
    if (formEncoded) {
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries(reply.body)) form.set(k, typeof v === "string" ? v : JSON.stringify(v));
      send(res, reply.status, "application/x-www-form-urlencoded; charset=utf-8", form.toString(), reply.headers);
    } else {
      send(res, reply.status, JSON_TYPE, JSON.stringify(reply.body), reply.headers);
    }
  }

  private async applyFault(fault: Exclude<TokenFault, ProcessedFault>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if ("reset" in fault) {
      req.socket.destroy();
    } else if ("hangMs" in fault) {
      await this.sleep(fault.hangMs);
      send(res, 504, JSON_TYPE, "{}");
    } else if ("html502" in fault) {
      send(res, 502, "text/html", "<html><body><h1>502 Bad Gateway</h1><p>upstream hiccup</p></body></html>");
    } else if ("oauthError" in fault) {
      const status = fault.status ?? (fault.oauthError === "invalid_client" ? 401 : 400);
      const reply = this.errorReply(fault.oauthError, fault.description, status);
      if (fault.status !== undefined) reply.status = fault.status; // explicit status beats the mode
      this.sendToken(res, reply);
    } else if ("bigBodyBytes" in fault) {
      const body = Buffer.alloc(fault.bigBodyBytes, 0x61);
      if (fault.chunked === false) {
        send(res, 200, JSON_TYPE, body);
      } else {
        res.writeHead(200, { "content-type": JSON_TYPE }); // no length: chunked
        res.write(body.subarray(0, 1));
        res.end(body.subarray(1));
      }
    } else {
      const headers = { ...fault.headers };
      if (fault.retryAfterSec !== undefined) headers["retry-after"] = String(fault.retryAfterSec);
      send(res, fault.status, fault.contentType ?? JSON_TYPE, fault.body ?? "{}", headers);
    }
  }

  private async handleValidate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.validateRequests++;
    const fault = this.validateFaults.shift();
    if (fault?.hangMs !== undefined) await this.sleep(fault.hangMs);
    if (fault) return send(res, fault.status, JSON_TYPE, fault.body ?? '{"message":"fault"}', fault.headers);
    const m = /^bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    if (m?.[1] !== undefined && this.isValid(m[1])) {
      send(res, 200, JSON_TYPE, JSON.stringify({ login: this.login, id: 1 }));
    } else {
      send(res, 401, JSON_TYPE, JSON.stringify({ message: "Bad credentials" }));
    }
  }
}

/** Starts a fake provider on 127.0.0.1 with an ephemeral port. Always `close()` it. */
export async function startFakeProvider(opts: FakeProviderOptions = {}): Promise<FakeProvider> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return new FakeProvider(server, opts);
}
