import * as oauth from "oauth4webapi";
import type { PkceMethod } from "./provider.js";

/** What StartLink keeps (the verifier, sealed) and what goes on the authorize URL. */
export interface PkcePair {
  /** 43 characters of base64url randomness (RFC 7636 §4.1); a secret until the exchange. */
  codeVerifier: string;
  codeChallenge: string;
  codeChallengeMethod: "S256" | "plain";
}

/**
 * The method to use: the first listed, so the config states a preference
 * order. `none` (or an empty list) means no PKCE, for providers that reject
 * unknown parameters or mishandle a challenge they did not expect.
 */
export function choosePkceMethod(methods: readonly PkceMethod[]): "S256" | "plain" | undefined {
  const first = methods[0];
  return first === undefined || first === "none" ? undefined : first;
}

/** A fresh verifier and its challenge, or undefined when the provider opts out. */
export async function createPkce(methods: readonly PkceMethod[]): Promise<PkcePair | undefined> {
  const method = choosePkceMethod(methods);
  if (method === undefined) return undefined;
  const codeVerifier = oauth.generateRandomCodeVerifier();
  // plain sends the verifier itself; only for servers that cannot hash (RFC 7636 §4.2).
  const codeChallenge = method === "S256" ? await oauth.calculatePKCECodeChallenge(codeVerifier) : codeVerifier;
  return { codeVerifier, codeChallenge, codeChallengeMethod: method };
}

/** A random `state` value (32 bytes, base64url), as oauth4webapi makes it. */
export function generateState(): string {
  return oauth.generateRandomState();
}
