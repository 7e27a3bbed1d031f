import { createHash, timingSafeEqual } from "node:crypto";
import type { Sealer } from "../../crypto/index.js";

/** The key id every plaintext "envelope" reports. */
export const PLAIN_KEY_ID = "plain";

const sha256 = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/**
 * The memory store's default Sealer: no encryption at all — a value is its
 * UTF-8 bytes — so a simulation pays nothing for sealing. The refresh-token
 * digest is a plain SHA-256 (`plain:<hex>`), compared the way the store core
 * compares any digest (Sealer.digestMatches), so the compare-and-swap works
 * exactly as it does over a keyed digest.
 */
export class PlainSealer implements Sealer {
  readonly activeKeyId = PLAIN_KEY_ID;

  seal(plaintext: string): Buffer {
    return Buffer.from(plaintext, "utf8");
  }

  open(envelope: Uint8Array): string {
    return Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength).toString("utf8");
  }

  keyIdOf(): string {
    return PLAIN_KEY_ID;
  }

  digest(plaintext: string): string {
    return `${PLAIN_KEY_ID}:${sha256(plaintext).toString("hex")}`;
  }

  digestMatches(digest: string, plaintext: string): boolean {
    if (!digest.startsWith(`${PLAIN_KEY_ID}:`)) return false;
    const want = Buffer.from(digest.slice(PLAIN_KEY_ID.length + 1), "hex");
    const got = sha256(plaintext);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}
