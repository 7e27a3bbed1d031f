import type { SealContext } from "./sealer.js";

/**
 * Additional authenticated data: what a sealed value is bound to. GCM
 * authenticates these bytes without storing them, so a value opens only in the
 * exact place it was sealed for; a ciphertext copied to another row or column
 * fails authentication instead of silently yielding someone else's token
 * (Coder's dbcrypt has no AAD, and rows can be swapped undetected).
 *
 * The encoding must be injective: distinct contexts must never produce the same
 * bytes (plain concatenation would make ("ab","c") equal ("a","bc")). Every
 * field is therefore a 4-byte big-endian length followed by its UTF-8 bytes,
 * and the field count is fixed per purpose.
 *
 * The envelope module adds the envelope header (version and key id) in front
 * of these bytes itself, so relabelling a value with another key id also fails.
 */

/** Identifies the scheme; a future incompatible layout changes this label. */
const VALUE_LABEL = "tokenbroker/v1";
/** Sentinels get their own label so no link value can ever be mistaken for one. */
const SENTINEL_LABEL = "tokenbroker/v1 sentinel";

/** Full AAD for a secret column value. */
export function valueAad(ctx: SealContext): Buffer {
  return encodeFields([VALUE_LABEL, ctx.table, ctx.column, ctx.providerId, ctx.userId]);
}

/** AAD for a keyring sentinel (see sentinel.ts). */
export function sentinelAad(): Buffer {
  return encodeFields([SENTINEL_LABEL]);
}

// A lone surrogate encodes to U+FFFD, so "\uD800" and "\uFFFD" would share an
// encoding; refusing ill-formed strings keeps the encoding injective.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Length-prefixed concatenation. Throws TypeError on a non-string or ill-formed UTF-16 field. */
export function encodeFields(fields: readonly string[]): Buffer {
  const encoded = fields.map((f, i) => {
    if (typeof f !== "string") throw new TypeError(`AAD field ${i} is not a string`);
    if (LONE_SURROGATE.test(f)) throw new TypeError(`AAD field ${i} is not well-formed Unicode`);
    return Buffer.from(f, "utf8");
  });
  const out = Buffer.allocUnsafe(encoded.reduce((n, b) => n + 4 + b.length, 0));
  let at = 0;
  for (const b of encoded) {
    at = out.writeUInt32BE(b.length, at);
    at += b.copy(out, at);
  }
  return out;
}
