import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { AesSealer, DecryptError, Keyring, type SealContext } from "../../src/crypto/index.js";
import { TOKEN, ctx, masterKey } from "./fixtures.js";

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("AesSealer: seal and open", () => {
  const k1 = masterKey();
  const sealer = new AesSealer(new Keyring([k1]));

  it("round-trips ASCII and non-ASCII values", () => {
    for (const s of [TOKEN, "x", "ünïcødé 🔑 token", "a".repeat(64 * 1024)]) {
      const env = sealer.seal(s, ctx);
      expect(sealer.open(env, ctx)).toBe(s);
      expect(sealer.keyIdOf(env)).toBe(sealer.activeKeyId);
      // (A one-byte value could appear among the random bytes by chance.)
      if (s.length >= 8) expect(env.includes(Buffer.from(s))).toBe(false);
    }
  });

  it("refuses to seal an empty string: absent secrets are NULL", () => {
    expect(() => sealer.seal("", ctx)).toThrow(/store NULL/);
    expect(() => sealer.seal("", ctx)).toThrow(TypeError);
  });

  it.each<[string, Partial<SealContext>]>([
    ["table", { table: "links_archive" }],
    ["column", { column: "refresh_token" }],
    ["provider", { providerId: "gitlab" }],
    ["user", { userId: "bob" }],
    ["table/column split", { table: "linksa", column: "ccess_token" }],
    ["provider/user split", { providerId: "githuba", userId: "lice" }],
    ["case", { userId: "Alice" }],
  ])("fails to open with another %s", (_name, change) => {
    const env = sealer.seal(TOKEN, ctx);
    const err = caught(() => sealer.open(env, { ...ctx, ...change }));
    expect(err).toBeInstanceOf(DecryptError);
    expect((err as DecryptError).message).toContain(sealer.activeKeyId);
    expect((err as DecryptError).message).not.toContain(TOKEN);
  });

  it("fails when two envelopes are swapped between rows and between columns", () => {
    const alice = { ...ctx, userId: "alice" };
    const bob = { ...ctx, userId: "bob" };
    const a = sealer.seal("alice-token", alice);
    const b = sealer.seal("bob-token", bob);
    expect(() => sealer.open(a, bob)).toThrow(DecryptError);
    expect(() => sealer.open(b, alice)).toThrow(DecryptError);

    const access = { ...ctx, column: "access_token" };
    const refresh = { ...ctx, column: "refresh_token" };
    const at = sealer.seal("access", access);
    const rt = sealer.seal("refresh", refresh);
    expect(() => sealer.open(at, refresh)).toThrow(DecryptError);
    expect(() => sealer.open(rt, access)).toThrow(DecryptError);
    // Each still opens where it belongs.
    expect(sealer.open(at, access)).toBe("access");
    expect(sealer.open(rt, refresh)).toBe("refresh");
  });

  it("reports an ill-formed context as a DecryptError on open and a TypeError on seal", () => {
    const env = sealer.seal(TOKEN, ctx);
    expect(() => sealer.open(env, { ...ctx, userId: "\uD800" })).toThrow(DecryptError);
    expect(() => sealer.seal(TOKEN, { ...ctx, userId: "\uD800" })).toThrow(TypeError);
  });

  it("never shows key bytes when the keyring or sealer is inspected or serialised", () => {
    const ring = new Keyring([k1]);
    const shown = inspect(ring, { depth: 10, showHidden: true }) + JSON.stringify(ring) + inspect(new AesSealer(ring), { depth: 10 });
    expect(shown).not.toContain(k1.toString("hex"));
    expect(shown).not.toContain(k1.toString("base64"));
    expect(shown).not.toContain(ring.active.encryptionKey.export().toString("hex"));
    expect(shown).not.toContain(ring.active.encryptionKey.export().toString("base64"));
  });
});

