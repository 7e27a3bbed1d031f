import { isIPv4 } from "node:net";

/**
 * True when the URL's host can only be this machine. Plain http is allowed
 * there (tests, the dev demo provider) and nowhere else, so a config typo
 * cannot send a client secret or refresh token over the network in clear.
 */
export function isLoopbackUrl(url: string | URL): boolean {
  let host: string;
  try {
    host = (typeof url === "string" ? new URL(url) : url).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (host === "localhost" || host === "localhost.") return true;
  if (host === "[::1]") return true;
  return isIPv4(host) && host.startsWith("127.");
}

/** https anywhere, http only on loopback. */
export function isAllowedTransport(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return u.protocol === "https:" || (u.protocol === "http:" && isLoopbackUrl(u));
}
