import { expect } from "vitest";
import { OAuthError, type OAuthErrorKind, type ProviderEndpoints } from "../../src/oauth/index.js";
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
