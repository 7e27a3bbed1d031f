import type { LinkRecord } from "../store/link-store.js";

/**
 * What a caller asks of a token beyond its validity: for now, that it not be
 * an access token the caller saw refused (`rejected_access_token`, sent by
 * `tokenbroker git-credential erase`).
 */
export interface TokenWish {
  /** An access token a resource server refused; empty or absent: none. */
  rejectedAccessToken?: string | undefined;
}

/**
 * The erase compare-and-swap: `rec` still holds the very access token the
 * caller saw refused, so only a refresh can answer it. Any other token — a
 * refresh that someone else finished after the refusal — answers as usual,
 * so many callers reporting one dead token cause one refresh (the engine
 * judges this after taking the key's lock and again on the claimed row,
 * docs/design.md §3 invariants 1 and 2). A plain comparison: the caller may
 * have this link's token anyway (it holds the `token` scope for it).
 */
export function isRejected(rec: Pick<LinkRecord, "accessToken">, wish: TokenWish | undefined): boolean {
  const rejected = wish?.rejectedAccessToken;
  return rejected !== undefined && rejected !== "" && rec.accessToken === rejected;
}
