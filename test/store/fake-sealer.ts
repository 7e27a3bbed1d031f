import { createHash, timingSafeEqual } from "node:crypto";
import { DecryptError, type SealContext, type Sealer } from "../../src/crypto/sealer.js";

/**
 * A test-only Sealer: NOT encryption. It masks plaintext with a SHA-256
 * keystream derived from the key id and context (so plaintext never shows in
 * raw bytes), binds the SealContext (a context hash in the envelope, checked
 * on open) and carries a tag over key id, context and plaintext, so a
 * flipped byte, a foreign context or an unknown key throws DecryptError.
 *
 * Envelope: 0xFA ‖ len(keyId) ‖ keyId ‖ ctxHash(8) ‖ masked plaintext ‖ tag(16)
 * Digest:   keyId ":" sha256hex(plaintext)
 */
export class FakeSealer implements Sealer {
  readonly activeKeyId: string;
  private readonly keyIds: ReadonlySet<string>;
  /** Call counters, so tests can assert what the store opened or sealed. */
  readonly calls = { seal: 0, open: 0, digest: 0, digestMatches: 0 };

  /** `keyIds[0]` is active; the rest open only. */
  constructor(keyIds: readonly string[] = ["k1"]) {
    const [active] = keyIds;
    if (active === undefined) throw new Error("FakeSealer needs at least one key id");
    for (const id of keyIds) {
      if (id === "" || id.length > 255 || id.includes(":")) throw new Error(`bad key id ${id}`);
    }
    this.activeKeyId = active;
    this.keyIds = new Set(keyIds);
  }

  seal(plaintext: string, ctx: SealContext): Buffer {
    this.calls.seal++;
    if (plaintext === "") throw new Error("FakeSealer: empty strings are not sealed (store NULL)");
    const keyId = this.activeKeyId;
    const pt = Buffer.from(plaintext, "utf8");
    return Buffer.concat([
      header(keyId),
      ctxHash(ctx),
      xor(pt, keystream(keyId, ctx, pt.length)),
      tag(keyId, ctx, pt),
    ]);
  }

  open(envelope: Uint8Array, ctx: SealContext): string {
    this.calls.open++;
    const buf = Buffer.from(envelope);
    const keyId = this.keyIdOf(buf);
    if (!this.keyIds.has(keyId)) throw new DecryptError(`unknown key id ${keyId}`, keyId);
    let at = 2 + Buffer.byteLength(keyId, "ascii");
    if (buf.length < at + 8 + 16) throw new DecryptError("envelope too short", keyId);
    if (!buf.subarray(at, at + 8).equals(ctxHash(ctx))) throw new DecryptError("envelope belongs to another context", keyId);
    at += 8;
    const masked = buf.subarray(at, buf.length - 16);
    const pt = xor(masked, keystream(keyId, ctx, masked.length));
    if (!timingSafeEqual(buf.subarray(buf.length - 16), tag(keyId, ctx, pt))) {
      throw new DecryptError("envelope failed authentication", keyId);
    }
    return pt.toString("utf8");
  }

  keyIdOf(envelope: Uint8Array): string {
    if (envelope.length < 2 || envelope[0] !== 0xfa) throw new DecryptError("not a FakeSealer envelope");
    const len = envelope[1] ?? 0;
    if (envelope.length < 2 + len) throw new DecryptError("truncated envelope header");
    return Buffer.from(envelope.subarray(2, 2 + len)).toString("ascii");
  }

  digest(plaintext: string): string {
    this.calls.digest++;
    return `${this.activeKeyId}:${sha256(plaintext).toString("hex")}`;
  }

  digestMatches(digest: string, plaintext: string): boolean {
    this.calls.digestMatches++;
    const sep = digest.indexOf(":");
    if (sep < 0 || !this.keyIds.has(digest.slice(0, sep))) return false;
    const want = Buffer.from(digest.slice(sep + 1), "hex");
    const got = sha256(plaintext);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

function sha256(...parts: (string | Uint8Array)[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

function ctxString(ctx: SealContext): string {
  return JSON.stringify([ctx.table, ctx.column, ctx.providerId, ctx.userId]);
}

function header(keyId: string): Buffer {
  const id = Buffer.from(keyId, "ascii");
  return Buffer.concat([Buffer.from([0xfa, id.length]), id]);
}

function ctxHash(ctx: SealContext): Buffer {
  return sha256("ctx", ctxString(ctx)).subarray(0, 8);
}

function tag(keyId: string, ctx: SealContext, pt: Uint8Array): Buffer {
  return sha256("tag", keyId, "\0", ctxString(ctx), "\0", pt).subarray(0, 16);
}

function keystream(keyId: string, ctx: SealContext, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; blocks.length * 32 < length; i++) blocks.push(sha256("ks", keyId, "\0", ctxString(ctx), "\0", String(i)));
  return Buffer.concat(blocks).subarray(0, length);
}

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}
