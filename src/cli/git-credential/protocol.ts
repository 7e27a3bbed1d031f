/**
 * git's credential protocol (git-credential(1), "INPUT/OUTPUT FORMAT"):
 * `key=value` lines up to a blank line or the end of input; keys ending in
 * `[]` may repeat. Pure, and strict where git is: a line without `=`, a NUL,
 * a carriage return (git 2.45+ refuses them too, CVE-2024-52006) or an
 * oversized line or input is refused, since the helper cannot tell what the
 * sender meant. Unknown keys are kept and ignored by the caller.
 */

/** The longest line read (a `wwwauth[]` challenge can be long; a token is at most 16 KiB). */
export const MAX_LINE_BYTES = 65_536;
/** The most input read before the blank line. */
export const MAX_INPUT_BYTES = 262_144;

/** Input the helper refuses; the message names what was wrong, never a value. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
}

/** The attributes by key; every value of a repeated key in order. */
export type Attributes = ReadonlyMap<string, readonly string[]>;

/**
 * Where the input ends: the index just past the blank line that ends it, or
 * undefined when none has arrived yet.
 */
export function endOfInput(buf: Buffer): number | undefined {
  if (buf.length > 0 && buf[0] === 0x0a) return 1;
  const at = buf.indexOf("\n\n");
  return at < 0 ? undefined : at + 2;
}

/** Parses the attributes of `input` (up to the blank line or the end). */
export function parseAttributes(input: Buffer): Attributes {
  if (input.length > MAX_INPUT_BYTES) throw new ProtocolError(`input longer than ${MAX_INPUT_BYTES} bytes`);
  const out = new Map<string, string[]>();
  const end = endOfInput(input);
  const body = input.subarray(0, end === undefined ? input.length : end);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw new ProtocolError("input is not valid UTF-8");
  }
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    const n = i + 1;
    if (Buffer.byteLength(line) > MAX_LINE_BYTES) throw new ProtocolError(`line ${n} is longer than ${MAX_LINE_BYTES} bytes`);
    if (line.includes("\r")) throw new ProtocolError(`line ${n} contains a carriage return`);
    if (line.includes("\u0000")) throw new ProtocolError(`line ${n} contains a NUL byte`);
    if (line === "") return; // the blank line that ends the input, or the newline of the last one
    const eq = line.indexOf("=");
    if (eq <= 0) throw new ProtocolError(`line ${n} is not key=value`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    const values = out.get(key);
    if (values === undefined) out.set(key, [value]);
    else if (key.endsWith("[]")) values.push(value);
    else values[0] = value; // git: a later value replaces an earlier one
  });
  return out;
}

/** The (last) value of a key, or undefined. */
export function single(attrs: Attributes, key: string): string | undefined {
  return attrs.get(key)?.at(-1);
}

/**
 * The URL the attributes name: `url` when given, else
 * protocol://host/path. Undefined without a protocol or host.
 */
export function urlOf(attrs: Attributes): { protocol: string; url: string } | undefined {
  const url = single(attrs, "url");
  if (url !== undefined && url !== "") {
    const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
    return m === null ? undefined : { protocol: m[1]!.toLowerCase(), url };
  }
  const protocol = single(attrs, "protocol");
  const host = single(attrs, "host");
  if (protocol === undefined || protocol === "" || host === undefined || host === "") return undefined;
  const path = single(attrs, "path") ?? "";
  return { protocol: protocol.toLowerCase(), url: `${protocol}://${host}/${path.replace(/^\/+/, "")}` };
}

/**
 * Formats the answer. Every value is checked again: a value with a newline,
 * carriage return or NUL would let the daemon's answer inject protocol
 * lines, so it is refused rather than written.
 */
export function formatAttributes(pairs: ReadonlyArray<readonly [string, string]>): string {
  let out = "";
  for (const [key, value] of pairs) {
    if (/[\n\r\u0000]/.test(value)) throw new ProtocolError(`the value for ${key} contains a newline, carriage return or NUL`);
    out += `${key}=${value}\n`;
  }
  return out;
}
