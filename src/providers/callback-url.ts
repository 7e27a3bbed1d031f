/**
 * The link flow's redirect URI, `{public_url}/oauth/{provider_id}/callback`,
 * built and parsed here only: the URI sent on authorize, on the code exchange
 * (and on legacy Azure DevOps refreshes), and the path the web listener
 * answers can never disagree. `public_url` may carry a path prefix.
 */
export class CallbackUrls {
  /** public_url without a trailing slash. */
  readonly publicUrl: string;
  readonly #pattern: RegExp;

  constructor(publicUrl: string) {
    this.publicUrl = publicUrl.replace(/\/+$/, "");
    const prefix = new URL(this.publicUrl).pathname.replace(/\/+$/, "");
    this.#pattern = new RegExp(`^${escapeRegExp(prefix)}/oauth/([^/]+)/callback$`);
  }

  for(providerId: string): string {
    return `${this.publicUrl}/oauth/${encodeURIComponent(providerId)}/callback`;
  }

  /**
   * The provider id a request path names: undefined when the path is not a
   * callback, null when the id is not valid percent-encoding.
   */
  providerOf(pathname: string): string | null | undefined {
    const encoded = this.#pattern.exec(pathname)?.[1];
    if (encoded === undefined) return undefined;
    try {
      return decodeURIComponent(encoded);
    } catch {
      return null;
    }
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
