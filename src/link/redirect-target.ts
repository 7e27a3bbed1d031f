/**
 * Where the OAuth callback may send the browser once a link is stored
 * (`redirect_after`, docs/design.md §6). A target is judged exactly as a
 * browser would follow it — WHATWG URL resolution against `public_url` — so
 * no string can mean one thing to this check and another to the browser.
 */

/**
 * Characters a target may not contain anywhere: controls (C0, DEL, C1),
 * Unicode whitespace (space, NBSP, U+2028/U+2029, …), invisible format
 * characters, lone surrogates, and the backslash. Browsers silently strip
 * tab, CR and LF inside URLs and read `\` as `/` in http(s) URLs, which is
 * how `/\t/evil.example` or `/\evil.example` become `//evil.example`; node
 * refuses most of the rest in a Location header.
 */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{White_Space}\\]/u;

export type RedirectVerdict = { allowed: true; location: string } | { allowed: false; problem: string };

export class RedirectRule {
  readonly #base: string;
  readonly #publicOrigin: string;
  readonly #origins: ReadonlySet<string>;

  /** `allowlist`: origins an absolute target may point to, besides `publicUrl`'s own. */
  constructor(publicUrl: string, allowlist: readonly string[]) {
    this.#base = new URL(publicUrl).href;
    this.#publicOrigin = new URL(publicUrl).origin;
    this.#origins = new Set([this.#publicOrigin, ...allowlist.filter((a) => URL.canParse(a)).map((a) => new URL(a).origin)]);
  }

  /**
   * Allowed iff the target, resolved against public_url, is an http(s) URL
   * on public_url's origin or an allow-listed one, without userinfo. The
   * location to send is the resolved URL, never the raw string: a path on
   * public_url's origin stays a path, unless it starts with `//` (a browser
   * would read that as another host), then it is sent in full.
   */
  judge(target: string): RedirectVerdict {
    if (FORBIDDEN.test(target)) return refused("must not contain control characters, whitespace or a backslash");
    let url: URL;
    try {
      url = new URL(target, this.#base);
    } catch {
      return refused("not a URL");
    }
    // blob: URLs carry their inner URL's origin; only http(s) leads to a page.
    if (url.protocol !== "http:" && url.protocol !== "https:") return refused("must be a relative path or an http(s) URL");
    if (url.username !== "" || url.password !== "") return refused("must not carry a user name or password");
    if (!this.#origins.has(url.origin)) return refused("must be a relative path or on an allow-listed origin");
    const asPath = url.origin === this.#publicOrigin && !url.pathname.startsWith("//");
    // Without userinfo, href is the origin followed by path, query and fragment (an empty `#` included).
    return { allowed: true, location: asPath ? url.href.slice(url.origin.length) : url.href };
  }
}

function refused(problem: string): RedirectVerdict {
  return { allowed: false, problem };
}
