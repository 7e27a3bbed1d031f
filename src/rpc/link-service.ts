import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { linkNotFound, providerNotFound, decryptFailed, type RefreshEngine } from "../broker/engine.js";
import { DecryptError } from "../crypto/sealer.js";
import { BrokerError } from "../errors.js";
import type { LinkKey, LinkRecord, LinkStore } from "../store/link-store.js";
import { linkOf } from "./convert.js";
import { extraMap, optionalId, requireId, requireSecret, timestampMs } from "./input.js";
import { defineService, type RpcService } from "./service.js";

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

export function linkService(engine: RefreshEngine, store: LinkStore, now: () => number = Date.now): RpcService {
  const keyOf = (req: { userId: string; providerId: string }): LinkKey => {
    const key = { userId: requireId("user_id", req.userId), providerId: requireId("provider_id", req.providerId) };
    if (engine.provider(key.providerId) === undefined) throw providerNotFound(key.providerId);
    return key;
  };
  const read = async (key: LinkKey): Promise<LinkRecord | undefined> => {
    try {
      return await store.get(key);
    } catch (err) {
      if (err instanceof DecryptError) throw decryptFailed(key, err);
      throw err;
    }
  };

  return defineService(
    LinkService,
    {
      async importLink(req) {
        const key = keyOf(req);
        const accessToken = requireSecret("access_token", req.accessToken, true);
        const refreshToken = requireSecret("refresh_token", req.refreshToken, false);
        const expiresAt = timestampMs("expires_at", req.expiresAt);
        const extra = extraMap("extra", req.extra);
        const rec = await store.put(
          key,
          { accessToken, tokenType: req.tokenType === "" ? "bearer" : req.tokenType, refreshToken: refreshToken === "" ? null : refreshToken, expiresAt, extra },
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
        const key = keyOf(req);
        let rec: LinkRecord | undefined;
        try {
          rec = await store.delete(key);
        } catch (err) {
          if (err instanceof DecryptError) throw decryptFailed(key, err);
          throw err;
        }
        if (rec === undefined) throw linkNotFound(key);
        return { tokenRevoked: false, revocationError: "revocation not attempted: not supported by this version" };
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
