/**
 * The wire contract of errors (proto/tokenbroker/v1/errors.proto,
 * docs/design.md §9), for every reason the domain has: the daemon's real
 * adapters (grpc-js on a Unix socket, connect-node on the web listener) send
 * the BrokerError a handler throws as a google.rpc.Status with ErrorInfo
 * (domain "tokenbroker", the reason an ErrorReason name), RetryInfo where a
 * delay applies, Help where there is a fix to name and BadRequest for
 * INVALID_ARGUMENT. Decoded twice, independently: grpc-js's trailer by hand
 * with the generated google.rpc types, and connect-node's
 * ConnectError.findDetails on the Connect protocol and gRPC-Web.
 * test/integration/error-details.test.ts provokes the reasons a daemon
 * process can be brought to.
 */
import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema, HelpSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ErrorReason } from "../../gen/tokenbroker/v1/errors_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { resolveConfig } from "../../src/config/load.js";
import { DecryptError } from "../../src/crypto/index.js";
import { startDaemon, type Daemon } from "../../src/listeners/listeners.js";
import {
  BrokerError,
  Reason,
  domainError,
  linkNotFound,
  minValidityUnreachable,
  providerMisconfigured,
  providerNotFound,
  providerRateLimited,
  providerUnavailable,
  reauthRecorded,
  refreshInterrupted,
  userNotAllowed,
  storeUnavailable,
} from "../../src/errors/index.js";
import { createLogger } from "../../src/log.js";
import { defineService } from "../../src/rpc/service.js";
import { ERROR_DOMAIN, HELP_URL, grpcCode } from "../../src/rpc/wire-error.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, writeKeys } from "../support/cli.js";
import { detailsOfStatus, statusOfGrpcError, type ErrorDetails } from "../support/error-details.js";
import { grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { tempDir } from "../support/temp-dir.js";

const FAILED_AT = Date.parse("2026-11-30T08:00:00.000Z");

/** One BrokerError per reason, as the domain words it; the Record makes a new reason fail to compile here. */
const sample: Record<Reason, () => BrokerError> = {
  INVALID_ARGUMENT: () => BrokerError.invalidArgument("min_valid_for", "must not be negative"),
  NOT_FOUND: () => new BrokerError(Reason.NOT_FOUND, "unknown device session"),
  PROVIDER_NOT_FOUND: () => providerNotFound("gh"),
  LINK_NOT_FOUND: () => linkNotFound({ providerId: "gh" }),
  REAUTH_REQUIRED: () => reauthRecorded({ reason: "invalid_grant: token revoked", failedAt: FAILED_AT }),
  PROVIDER_MISCONFIGURED: () => providerMisconfigured("gh", "invalid_client", 4_000),
  PROVIDER_UNAVAILABLE: () => providerUnavailable("gh", "HTTP 503 after the retries", 2_000),
  PROVIDER_RATE_LIMITED: () => providerRateLimited("gh", 30_000),
  DEADLINE_EXCEEDED: () => new BrokerError(Reason.DEADLINE_EXCEEDED, "the caller's deadline passed", { metadata: { refresh_in_progress: "true" } }),
  CALLER_UNKNOWN: () => new BrokerError(Reason.CALLER_UNKNOWN, "unknown caller token"),
  SCOPE_MISSING: () => new BrokerError(Reason.SCOPE_MISSING, "the caller lacks the token scope"),
  DECRYPT_FAILED: () => domainError(new DecryptError("bad tag", "k9")) as BrokerError,
  STORE_UNAVAILABLE: () => storeUnavailable({ code: "SQLITE_BUSY", retryAfterMs: 1_000 }),
  MIN_VALIDITY_UNREACHABLE: () => minValidityUnreachable("gh", 120_000, 300_000),
  UNIMPLEMENTED: () => new BrokerError(Reason.UNIMPLEMENTED, "not yet"),
  SHUTTING_DOWN: () => new BrokerError(Reason.SHUTTING_DOWN, "the server is stopping"),
  INTERNAL: () => new BrokerError(Reason.INTERNAL, "internal error"),
  REFRESH_INTERRUPTED: () => refreshInterrupted("gh", FAILED_AT, "process 4242 on host h1", 5_000),
  USER_NOT_ALLOWED: () => userNotAllowed("job 7", { userId: "ann" }),
  WATCH_LIMIT_REACHED: () => new BrokerError(Reason.WATCH_LIMIT_REACHED, "caller test already holds 64 watch streams, the most watch.max_streams_per_caller allows"),
};

/** What each reason carries besides ErrorInfo. */
const WITH_RETRY = new Set<Reason>([Reason.PROVIDER_MISCONFIGURED, Reason.PROVIDER_UNAVAILABLE, Reason.PROVIDER_RATE_LIMITED, Reason.STORE_UNAVAILABLE, Reason.REFRESH_INTERRUPTED]);
const WITH_HELP = new Set<Reason>([
  Reason.PROVIDER_NOT_FOUND,
  Reason.LINK_NOT_FOUND,
  Reason.REAUTH_REQUIRED,
  Reason.PROVIDER_MISCONFIGURED,
  Reason.DECRYPT_FAILED,
  Reason.MIN_VALIDITY_UNREACHABLE,
  Reason.USER_NOT_ALLOWED,
]);

const REASONS = Object.values(Reason);
const USER = "ann";
const PROVIDER = "gh";

describe("ErrorReason (proto) and the domain's Reason", () => {
  it("name the same reasons: none missing from the proto, none extra", () => {
    const names = Object.keys(ErrorReason).filter((k) => Number.isNaN(Number(k)) && k !== "ERROR_REASON_UNSPECIFIED");
    expect(names.sort()).toEqual([...REASONS].sort());
    expect(ErrorReason.ERROR_REASON_UNSPECIFIED).toBe(0);
  });
});

describe("every reason on the wire, through the daemon's adapters", () => {
  let daemon: Daemon;
  let connect: Transport;
  let grpcWeb: Transport;
  beforeAll(async () => {
    const dir = tempDir();
    writeKeys(dir);
    const config = resolveConfig(
      {
        listen: { grpc: [`unix://${dir}/tb.sock`], http: "tcp://127.0.0.1:0" },
        store: { sqlite: { path: `${dir}/tb.db` } },
        encryption: { keys_file: `${dir}/keys` },
        callers: TEST_CALLERS,
      },
      "<test>",
    );
    // The handler throws the sample named by the caller's `x-reason` header.
    const failing = defineService(
      TokenService,
      {
        obtainAccessToken(_req, ctx) {
          throw sample[ctx.requestHeader.get("x-reason") as Reason]();
        },
      },
      "token",
    );
    daemon = await startDaemon(config, { services: [failing] }, createLogger("silent"));
    const baseUrl = daemon.http!.url.replace("tcp://", "http://");
    connect = createConnectTransport({ baseUrl, httpVersion: "1.1" });
    grpcWeb = createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
  });
  afterAll(async () => daemon?.stop());

  function expectContract(reason: Reason, code: number, message: string, d: ErrorDetails | undefined): void {
    expect(code, reason).toBe(grpcCode(reason));
    expect(message, reason).toBe(sample[reason]().message);
    expect(d, reason).toBeDefined();
    expect(d!.info.reason).toBe(reason);
    expect(d!.info.domain).toBe(ERROR_DOMAIN);
    // Parses as the enum: a typed client can switch on it.
    expect(ErrorReason[d!.info.reason as keyof typeof ErrorReason], reason).toBe(ErrorReason[reason]);
    expect(d!.metadata.user_id, reason).toBe(USER);
    expect(d!.metadata.provider_id, reason).toBe(PROVIDER);
    expect(d!.retry !== undefined, `${reason} RetryInfo`).toBe(WITH_RETRY.has(reason));
    expect(d!.help !== undefined, `${reason} Help`).toBe(WITH_HELP.has(reason));
    expect(d!.badRequest !== undefined, `${reason} BadRequest`).toBe(reason === Reason.INVALID_ARGUMENT);
    if (d!.help !== undefined) {
      expect(d!.help.links).toHaveLength(1);
      expect(d!.help.links[0]!.url).toBe(HELP_URL);
      expect(d!.help.links[0]!.description).not.toBe("");
    }
  }

  for (const reason of REASONS) {
    it(`${reason}: grpc-js, the google.rpc.Status decoded from grpc-status-details-bin`, async () => {
      const client = grpcClient(TokenService, daemon.grpc[0]!.url);
      const err = await grpcFailure(unary(client, "obtainAccessToken", { userId: USER, providerId: PROVIDER }, { metadata: { "x-reason": reason } }));
      client.close();
      const status = statusOfGrpcError(err);
      expect(status, reason).toBeDefined();
      // The Status repeats the RPC status.
      expect(status!.code).toBe(err.code);
      expect(status!.message).toBe(err.details);
      expectContract(reason, err.code, err.details, detailsOfStatus(status!));
    });

    for (const [protocol, transport] of [
      ["Connect", () => connect],
      ["gRPC-Web", () => grpcWeb],
    ] as const) {
      it(`${reason}: connect-node over ${protocol}, ConnectError.findDetails`, async () => {
        const client = createClient(TokenService, transport());
        const err = await client
          .obtainAccessToken({ userId: USER, providerId: PROVIDER }, { headers: { authorization: `Bearer ${TEST_CALLER_TOKEN}`, "x-reason": reason } })
          .then(() => new Error("expected the call to fail"), (e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectError);
        const ce = err as ConnectError;
        const info = ce.findDetails(ErrorInfoSchema);
        expect(info).toHaveLength(1);
        const d: ErrorDetails = {
          reason: info[0]!.reason,
          metadata: info[0]!.metadata,
          field: info[0]!.metadata.field,
          info: info[0]!,
          retry: ce.findDetails(RetryInfoSchema)[0],
          help: ce.findDetails(HelpSchema)[0],
          badRequest: ce.findDetails(BadRequestSchema)[0],
        };
        expectContract(reason, ce.code, ce.rawMessage, d);
      });
    }
  }

  it("the details say what the domain said: retry delay, failure, field, store code, lifetime, re-link command", async () => {
    const client = grpcClient(TokenService, daemon.grpc[0]!.url);
    const detailsFor = async (reason: Reason): Promise<ErrorDetails> => {
      const err = await grpcFailure(unary(client, "obtainAccessToken", { userId: USER, providerId: PROVIDER }, { metadata: { "x-reason": reason } }));
      return detailsOfStatus(statusOfGrpcError(err)!)!;
    };
    const reauth = await detailsFor(Reason.REAUTH_REQUIRED);
    expect(reauth.metadata).toMatchObject({ failure_reason: "invalid_grant: token revoked", failed_at: "2026-11-30T08:00:00.000Z" });
    expect(reauth.help?.links[0]?.description).toBe(`link again: tokenbroker link --user ${USER} --provider ${PROVIDER}`);
    const limited = await detailsFor(Reason.PROVIDER_RATE_LIMITED);
    expect(limited.retry?.retryDelay).toMatchObject({ seconds: 30n, nanos: 0 });
    const invalid = await detailsFor(Reason.INVALID_ARGUMENT);
    expect(invalid.field).toBe("min_valid_for");
    expect(invalid.badRequest?.fieldViolations).toEqual([expect.objectContaining({ field: "min_valid_for", description: "min_valid_for: must not be negative" })]);
    expect((await detailsFor(Reason.STORE_UNAVAILABLE)).metadata.store_code).toBe("SQLITE_BUSY");
    expect((await detailsFor(Reason.MIN_VALIDITY_UNREACHABLE)).metadata.issued_lifetime).toBe("120s");
    expect((await detailsFor(Reason.DEADLINE_EXCEEDED)).metadata.refresh_in_progress).toBe("true");
    expect((await detailsFor(Reason.DECRYPT_FAILED)).help?.links[0]?.description).toContain("k9");
    client.close();
  });
});
