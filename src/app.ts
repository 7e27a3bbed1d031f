import type { Config } from "./config/config.js";
import { startDaemon, type Daemon } from "./daemon.js";
import type { Logger } from "./log.js";
import { defineService } from "./rpc/service.js";
import { AdminService } from "../gen/tokenbroker/v1/admin_service_pb.js";
import { LinkService } from "../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../gen/tokenbroker/v1/token_service_pb.js";

/** Everything the daemon runs, built from a validated config. */
export async function startApp(config: Config, log: Logger): Promise<Daemon> {
  const services = [defineService(TokenService, {}, "token"), defineService(LinkService, {}, "link"), defineService(AdminService, {}, "admin")];
  return startDaemon(config, { services }, log);
}
