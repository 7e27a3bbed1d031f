import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { LinkSchema, type Link } from "../../gen/tokenbroker/v1/link_pb.js";
import { TokenSchema, type Token } from "../../gen/tokenbroker/v1/token_pb.js";
import type { LinkMeta, LinkRecord } from "../store/link-store.js";

export function tokenOf(rec: LinkRecord): Token {
  return create(TokenSchema, {
    accessToken: rec.accessToken,
    tokenType: rec.tokenType,
    ...(rec.expiresAt !== null ? { expiresAt: timestampFromMs(rec.expiresAt) } : {}),
    extra: rec.extra,
    userId: rec.userId,
    providerId: rec.providerId,
  });
}

/** Link metadata; never a token value. */
export function linkOf(rec: LinkRecord | LinkMeta): Link {
  const hasRefreshToken = "hasRefreshToken" in rec ? rec.hasRefreshToken : rec.refreshToken !== null;
  const failure = rec.refreshFailure;
  return create(LinkSchema, {
    userId: rec.userId,
    providerId: rec.providerId,
    hasRefreshToken,
    ...(rec.expiresAt !== null ? { expiresAt: timestampFromMs(rec.expiresAt) } : {}),
    createdAt: timestampFromMs(rec.createdAt),
    updatedAt: timestampFromMs(rec.updatedAt),
    ...(rec.lastRefreshedAt !== null ? { lastRefreshedAt: timestampFromMs(rec.lastRefreshedAt) } : {}),
    ...(failure !== null
      ? { refreshFailure: { reason: "reason" in failure ? (failure as { reason: string }).reason : "", failedAt: timestampFromMs(failure.failedAt) } }
      : {}),
    account: rec.account ?? "",
    grantedScopes: rec.grantedScopes ?? [],
  });
}
