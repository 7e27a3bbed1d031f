import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import { KeyringError, type SealContext } from "../../src/crypto/index.js";

/** A fresh random master key. */
export function masterKey(): Buffer {
  return randomBytes(32);
}

export const ctx: SealContext = { table: "links", column: "access_token", providerId: "github", userId: "alice" };

/** A 40-byte token, the typical size of a GitHub access token. */
export const TOKEN = "gho_16C7e42F292c6912E7710c838347Ae178B4a";

/** The KeyringError `fn` throws (fails the test if it throws anything else, or nothing). */
export function keyringError(fn: () => unknown): KeyringError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KeyringError);
    return err as KeyringError;
  }
  throw new Error("expected a KeyringError");
}
