import * as oauth from "oauth4webapi";
import type { ProviderQuirks, TokenAuthMethod } from "./provider.js";

export interface ClientCredentials {
  clientSecret: string;
  tokenAuthMethod: TokenAuthMethod;
  quirks?: ProviderQuirks | undefined;
}

const JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/**
 * How a token-endpoint request (any grant, and the device authorization
 * request) authenticates the client. Always explicit: probing both styles,
 * as x/oauth2 does, doubles the first call to every provider.
 * - An empty secret means a public client (e.g. a GitHub app used only for
 *   the device flow): client_id in the body, nothing else.
 * - JFrog's OAuth integrations expect the client secret as a bearer token.
 * - Legacy Azure DevOps OAuth takes the client secret as `client_assertion`.
 */
export function clientAuthFor(p: ClientCredentials): oauth.ClientAuth {
  if (p.clientSecret === "") return oauth.None();
  if (p.quirks === "jfrog") {
    const secret = p.clientSecret;
    return (_as, client, body, headers) => {
      body.set("client_id", client.client_id);
      headers.set("authorization", `Bearer ${secret}`);
    };
  }
  if (p.quirks === "azure-devops") {
    const secret = p.clientSecret;
    return (_as, _client, body) => {
      body.set("client_assertion_type", JWT_BEARER_ASSERTION);
      body.set("client_assertion", secret);
    };
  }
  return p.tokenAuthMethod === "client_secret_post" ? oauth.ClientSecretPost(p.clientSecret) : oauth.ClientSecretBasic(p.clientSecret);
}

/**
 * Client authentication for endpoints that are not the token endpoint
 * (RFC 7009 revocation): the same method, as headers and form fields.
 * Basic credentials are form-encoded before base64 (RFC 6749 §2.3.1).
 */
export function clientAuthParts(p: ClientCredentials & { clientId: string }): { headers: Record<string, string>; form: Record<string, string> } {
  if (p.clientSecret === "") return { headers: {}, form: { client_id: p.clientId } };
  if (p.tokenAuthMethod === "client_secret_post") {
    return { headers: {}, form: { client_id: p.clientId, client_secret: p.clientSecret } };
  }
  const enc = (s: string): string => new URLSearchParams({ s }).toString().slice(2);
  const basic = Buffer.from(`${enc(p.clientId)}:${enc(p.clientSecret)}`).toString("base64");
  return { headers: { authorization: `Basic ${basic}` }, form: {} };
}
