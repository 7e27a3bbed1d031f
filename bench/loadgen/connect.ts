import { Agent } from "node:http";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { KeySpace } from "../protocol.js";
import { userOf } from "./requests.js";

export interface ConnectCaller {
  call(): Promise<unknown>;
  verify(answer: unknown): boolean;
  close(): void;
}

/**
 * The Connect protocol (binary) on the daemon's HTTP/1.1 web listener, via
 * connect-node: one keep-alive socket per concurrent caller. For comparison
 * with gRPC only; connect-node always decodes answers.
 */
export function connectCaller(baseUrl: string, method: "obtain" | "health", keys: KeySpace, concurrency: number, callerToken: string | undefined): ConnectCaller {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const auth: Interceptor = (next) => (req) => {
    if (callerToken !== undefined) req.header.set("authorization", `Bearer ${callerToken}`);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, nodeOptions: { agent }, interceptors: [auth] });
  if (method === "health") {
    const client = createClient(Health, transport);
    return {
      call: () => client.check({ service: "" }),
      verify: (a) => (a as { status: number }).status === HealthCheckResponse_ServingStatus.SERVING,
      close: () => agent.destroy(),
    };
  }
  const client = createClient(TokenService, transport);
  return {
    call: () => client.obtainAccessToken({ userId: userOf(keys, Math.floor(Math.random() * keys.count)), providerId: keys.providerId }),
    verify: (a) => ((a as { token?: { accessToken: string } }).token?.accessToken.length ?? 0) > 0,
    close: () => agent.destroy(),
  };
}
