import { expect } from "vitest";
import { OAuthError, type OAuthErrorKind, type OAuthProvider, type ProviderEndpoints } from "../../src/oauth/index.js";
import type { FakeProvider } from "../support/fake-provider.js";

export function endpointsFor(fake: FakeProvider, overrides: Partial<ProviderEndpoints> = {}): ProviderEndpoints {
  return {
    id: "fake",
    tokenUrl: fake.tokenUrl,
    validateUrl: fake.validateUrl,
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    tokenAuthMethod: "client_secret_basic",
    extraTokenKeys: [],
    ...overrides,
  };
}

export interface ExpectedOAuthError {
  kind: OAuthErrorKind;
  status?: number | undefined;
  error?: string | undefined;
}

/**
 * Awaits a rejection and checks it is a classified OAuthError whose message
 * leaks none of `secrets`.
 */
export async function expectOAuthError(
  p: Promise<unknown>,
  expected: ExpectedOAuthError,
  secrets: readonly string[] = [],
): Promise<OAuthError> {
  const e: unknown = await p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OAuthError);
  const err = e as OAuthError;
  expect({ kind: err.kind, status: err.status, error: err.error }).toEqual({
    kind: expected.kind,
    status: expected.status,
    error: expected.error,
  });
  for (const s of secrets) {
    expect(err.message).not.toContain(s);
    expect(err.description ?? "").not.toContain(s);
  }
  expect(err.message).not.toMatch(/[=&/?#]/);
  return err;
}

/** A full provider description (as the config layer resolves it) pointing at a fake with link flows. */
export function linkProviderFor(
  fake: FakeProvider,
  flows: { authorizeUrl: string; deviceCodeUrl: string; revokeUrl: string; apiBaseUrl: string },
  overrides: Partial<OAuthProvider> = {},
): OAuthProvider {
  return {
    id: "fake",
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    authUrl: flows.authorizeUrl,
    tokenUrl: fake.tokenUrl,
    validateUrl: fake.validateUrl,
    revokeUrl: flows.revokeUrl,
    deviceCodeUrl: flows.deviceCodeUrl,
    apiBaseUrl: flows.apiBaseUrl,
    scopes: ["repo"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    tokenAuthMethod: "client_secret_basic",
    authUrlParams: {},
    revocation: "rfc7009",
    quirks: fake.mode === "github" ? "github" : "standard",
    ...overrides,
  };
}

/** Opens an authorize URL at the fake as a browser would and returns the callback's query. */
export async function approveAt(authorizeUrl: string): Promise<URLSearchParams> {
  const res = await fetch(authorizeUrl, { redirect: "manual" });
  await res.arrayBuffer();
  const location = res.headers.get("location");
  if (res.status !== 302 || location === null) throw new Error(`authorize answered HTTP ${res.status}`);
  return new URL(location).searchParams;
}
