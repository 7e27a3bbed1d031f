import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  DeviceLinkState,
  LinkService,
  type CompleteLinkRequest,
  type GetLinkRequest,
  type ImportLinkRequest,
  type ListLinksRequest,
  type PollDeviceLinkRequest,
  type StartDeviceLinkRequest,
  type StartLinkRequest,
  type UnlinkRequest,
} from "../../gen/tokenbroker/v1/link_service_pb.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { CallScope } from "../audit/call-scope.js";
import type { LinkFlows } from "../link/link-flows.js";
import type { RefreshEngine } from "../broker/engine.js";
import { BrokerError, domainError, linkNotFound, nothingToUnlink } from "../errors/index.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { LinkKey, LinkRecord, LinkStore } from "../store/link-store.js";
import { linkOf } from "./convert.js";
import { MAX_CODE_BYTES, MAX_PAGE, MAX_STATE_BYTES, MAX_URL_BYTES, accountName, extraMap, grantedScopes, limitBytes, optionalId, requireId, requireSecret, timestampMs, tokenType } from "./input.js";
import { defineService, type RpcService } from "./service.js";
import { callScopeOf } from "./context.js";

const DEFAULT_PAGE = 100;

export interface LinkServiceOptions {
  providers: ProviderRegistry;
  engine: RefreshEngine;
  store: LinkStore;
  flows: LinkFlows;
  audit: AuditLog;
  now?: () => number;
}

/**
 * The LinkService: each RPC is one method of LinkHandlers below; this only
 * binds them to the service's descriptor (scope `link`).
 */
export function linkService(options: LinkServiceOptions): RpcService {
  const handlers = new LinkHandlers(options);
  return defineService(
    LinkService,
    {
      startLink: (req) => handlers.startLink(req),
      completeLink: (req, ctx) => handlers.completeLink(req, callScopeOf(ctx)),
      startDeviceLink: (req, ctx) => handlers.startDeviceLink(req, callScopeOf(ctx)),
      pollDeviceLink: (req, ctx) => handlers.pollDeviceLink(req, callScopeOf(ctx)),
      importLink: (req) => handlers.importLink(req),
      getLink: (req) => handlers.getLink(req),
      listLinks: (req) => handlers.listLinks(req),
      unlink: (req, ctx) => handlers.unlink(req, callScopeOf(ctx)),
    },
    "link",
  );
}

/** One method per RPC; requests are checked (rpc/input.ts) before anything is read or written. */
class LinkHandlers {
  readonly #providers: ProviderRegistry;
  readonly #engine: RefreshEngine;
  readonly #store: LinkStore;
  readonly #flows: LinkFlows;
  readonly #audit: AuditLog;
  readonly #now: () => number;

  constructor({ providers, engine, store, flows, audit, now = Date.now }: LinkServiceOptions) {
    this.#providers = providers;
    this.#engine = engine;
    this.#store = store;
    this.#flows = flows;
    this.#audit = audit;
    this.#now = now;
  }

  async startLink(req: StartLinkRequest) {
    const key = this.#keyOf(req);
    limitBytes("redirect_after", req.redirectAfter, MAX_URL_BYTES);
    const started = await this.#flows.start(key, req.redirectAfter);
    return { authorizeUrl: started.authorizeUrl, state: started.state, expiresAt: timestampFromMs(started.expiresAt) };
  }

  async completeLink(req: CompleteLinkRequest, cause: CallScope | undefined) {
    limitBytes("state", req.state, MAX_STATE_BYTES, "too long");
    limitBytes("code", req.code, MAX_CODE_BYTES, "too long");
    const { link } = await this.#flows.complete(req.state, req.code, undefined, cause);
    return { link: linkOf(link) };
  }

  async startDeviceLink(req: StartDeviceLinkRequest, cause: CallScope | undefined) {
    const key = this.#keyOf(req);
    const session = await this.#flows.startDevice(key, cause);
    return {
      sessionId: session.sessionId,
      userCode: session.userCode,
      verificationUri: session.verificationUri,
      verificationUriComplete: session.verificationUriComplete,
      interval: durationFromMs(session.intervalMs),
      expiresAt: timestampFromMs(session.expiresAt),
    };
  }

