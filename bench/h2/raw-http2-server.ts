/**
 * The raw floor: node:http2 alone, on 127.0.0.1 (argv[2] = port, 0 for any),
 * answering every request with one fixed gRPC answer (headers, one frame,
 * grpc-status 0 trailers) without decoding it. Nothing a gRPC server could
 * skip: what any Node HTTP/2 server pays per call. A child of the bench: it
 * reports its port over IPC and exits when the channel closes.
 */
import http2 from "node:http2";
import { randomBytes } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ObtainAccessTokenResponseSchema } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { grpcFrame } from "../grpc-frame.js";

if (process.send === undefined) {
  process.stderr.write("bench/h2/raw-http2-server.js runs as a child of bench/run.js\n");
  process.exit(2);
}

const ANSWER = grpcFrame(
  toBinary(
    ObtainAccessTokenResponseSchema,
    create(ObtainAccessTokenResponseSchema, {
      token: { accessToken: `bench_at_${randomBytes(24).toString("base64url")}`, tokenType: "bearer", expiresAt: timestampFromMs(Date.now() + 3_600_000), userId: "hit-42", providerId: "bench" },
    }),
  ),
);

const sessions = new Set<http2.ServerHttp2Session>();
const server = http2.createServer();
server.on("session", (s) => {
  sessions.add(s);
  s.once("close", () => sessions.delete(s));
});
server.on("stream", (stream) => {
  stream.resume();
  stream.once("end", () => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(ANSWER);
  });
});
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  const address = server.address();
  process.send!({ ready: true, port: typeof address === "object" && address !== null ? address.port : 0 });
});
process.on("disconnect", () => {
  for (const s of sessions) s.destroy();
  server.close();
  process.exit(0);
});
