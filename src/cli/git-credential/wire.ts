/**
 * The few tokenbroker.v1 and google.rpc messages `tokenbroker git-credential`
 * sends and reads, in protobuf's binary form, by hand: the generated
 * @bufbuild code (and its runtime) costs more to load than the whole helper
 * may take. test/git/wire.test.ts proves these equal to the generated code
 * (the bytes written, the values read) for arbitrary values. Only node:
 * builtins here.
 */

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

export interface DurationValue {
  seconds: number;
  nanos: number;
}

export interface ObtainAccessTokenRequestValue {
  userId: string;
  providerId: string;
  minValidFor?: DurationValue | undefined;
  rejectedAccessToken: string;
}

export interface TokenValue {
  accessToken: string;
  tokenType: string;
  /** Epoch milliseconds; undefined: does not expire. */
  expiresAtMs?: number | undefined;
  extra: Record<string, string>;
  userId: string;
  providerId: string;
}

export interface MatchProviderResponseValue {
  providerId: string;
  gitUsername: string;
  gitBearer: boolean;
}

export interface StatusValue {
  code: number;
  message: string;
  details: Array<{ typeUrl: string; value: Uint8Array }>;
}

export interface ErrorInfoValue {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

// ---- writing ----

class Writer {
  readonly #parts: number[] = [];