  async pollDeviceLink(req: PollDeviceLinkRequest, cause: CallScope | undefined) {
    limitBytes("session_id", req.sessionId, MAX_STATE_BYTES, "too long");
    const poll = await this.#flows.pollDevice(req.sessionId, cause);
    switch (poll.state) {
      case "pending":
        return { state: DeviceLinkState.PENDING, retryAfter: durationFromMs(poll.retryAfterMs) };
      case "linked":
        return { state: DeviceLinkState.LINKED, link: linkOf(poll.link) };
      case "denied":
        return { state: DeviceLinkState.DENIED };
      case "expired":
        return { state: DeviceLinkState.EXPIRED };
    }
  }

  async importLink(req: ImportLinkRequest) {
    const key = this.#keyOf(req);
    const accessToken = requireSecret("access_token", req.accessToken, true);
    const refreshToken = requireSecret("refresh_token", req.refreshToken, false);
    const expiresAt = timestampMs("expires_at", req.expiresAt);
    const extra = extraMap("extra", req.extra);
    const type = tokenType("token_type", req.tokenType);
    const account = accountName("account", req.account);
    const scopes = grantedScopes("granted_scopes", req.grantedScopes);
    const record = await this.#store.put(
      key,
      { accessToken, tokenType: type === "" ? "bearer" : type, refreshToken: refreshToken === "" ? null : refreshToken, expiresAt, extra, account, grantedScopes: scopes },
      this.#now(),
    );
    return { link: linkOf(record) };
  }

  async getLink(req: GetLinkRequest) {
    const key = this.#keyOf(req);
    const record = await this.#read(key);
    if (record === undefined) throw linkNotFound(key);
    return { link: linkOf(record) };
  }

  async listLinks(req: ListLinksRequest) {
    const userId = optionalId("user_id", req.userId);
    const providerId = optionalId("provider_id", req.providerId);
    if (req.pageSize < 0) throw BrokerError.invalidArgument("page_size", "must not be negative");
    const limit = req.pageSize === 0 ? DEFAULT_PAGE : Math.min(req.pageSize, MAX_PAGE);
    const after = req.pageToken === "" ? undefined : decodePageToken(req.pageToken);
    const rows = await this.#store.list({
      ...(userId !== undefined ? { userId } : {}),
      ...(providerId !== undefined ? { providerId } : {}),
      ...(after !== undefined ? { after } : {}),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      links: page.map(linkOf),
      nextPageToken: rows.length > limit && last !== undefined ? encodePageToken({ providerId: last.providerId, userId: last.userId }) : "",
    };
  }

  async unlink(req: UnlinkRequest, cause: CallScope | undefined) {
    const started = performance.now();
    const key = this.#keyOf(req);
    let record: LinkRecord | undefined;
    try {
      // Under the key's lock: a refresh of this process either committed
      // before (and its tokens are revoked below) or starts after and
      // finds no link.
      record = await this.#engine.exclusive(key, () => this.#store.delete(key));
    } catch (err) {
      throw domainError(err, key);
    }
    if (record === undefined) throw nothingToUnlink(key);
    const result = await this.#flows.unlink(key, record, cause);
    this.#audit.action({
      event: "unlink",
      method: "unlink",
      userId: key.userId,
      providerId: key.providerId,
      outcome: { grpcCode: "OK", reason: "" },
      providerContacted: cause?.providerContacted ?? false,
      durationMs: performance.now() - started,
      facts: { token_revoked: result.tokenRevoked },
    }, cause);
    return result;
  }

  /** The request's link key, checked, of a configured provider. */
  #keyOf(req: { userId: string; providerId: string }): LinkKey {
    const key = { userId: requireId("user_id", req.userId), providerId: requireId("provider_id", req.providerId) };
    this.#providers.require(key.providerId);
    return key;
  }

  async #read(key: LinkKey): Promise<LinkRecord | undefined> {
    try {
      return await this.#store.get(key);
    } catch (err) {
      throw domainError(err, key);
    }
  }
}

function encodePageToken(key: LinkKey): string {
  return Buffer.from(JSON.stringify([key.providerId, key.userId])).toString("base64url");
}

function decodePageToken(token: string): LinkKey {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === "string" && typeof parsed[1] === "string") {
      return { providerId: parsed[0], userId: parsed[1] };
    }
  } catch {
    // fall through
  }
  throw BrokerError.invalidArgument("page_token", "not a token from a previous ListLinks response");
}
