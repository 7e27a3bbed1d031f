import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { DeviceLinkState, LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import type { AuditLog } from "../audit/audit-log.js";
import { currentCallScope } from "../audit/call-scope.js";
import type { LinkFlows } from "../link/link-flows.js";
import type { RefreshEngine } from "../broker/engine.js";
import { BrokerError, domainError, linkNotFound, nothingToUnlink } from "../errors/index.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { LinkKey, LinkRecord, LinkStore } from "../store/link-store.js";
import { linkOf } from "./convert.js";
import { MAX_CODE_BYTES, MAX_PAGE, MAX_STATE_BYTES, MAX_URL_BYTES, accountName, extraMap, grantedScopes, limitBytes, optionalId, requireId, requireSecret, timestampMs, tokenType } from "./input.js";
import { defineService, type RpcService } from "./service.js";

const DEFAULT_PAGE = 100;

export interface LinkServiceOptions {
  providers: ProviderRegistry;
  engine: RefreshEngine;
  store: LinkStore;
  flows: LinkFlows;
  audit: AuditLog;
  now?: () => number;
}

export function linkService({ providers, engine, store, flows, audit, now = Date.now }: LinkServiceOptions): RpcService {
  const keyOf = (req: { userId: string; providerId: string }): LinkKey => {
    const key = { userId: requireId("user_id", req.userId), providerId: requireId("provider_id", req.providerId) };
    providers.require(key.providerId);
    return key;
  };
  const read = async (key: LinkKey): Promise<LinkRecord | undefined> => {
    try {
      return await store.get(key);
    } catch (err) {
      throw domainError(err, key);
    }
  };

  return defineService(
    LinkService,
    {
      async startLink(req) {
        const key = keyOf(req);
        limitBytes("redirect_after", req.redirectAfter, MAX_URL_BYTES);
        const started = await flows.start(key, req.redirectAfter);
        return { authorizeUrl: started.authorizeUrl, state: started.state, expiresAt: timestampFromMs(started.expiresAt) };
      },

      async completeLink(req) {
        limitBytes("state", req.state, MAX_STATE_BYTES, "too long");
        limitBytes("code", req.code, MAX_CODE_BYTES, "too long");
        const { link } = await flows.complete(req.state, req.code);
        return { link: linkOf(link) };
      },

      async startDeviceLink(req) {
        const key = keyOf(req);
        const s = await flows.startDevice(key);
        return {
          sessionId: s.sessionId,
          userCode: s.userCode,
          verificationUri: s.verificationUri,
          verificationUriComplete: s.verificationUriComplete,
          interval: durationFromMs(s.intervalMs),
          expiresAt: timestampFromMs(s.expiresAt),
        };
      },

      async pollDeviceLink(req) {
        limitBytes("session_id", req.sessionId, MAX_STATE_BYTES, "too long");
        const r = await flows.pollDevice(req.sessionId);
        switch (r.state) {
          case "pending":
            return { state: DeviceLinkState.PENDING, retryAfter: durationFromMs(r.retryAfterMs) };
          case "linked":
            return { state: DeviceLinkState.LINKED, link: linkOf(r.link) };
          case "denied":
            return { state: DeviceLinkState.DENIED };
          case "expired":
            return { state: DeviceLinkState.EXPIRED };
        }
      },

      async importLink(req) {
        const key = keyOf(req);
        const accessToken = requireSecret("access_token", req.accessToken, true);
        const refreshToken = requireSecret("refresh_token", req.refreshToken, false);
        const expiresAt = timestampMs("expires_at", req.expiresAt);
        const extra = extraMap("extra", req.extra);
        const type = tokenType("token_type", req.tokenType);
        const account = accountName("account", req.account);
        const scopes = grantedScopes("granted_scopes", req.grantedScopes);
        const rec = await store.put(
          key,
          { accessToken, tokenType: type === "" ? "bearer" : type, refreshToken: refreshToken === "" ? null : refreshToken, expiresAt, extra, account, grantedScopes: scopes },
          now(),
        );
        return { link: linkOf(rec) };
      },

      async getLink(req) {
        const key = keyOf(req);
        const rec = await read(key);
        if (rec === undefined) throw linkNotFound(key);
        return { link: linkOf(rec) };
      },

      async listLinks(req) {
        const userId = optionalId("user_id", req.userId);
        const providerId = optionalId("provider_id", req.providerId);
        if (req.pageSize < 0) throw BrokerError.invalidArgument("page_size", "must not be negative");
        const limit = req.pageSize === 0 ? DEFAULT_PAGE : Math.min(req.pageSize, MAX_PAGE);
        const after = req.pageToken === "" ? undefined : decodePageToken(req.pageToken);
        const rows = await store.list({
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
      },

      async unlink(req) {
        const started = performance.now();
        const key = keyOf(req);
        let rec: LinkRecord | undefined;
        try {
          // Under the key's lock: a refresh of this process either committed
          // before (and its tokens are revoked below) or starts after and
          // finds no link.
          rec = await engine.exclusive(key, () => store.delete(key));
        } catch (err) {
          throw domainError(err, key);
        }
        if (rec === undefined) throw nothingToUnlink(key);
        const result = await flows.unlink(key, rec);
        audit.action({
          event: "unlink",
          method: "unlink",
          userId: key.userId,
          providerId: key.providerId,
          outcome: { grpcCode: "OK", reason: "" },
          providerContacted: currentCallScope()?.providerContacted ?? false,
          durationMs: performance.now() - started,
          facts: { token_revoked: result.tokenRevoked },
        });
        return result;
      },
    },
    "link",
  );
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