describe("AesSealer: rotation", () => {
  const oldKey = masterKey();
  const newKey = masterKey();
  const before = new AesSealer(new Keyring([oldKey]));
  const after = new AesSealer(new Keyring([newKey, oldKey]));

  it("opens values sealed under the old key once a new active key is prepended", () => {
    const env = before.seal(TOKEN, ctx);
    expect(after.keyIdOf(env)).toBe(before.activeKeyId);
    expect(after.open(env, ctx)).toBe(TOKEN);
  });

  it("seals new values under the new active key", () => {
    expect(after.activeKeyId).not.toBe(before.activeKeyId);
    expect(after.keyIdOf(after.seal(TOKEN, ctx))).toBe(after.activeKeyId);
  });

  it("fails with a DecryptError naming the key id once the old key is gone", () => {
    const env = before.seal(TOKEN, ctx);
    const retired = new AesSealer(new Keyring([newKey]));
    const err = caught(() => retired.open(env, ctx));
    expect(err).toBeInstanceOf(DecryptError);
    expect((err as DecryptError).keyId).toBe(before.activeKeyId);
    expect((err as DecryptError).message).toContain(before.activeKeyId);
    expect((err as DecryptError).message).not.toContain(TOKEN);
  });

  it("fails when an envelope is relabelled with another key id of the ring", () => {
    const env = after.seal(TOKEN, ctx);
    const relabelled = Buffer.from(env);
    relabelled.write(before.activeKeyId, 1, "hex");
    expect(after.keyIdOf(relabelled)).toBe(before.activeKeyId);
    expect(() => after.open(relabelled, ctx)).toThrow(DecryptError);
  });
});

describe("AesSealer: digests", () => {
  const oldKey = masterKey();
  const newKey = masterKey();
  const before = new AesSealer(new Keyring([oldKey]));
  const after = new AesSealer(new Keyring([newKey, oldKey]));

  it("is deterministic, self-describing and keyed", () => {
    const d = before.digest(TOKEN);
    expect(before.digest(TOKEN)).toBe(d);
    expect(d).toMatch(/^[0-9a-f]{8}:[A-Za-z0-9_-]{43}$/);
    expect(d.startsWith(`${before.activeKeyId}:`)).toBe(true);
    expect(d).not.toContain(TOKEN);
    expect(before.digest(TOKEN + "x")).not.toBe(d);
    // Another key gives another digest of the same token.
    expect(new AesSealer(new Keyring([newKey])).digest(TOKEN).split(":")[1]).not.toBe(d.split(":")[1]);
  });

  it("matches its own plaintext only", () => {
    const d = before.digest(TOKEN);
    expect(before.digestMatches(d, TOKEN)).toBe(true);
    expect(before.digestMatches(d, TOKEN + "x")).toBe(false);
    expect(before.digestMatches(d, "")).toBe(false);
  });

  it("still matches a digest made under the old key after rotation", () => {
    const old = before.digest(TOKEN);
    expect(after.digest(TOKEN)).not.toBe(old);
    expect(after.digest(TOKEN).startsWith(`${after.activeKeyId}:`)).toBe(true);
    expect(after.digestMatches(old, TOKEN)).toBe(true);
    expect(after.digestMatches(after.digest(TOKEN), TOKEN)).toBe(true);
    expect(after.digestMatches(old, "other")).toBe(false);
  });

  it("is false for an unknown key id or a malformed digest", () => {
    const d = after.digest(TOKEN);
    const mac = d.split(":")[1]!;
    const retired = new AesSealer(new Keyring([newKey]));
    expect(retired.digestMatches(before.digest(TOKEN), TOKEN)).toBe(false);
    for (const bad of [
      "",
      mac,
      `:${mac}`,
      `${after.activeKeyId}:`,
      // Key ids are lower-case hex; one of only digits has no upper-case form (2.3% of random keys).
      ...(/[a-f]/.test(after.activeKeyId) ? [`${after.activeKeyId.toUpperCase()}:${mac}`] : []),
      `${after.activeKeyId}:${mac}=`,
      `${after.activeKeyId}:${mac.slice(1)}`,
      `${after.activeKeyId}:${mac}A`,
      `${after.activeKeyId}:${Buffer.from(mac, "base64url").toString("base64")}`,
      `${after.activeKeyId}:${mac} `,
      `${after.activeKeyId}:${mac}:x`,
    ]) {
      expect(after.digestMatches(bad, TOKEN), bad).toBe(false);
    }
  });
});
