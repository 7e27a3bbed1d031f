/**
 * `redirect_after` targets for the redirect rule's tests: the known tricks
 * one by one, and a fuzz table that splices them together. The table is the
 * same on every run, so a failure names a reproducible target.
 */

/** An allow-listed origin the tests configure, and one that is not. */
export const ALLOWED_ORIGIN = "https://app.example.com";
export const EVIL = "evil.example";

/** Every character class the rule must refuse anywhere in a target. */
export const FORBIDDEN_CHARS: string[] = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)), // C0, tab, LF, CR included
  " ",
  "\u007f",
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(0x80 + i)), // C1 (U+0085 NEL too)
  "\u00a0",
  "\u1680",
  "\u2000",
  "\u2007",
  "\u200a",
  "\u200b",
  "\u200e",
  "\u2028",
  "\u2029",
  "\u202e",
  "\u202f",
  "\u205f",
  "\u2060",
  "\u3000",
  "\ufeff",
  "\\",
];

/** Known tricks a browser would follow off the origin; each must be refused. */
export const KNOWN_BAD: string[] = [
  `https://${EVIL}/steal`,
  `//${EVIL}/x`,
  `///${EVIL}/x`,
  `/\\${EVIL}`,
  `\\\\${EVIL}`,
  `/\t/${EVIL}`,
  `/\n/${EVIL}`,
  `/\r\n/${EVIL}`,
  `\t//${EVIL}`,
  ` //${EVIL}`,
  `/\u2028/${EVIL}`,
  `/\u2029/${EVIL}`,
  `/\u00a0/${EVIL}`,
  `/\u0000/${EVIL}`,
  `https:\\\\${EVIL}`,
  "javascript:alert(1)",
  "JaVaScRiPt:alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "file:///etc/passwd",
  `blob:${ALLOWED_ORIGIN}/0d7a9f0e-8c1b-4c9e-9a41-1f0e5f0f0f0f`,
  `ftp://${EVIL}/`,
  `${ALLOWED_ORIGIN}.${EVIL}/`,
  `${ALLOWED_ORIGIN}@${EVIL}/`,
  `https://user@app.example.com/`,
  `https://user:pw@app.example.com/`,
  `${ALLOWED_ORIGIN}:8443/`,
  `http://app.example.com/`,
  "https://аpp.example.com/", // Cyrillic а: another host once IDNA-encoded
];

/** Targets that must pass, with the Location the callback must send for them (`{public}` = public_url's origin). */
export const KNOWN_GOOD: Array<{ target: string; location: string }> = [
  { target: "/account/links?done=github", location: "/account/links?done=github" },
  { target: "/", location: "/" },
  { target: "/a/../b/./c", location: "/b/c" },
  { target: "/../../x", location: "/x" },
  { target: "/x#frag", location: "/x#frag" },
  { target: "/%2F%2Fevil.example", location: "/%2F%2Fevil.example" },
  { target: "/%09x", location: "/%09x" },
  { target: "/ünïcode?q=ß", location: "/%C3%BCn%C3%AFcode?q=%C3%9F" },
  { target: "/@evil.example", location: "/@evil.example" },
  { target: "?q=1", location: "/?q=1" },
  { target: "x/y", location: "/x/y" },
  // The path resolves to `//evil.example`: as a bare path a browser would read a host, so it goes in full.
  { target: `/.//${EVIL}`, location: `{public}//${EVIL}` },
  { target: `/%2e//${EVIL}`, location: `{public}//${EVIL}` },
  { target: `${ALLOWED_ORIGIN}/done`, location: `${ALLOWED_ORIGIN}/done` },
  { target: "HTTPS://APP.EXAMPLE.COM:443/Done", location: `${ALLOWED_ORIGIN}/Done` },
  { target: `${ALLOWED_ORIGIN}`, location: `${ALLOWED_ORIGIN}/` },
];

// A target is spliced from five slots; each slot's entries are the tricks that
// go there (a scheme or a bare path, the characters browsers strip or
// reinterpret, the separators that make a path a host, the hosts, the tails).
const HEADS = ["", "/", "\\", " ", "\t", "https:", "http:", "HTTPS:", "javascript:", "data:", "blob:", "file:", "ws:", ALLOWED_ORIGIN, `${ALLOWED_ORIGIN}@`];
const NOISE = ["", "\t", "\n", "\r", "\u0000", "\u001f", "\u007f", "\u0085", "\u00a0", "\u2028", "\u2029", "\u200b", "\ufeff", "%09", "%2f", "%5c", ".", "..", "@"];
const SEPS = ["", "/", "//", "\\", "/\\", "./", "../", "@", ":"];
const HOSTS = ["", EVIL, "app.example.com", "127.0.0.1", "[::1]", "xn--pp-8cd.example.com", "аpp.example.com", "ＥＶＩＬ.example", `user:pw@${EVIL}`, "x"];
const TAILS = ["", ":8443", "/x", "/..", "?q=1#f", `/x?next=//${EVIL}`, "%00"];

/**
 * The fuzz table: every head × noise × separator × host, each with one of the
 * tails in turn. `hosts` narrows the table (the daemon-level test uses one
 * host, to keep to a few thousand calls).
 */
export function fuzzTargets(hosts: readonly string[] = HOSTS): string[] {
  const out = new Set<string>();
  let i = 0;
  for (const head of HEADS) for (const noise of NOISE) for (const sep of SEPS) for (const host of hosts) out.add(`${head}${noise}${sep}${host}${TAILS[i++ % TAILS.length]}`);
  out.delete("");
  return [...out];
}

/** Is `location` safe to put in a header: visible ASCII only. */
export function headerSafe(location: string): boolean {
  return /^[\x21-\x7e]+$/.test(location);
}
