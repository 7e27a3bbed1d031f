import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { resolveConfig } from "../../src/config/load.js";
import { startDaemon, type Daemon } from "../../src/listeners/listeners.js";
import { createLogger } from "../../src/log.js";
import { defineService } from "../../src/rpc/service.js";
import { tempDir } from "../support/temp-dir.js";
import { detailOf, grpcClient, grpcFailure, unary } from "../support/grpc.js";

// A service with no methods implemented, served over real sockets: what a
// caller sees for an RPC a later version adds.
let daemon: Daemon;
beforeAll(async () => {
  const dir = tempDir();
  const config = resolveConfig(
    {
      listen: { grpc: [`unix://${dir}/tb.sock`], http: "tcp://127.0.0.1:0" },
      store: { sqlite: { path: `${dir}/tb.db` } },
      encryption: { keys_file: `${dir}/keys` },
    },
    "<test>",
  );
  daemon = await startDaemon(config, { services: [defineService(LinkService, {}, "link")] }, createLogger("silent"));
});
afterAll(async () => daemon?.stop());

it("answers UNIMPLEMENTED with the reason detail on gRPC and Connect", async () => {
  const client = grpcClient(LinkService, daemon.grpc[0]!.url);
  const err = await grpcFailure(unary(client, "startLink", { userId: "u", providerId: "p" }));
  client.close();
  expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  expect(detailOf(err)?.reason).toBe("UNIMPLEMENTED");

  const web = createClient(LinkService, createConnectTransport({ baseUrl: daemon.http!.url.replace("tcp://", "http://"), httpVersion: "1.1" }));
  const cerr = await web.startLink({ userId: "u", providerId: "p" }).catch((e: unknown) => e);
  expect((cerr as ConnectError).code).toBe(Code.Unimplemented);
  expect(detailOf(cerr)?.reason).toBe("UNIMPLEMENTED");
});
