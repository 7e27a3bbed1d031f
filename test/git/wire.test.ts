/**
 * The git credential helper's hand-written protobuf (src/cli/git-credential/wire.ts)
 * against the generated @bufbuild code, for arbitrary values: the requests it
 * writes are byte for byte what toBinary writes (and read back equal), and
 * what it reads from toBinary's bytes equals the generated message.
 */
import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { anyPack, timestampMs, durationMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema, HelpSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { TokenSchema } from "../../gen/tokenbroker/v1/token_pb.js";
import { MatchProviderRequestSchema, MatchProviderResponseSchema, ObtainAccessTokenRequestSchema, ObtainAccessTokenResponseSchema } from "../../gen/tokenbroker/v1/token_service_pb.js";
import {
  WireError,
  decodeErrorInfo,
  decodeHelp,
  decodeMatchProviderResponse,
  decodeObtainAccessTokenResponse,
  decodeRetryInfo,
  decodeStatus,
  encodeMatchProviderRequest,
  encodeObtainAccessTokenRequest,
} from "../../src/cli/git-credential/wire.js";

const RUNS = { numRuns: 500 };
const text = fc.string({ unit: "grapheme", maxLength: 40 });
const longText = fc.oneof(text, fc.string({ unit: "grapheme-ascii", minLength: 100, maxLength: 3000 }));
const seconds = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 253_402_300_799 }));
const nanos = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999_999 }));
const map = fc.dictionary(text, text, { maxKeys: 5 });

describe("hand-written protobuf = generated code", () => {
  it("ObtainAccessTokenRequest: the same bytes as toBinary", () => {
    fc.assert(
      fc.property(text, text, fc.option(fc.record({ seconds: fc.integer({ min: 0, max: 86_400 }), nanos }), { nil: undefined }), longText, (userId, providerId, minValidFor, rejectedAccessToken) => {
        const mine = encodeObtainAccessTokenRequest({ userId, providerId, minValidFor, rejectedAccessToken });
        const generated = toBinary(
          ObtainAccessTokenRequestSchema,
          create(ObtainAccessTokenRequestSchema, { userId, providerId, rejectedAccessToken, ...(minValidFor !== undefined ? { minValidFor: { seconds: BigInt(minValidFor.seconds), nanos: minValidFor.nanos } } : {}) }),
        );
        expect(Buffer.from(mine).equals(Buffer.from(generated))).toBe(true);
        const back = fromBinary(ObtainAccessTokenRequestSchema, mine);
        expect([back.userId, back.providerId, back.rejectedAccessToken]).toEqual([userId, providerId, rejectedAccessToken]);
      }),
      RUNS,
    );
  });

  it("MatchProviderRequest: the same bytes as toBinary", () => {
    fc.assert(
      fc.property(longText, (url) => {
        expect(Buffer.from(encodeMatchProviderRequest(url)).equals(Buffer.from(toBinary(MatchProviderRequestSchema, create(MatchProviderRequestSchema, { url }))))).toBe(true);
      }),
      RUNS,
    );
  });

  it("ObtainAccessTokenResponse and MatchProviderResponse: read as the generated code reads them", () => {
    fc.assert(
      fc.property(longText, text, fc.option(fc.record({ seconds, nanos }), { nil: undefined }), map, text, text, fc.boolean(), (accessToken, tokenType, expires, extra, userId, providerId, withToken) => {
        const token = create(TokenSchema, { accessToken, tokenType, extra, userId, providerId, ...(expires !== undefined ? { expiresAt: { seconds: BigInt(expires.seconds), nanos: expires.nanos } } : {}) });
        const res = create(ObtainAccessTokenResponseSchema, withToken ? { token } : {});
        const mine = decodeObtainAccessTokenResponse(toBinary(ObtainAccessTokenResponseSchema, res));
        if (!withToken) {
          expect(mine).toBeUndefined();
          return;
        }
        expect(mine).toEqual({ accessToken, tokenType, extra, userId, providerId, ...(token.expiresAt !== undefined ? { expiresAtMs: timestampMs(token.expiresAt) } : {}) });
      }),
      RUNS,
    );
    fc.assert(
      fc.property(text, text, fc.boolean(), (providerId, gitUsername, gitBearer) => {
        const bytes = toBinary(MatchProviderResponseSchema, create(MatchProviderResponseSchema, { providerId, gitUsername, gitBearer }));
        expect(decodeMatchProviderResponse(bytes)).toEqual({ providerId, gitUsername, gitBearer });
      }),
      RUNS,
    );
  });

  it("google.rpc.Status with ErrorInfo, Help and RetryInfo: read as the generated code reads them", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 16 }),
        longText,
        text,
        text,
        map,
        fc.array(fc.record({ description: text, url: text }), { maxLength: 3 }),
        fc.option(fc.record({ seconds: fc.integer({ min: 0, max: 86_400 }), nanos }), { nil: undefined }),
        (code, message, reason, domain, metadata, links, retry) => {
          const details = [
            anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason, domain, metadata })),
            anyPack(HelpSchema, create(HelpSchema, { links })),
            ...(retry !== undefined ? [anyPack(RetryInfoSchema, create(RetryInfoSchema, { retryDelay: { seconds: BigInt(retry.seconds), nanos: retry.nanos } }))] : []),
          ];
          const status = decodeStatus(toBinary(StatusSchema, create(StatusSchema, { code, message, details })));
          expect([status.code, status.message]).toEqual([code, message]);
          expect(status.details.map((d) => d.typeUrl)).toEqual(details.map((d) => d.typeUrl));
          expect(decodeErrorInfo(status.details[0]!.value)).toEqual({ reason, domain, metadata });
          expect(decodeHelp(status.details[1]!.value)).toEqual(links.map((l) => l.description));
          if (retry !== undefined) expect(decodeRetryInfo(status.details[2]!.value)).toBe(durationMs({ seconds: BigInt(retry.seconds), nanos: retry.nanos, $typeName: "google.protobuf.Duration" }));
        },
      ),
      RUNS,
    );
  });

  it("unknown fields are skipped; truncated input is a WireError", () => {
    const token = toBinary(ObtainAccessTokenResponseSchema, create(ObtainAccessTokenResponseSchema, { token: { accessToken: "abc", userId: "u" } }));
    // An unknown varint, fixed64, fixed32 and length-delimited field around the known one.
    const unknown = Buffer.concat([Buffer.from([0x78, 0x05, 0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x8d, 0x01, 1, 2, 3, 4, 0x92, 0x01, 0x01, 0x41]), token]);
    expect(decodeObtainAccessTokenResponse(unknown)?.accessToken).toBe("abc");
    for (let cut = 1; cut < token.length; cut++) {
      const partial = token.subarray(0, cut);
      let out: unknown;
      try {
        out = decodeObtainAccessTokenResponse(partial);
      } catch (err) {
        expect(err).toBeInstanceOf(WireError);
        continue;
      }
      expect(out).not.toEqual({ accessToken: "abc", tokenType: "", extra: {}, userId: "u", providerId: "" });
    }
  });
});
