/**
 * What the OAuth client needs to know about one provider. The config layer
 * resolves catalog defaults and secret files into this shape; nothing here
 * reads files or environment, so tests can point it at a loopback fake.
 */
export interface ProviderEndpoints {
  /** The provider id from the config; used only in messages, never sent. */
  id: string;
  /** https, or http on a loopback host (tests and the dev demo provider). */
  tokenUrl: string;
  /** Where an access token can be checked (GitHub: api.github.com/user). */
  validateUrl?: string;
  clientId: string;
  clientSecret: string;
  /** Set explicitly: probing both styles doubles token-endpoint traffic. */
  tokenAuthMethod: "client_secret_basic" | "client_secret_post";
  /**
   * Fields of the raw token response copied into `TokenSet.extra`. Dotted
   * paths reach into nested objects, e.g. Slack's "authed_user.access_token".
   */
  extraTokenKeys: string[];
}