  varint(n: number): this {
    // Non-negative integers up to 2^53 (all this helper writes).
    while (n > 0x7f) {
      this.#parts.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.#parts.push(n);
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    for (const x of b) this.#parts.push(x);
    return this;
  }

  /** proto3: an empty string is not written. */
  string(field: number, s: string): this {
    return s === "" ? this : this.bytes(field, utf8.encode(s));
  }

  /** proto3: zero is not written. */
  uint(field: number, n: number): this {
    return n === 0 ? this : this.tag(field, 0).varint(n);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

function duration(d: DurationValue): Uint8Array {
  return new Writer().uint(1, d.seconds).uint(2, d.nanos).finish();
}

/** tokenbroker.v1.ObtainAccessTokenRequest. */
export function encodeObtainAccessTokenRequest(r: ObtainAccessTokenRequestValue): Uint8Array {
  const w = new Writer().string(1, r.userId).string(2, r.providerId);
  if (r.minValidFor !== undefined) w.bytes(3, duration(r.minValidFor));
  return w.string(4, r.rejectedAccessToken).finish();
}

/** tokenbroker.v1.MatchProviderRequest. */
export function encodeMatchProviderRequest(url: string): Uint8Array {
  return new Writer().string(1, url).finish();
}

// ---- reading ----

/** A malformed message from the daemon. */
export class WireError extends Error {
  override readonly name = "WireError";
}

type Field = { field: number; varint: bigint } | { field: number; bytes: Uint8Array } | { field: number; skipped: true };

function* fields(b: Uint8Array): Generator<Field> {
  let at = 0;
  const varint = (): bigint => {
    let out = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= b.length || shift > 63n) throw new WireError("truncated or overlong varint");
      const x = b[at++]!;
      out |= BigInt(x & 0x7f) << shift;
      if (x < 0x80) return out;
    }
  };
  while (at < b.length) {
    const tag = varint();
    const field = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    if (field === 0) throw new WireError("field number 0");
    switch (wireType) {
      case 0:
        yield { field, varint: varint() };
        break;
      case 1:
      case 5: {
        at += wireType === 1 ? 8 : 4;
        if (at > b.length) throw new WireError("truncated fixed field");
        yield { field, skipped: true };
        break;
      }
      case 2: {
        const len = Number(varint());
        if (at + len > b.length) throw new WireError("truncated length-delimited field");
        yield { field, bytes: b.subarray(at, at + len) };
        at += len;
        break;
      }
      default:
        throw new WireError(`unsupported wire type ${wireType}`);
    }
  }
}

const str = (f: Field): string => ("bytes" in f ? fromUtf8.decode(f.bytes) : "");
const int64 = (f: Field): number => ("varint" in f ? Number(BigInt.asIntN(64, f.varint)) : 0);
const int32 = (f: Field): number => ("varint" in f ? Number(BigInt.asIntN(32, f.varint)) : 0);
const sub = (f: Field): Uint8Array => ("bytes" in f ? f.bytes : new Uint8Array());

function mapEntry(b: Uint8Array, into: Record<string, string>): void {
  let key = "";
  let value = "";
  for (const f of fields(b)) {
    if (f.field === 1) key = str(f);
    else if (f.field === 2) value = str(f);
  }
  // Defined, not assigned: a key "__proto__" is an entry like any other, never the object's prototype.
  Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Seconds and nanos (Duration, Timestamp) as milliseconds, as protobuf-es' timestampMs/durationMs do. */
function secondsNanosMs(b: Uint8Array): number {
  let seconds = 0;
  let nanos = 0;
  for (const f of fields(b)) {
    if (f.field === 1) seconds = int64(f);
    else if (f.field === 2) nanos = int32(f);
  }
  return seconds * 1000 + Math.round(nanos / 1_000_000);
}

function token(b: Uint8Array): TokenValue {
  const t: TokenValue = { accessToken: "", tokenType: "", extra: {}, userId: "", providerId: "" };
  for (const f of fields(b)) {
    switch (f.field) {
      case 1:
        t.accessToken = str(f);
        break;
      case 2:
        t.tokenType = str(f);
        break;
      case 3:
        t.expiresAtMs = secondsNanosMs(sub(f));
        break;
      case 4:
        mapEntry(sub(f), t.extra);
        break;
      case 5:
        t.userId = str(f);
        break;
      case 6:
        t.providerId = str(f);
        break;
    }
  }
  return t;
}

/** tokenbroker.v1.ObtainAccessTokenResponse: its token, undefined when unset. */
export function decodeObtainAccessTokenResponse(b: Uint8Array): TokenValue | undefined {
  let out: TokenValue | undefined;
  for (const f of fields(b)) if (f.field === 1) out = token(sub(f));
  return out;
}

/** tokenbroker.v1.MatchProviderResponse. */
export function decodeMatchProviderResponse(b: Uint8Array): MatchProviderResponseValue {
  const out: MatchProviderResponseValue = { providerId: "", gitUsername: "", gitBearer: false };
  for (const f of fields(b)) {
    if (f.field === 1) out.providerId = str(f);
    else if (f.field === 2) out.gitUsername = str(f);
    else if (f.field === 3) out.gitBearer = "varint" in f && f.varint !== 0n;
  }
  return out;
}

/** google.rpc.Status (grpc-status-details-bin). */
export function decodeStatus(b: Uint8Array): StatusValue {
  const out: StatusValue = { code: 0, message: "", details: [] };
  for (const f of fields(b)) {
    if (f.field === 1) out.code = int32(f);
    else if (f.field === 2) out.message = str(f);
    else if (f.field === 3) {
      const any: { typeUrl: string; value: Uint8Array } = { typeUrl: "", value: new Uint8Array() };
      for (const g of fields(sub(f))) {
        if (g.field === 1) any.typeUrl = str(g);
        else if (g.field === 2) any.value = sub(g);
      }
      out.details.push(any);
    }
  }
  return out;
}

/** google.rpc.ErrorInfo. */
export function decodeErrorInfo(b: Uint8Array): ErrorInfoValue {
  const out: ErrorInfoValue = { reason: "", domain: "", metadata: {} };
  for (const f of fields(b)) {
    if (f.field === 1) out.reason = str(f);
    else if (f.field === 2) out.domain = str(f);
    else if (f.field === 3) mapEntry(sub(f), out.metadata);
  }
  return out;
}

/** google.rpc.Help: its links' descriptions. */
export function decodeHelp(b: Uint8Array): string[] {
  const out: string[] = [];
  for (const f of fields(b)) {
    if (f.field !== 1) continue;
    let description = "";
    for (const g of fields(sub(f))) if (g.field === 1) description = str(g);
    out.push(description);
  }
  return out;
}

/** google.rpc.RetryInfo: the delay in milliseconds, undefined when unset. */
export function decodeRetryInfo(b: Uint8Array): number | undefined {
  let out: number | undefined;
  for (const f of fields(b)) if (f.field === 1) out = secondsNanosMs(sub(f));
  return out;
}
