import { expect } from "vitest";
import { OAuthError, type OAuthErrorKind } from "../../src/oauth/oauth-error.js";
import type { OAuthProvider } from "../../src/oauth/provider.js";
import type { RefreshProvider } from "../../src/oauth/refresh.js";
import { enableLinkFlows, type LinkFlows, type LinkFlowsOptions } from "../support/fake-link-flows.js";
import type { FakeProvider, FakeProviderOptions } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";

/** What a refresh reads of a provider, pointing at the fake. */
export function endpointsFor(fake: FakeProvider, overrides: Partial<RefreshProvider> = {}): RefreshProvider {
  return {
    id: "fake",
    tokenUrl: fake.tokenUrl,
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    tokenAuthMethod: "client_secret_basic",
    extraTokenKeys: [],
    quirks: "standard",
    scopes: [],
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

/** A fake provider for the running test with link flows enabled, and a provider description pointing at both. */
export async function useLinkFake(o: FakeProviderOptions = {}, f: LinkFlowsOptions = {}): Promise<{ fake: FakeProvider; flows: LinkFlows; p: OAuthProvider }> {
  const fake = await useFakeProvider(o);
  const flows = enableLinkFlows(fake, f);
  return { fake, flows, p: linkProviderFor(fake, flows) };
}

/** Opens an authorize URL at the fake as a browser would and returns the callback's query. */
export async function approveAt(authorizeUrl: string): Promise<URLSearchParams> {
  const res = await fetch(authorizeUrl, { redirect: "manual" });
  await res.arrayBuffer();
  const location = res.headers.get("location");
  if (res.status !== 302 || location === null) throw new Error(`authorize answered HTTP ${res.status}`);
  return new URL(location).searchParams;
}
