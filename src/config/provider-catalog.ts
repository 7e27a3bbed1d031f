import type { ProviderType } from "./schema.js";

/** Defaults per provider type, from each provider's public documentation. */
export interface ProviderDefaults {
  displayName: string;
  authUrl?: string;
  tokenUrl?: string;
  validateUrl?: string;
  revokeUrl?: string;
  deviceCodeUrl?: string;
  apiBaseUrl?: string;
  scopes: string[];
  regex?: string;
  pkceMethods: Array<"S256" | "plain" | "none">;
  /** How the provider revokes: RFC 7009, GitHub's grant deletion, or not at all. */
  revocation: "rfc7009" | "github-grant" | "none";
  /** GitHub answers token errors with HTTP 200 and reports client errors its own way. */
  quirks: "github" | "standard";
}

const generic: ProviderDefaults = {
  displayName: "OAuth2",
  scopes: [],
  pkceMethods: ["S256"],
  revocation: "rfc7009",
  quirks: "standard",
};

export const PROVIDER_CATALOG: Partial<Record<ProviderType, ProviderDefaults>> = {
  github: {
    displayName: "GitHub",
    authUrl: "https://github.com/login/oauth/authorize",
    tokenUrl: "https://github.com/login/oauth/access_token",
    validateUrl: "https://api.github.com/user",
    deviceCodeUrl: "https://github.com/login/device/code",
    apiBaseUrl: "https://api.github.com",
    scopes: [],
    regex: "^(https?://)?(www\\.)?github\\.com([/:].*)?$",
    pkceMethods: ["S256"],
    revocation: "github-grant",
    quirks: "github",
  },
  oauth2: generic,
};

export function catalogDefaults(type: ProviderType): ProviderDefaults | undefined {
  return PROVIDER_CATALOG[type];
}
