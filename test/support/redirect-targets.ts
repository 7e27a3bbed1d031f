/**
 * `redirect_after` targets for the redirect rule's tests: the known tricks
 * one by one, and a seeded fuzz table that splices them together. The table
 * is the same on every run, so a failure names a reproducible target.
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

const PIECES: string[] = [
  "",
  "/",
  "//",
  "///",
  "\\",
  "/\\",
  ".",
  "..",
  "/..",
  "@",
  ":",
  ":443",
  ":8443",
  "?",
  "#",
  "%2f",
  "%5c",
  "%09",
  "%0a",
  "%2e%2e",
  "%40",
  "http:",
  "https:",
  "HTTPS:",
  "javascript:",
  "data:",
  "file:",
  "blob:",
  "ws:",
  "https://",
  "http://",
  ALLOWED_ORIGIN,
  "app.example.com",
  EVIL,
  "xn--pp-8cd.example.com",
  "аpp.example.com",
  "ＥＶＩＬ.example",
  "127.0.0.1",
  "[::1]",
  "user",
  "user:pw",
  "x",
  "\t",
  "\n",
  "\r",
  "\u0000",
  "\u001f",
  " ",
  "\u007f",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\u200b",
  "\u3000",
  "\ufeff",
];

/** `count` targets spliced from 1 to 6 pieces by a seeded PRNG (mulberry32). */
export function fuzzTargets(count: number, seed = 0x7b1d): string[] {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (): string => PIECES[Math.floor(rand() * PIECES.length)]!;
  const out = new Set<string>();
  while (out.size < count) {
    const n = 1 + Math.floor(rand() * 6);
    let t = "";
    for (let i = 0; i < n; i++) t += pick();
    if (t !== "") out.add(t);
  }
  return [...out];
}

/** Is `location` safe to put in a header: visible ASCII only. */
export function headerSafe(location: string): boolean {
  return /^[\x21-\x7e]+$/.test(location);
}
