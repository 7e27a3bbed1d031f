/**
 * The bare transport ceiling: a @grpc/grpc-js server in its own process
 * (forked by the bench; argv[2] is its Unix socket path) that answers
 * TokenService/ObtainAccessToken with one fixed response. Per call it does
 * what any grpc-js server built on protobuf-es must: decode the request
 * (fromBinary) and encode the answer (toBinary) — nothing else.
 */
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ObtainAccessTokenRequestSchema,
  ObtainAccessTokenResponseSchema,
  type ObtainAccessTokenRequest,
  type ObtainAccessTokenResponse,
} from "../gen/tokenbroker/v1/token_service_pb.js";
import { PATHS } from "./rpc-paths.js";

// A Unix socket path, or tcp:PORT for 127.0.0.1 (tcp:0: any port, named in the ready message).
const where = process.argv[2];
// hold:MS — the storm's floor. Once the parent arms it (IPC {arm: true}, so
// the warm-up runs unheld), the first call starts an MS timer, and every call
// that arrives before it fires is answered when it fires, as callers sharing
// one refresh are; later calls are answered at once.
const holdMs = process.argv[3]?.startsWith("hold:") === true ? Number(process.argv[3].slice(5)) : undefined;
if (process.send === undefined || where === undefined || (holdMs !== undefined && !(holdMs >= 0))) {
  process.stderr.write("bench/echo-server.js runs as a child of bench/run.js: echo-server.js SOCKET_PATH|tcp:PORT [hold:MS]\n");
  process.exit(2);
}

// Shaped like the broker's cache-hit answer (same field set, similar sizes).
const FIXED: ObtainAccessTokenResponse = create(ObtainAccessTokenResponseSchema, {
  token: {
    accessToken: `bench_at_${randomBytes(24).toString("base64url")}`,
    tokenType: "bearer",
    expiresAt: timestampFromMs(Date.now() + 3_600_000),
    userId: "hit-42",
    providerId: "bench",
  },
});

const definition: grpc.ServiceDefinition = {
  ObtainAccessToken: {
    path: PATHS.obtain,
    originalName: "obtainAccessToken",
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: ObtainAccessTokenRequest) => Buffer.from(toBinary(ObtainAccessTokenRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(ObtainAccessTokenRequestSchema, b),
    responseSerialize: (m: ObtainAccessTokenResponse) => Buffer.from(toBinary(ObtainAccessTokenResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(ObtainAccessTokenResponseSchema, b),
  },
};

// The daemon's gRPC server options, so both sides run the same grpc-js configuration.
const server = new grpc.Server({ "grpc.max_receive_message_length": 1024 * 1024, "grpc.max_send_message_length": 4 * 1024 * 1024 });
type Answer = grpc.sendUnaryData<ObtainAccessTokenResponse>;
let held: Answer[] | undefined;
let armed = false;
process.on("message", (m: { arm?: boolean }) => {
  armed = m.arm === true;
  process.send!({ armed });
});
function hold(cb: Answer): void {
  if (!armed) return cb(null, FIXED);
  if (held === undefined) {
    held = [];
    setTimeout(() => {
      armed = false;
      const answers = held!;
      held = undefined;
      for (const answer of answers) answer(null, FIXED);
    }, holdMs);
  }
  held.push(cb);
}
server.addService(definition, {
  ObtainAccessToken: (_call: grpc.ServerUnaryCall<ObtainAccessTokenRequest, ObtainAccessTokenResponse>, cb: Answer) => (holdMs === undefined ? cb(null, FIXED) : hold(cb)),
});
const address = where.startsWith("tcp:") ? `127.0.0.1:${where.slice(4)}` : `unix://${where}`;
server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`echo server: cannot listen on ${address}: ${err.message}\n`);
    process.exit(1);
  }
  process.send!({ ready: true, port });
});
process.on("disconnect", () => {
  server.forceShutdown();
  process.exit(0);
});
