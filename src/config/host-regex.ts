/** `s` as a regex fragment that matches exactly it. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A MatchProvider regex for one host pattern, matching the URL shapes git
 * and API clients use: scheme://[user@]host[:port][/path], and the scp-like
 * [user@]host:path or bare host/path. It refuses host confusion, because a
 * caller hands the matched provider's token to that URL:
 * `https://github.com@evil.example/`, `https://github.com:443@evil.example/`
 * and `https://evil.example\@github.com/` (WHATWG URL reads `\` as `/`) do
 * not match. Compiled case-insensitively (hosts are).
 */
export function hostRegex(hostPattern: string): string {
  const host = `(?:${hostPattern})`;
  return (
    `^(?:(?:https?|ssh|git)://(?:[^@/?#\\\\\\s]+@)?${host}(?::\\d+)?(?:[/?#].*)?` +
    `|(?:[^@/:\\\\\\s]+@)?${host}(?:[:/][^@\\\\]*)?)$`
  );
}
