import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { LinkService } from "../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../gen/tokenbroker/v1/token_service_pb.js";

const pathOf = (svc: { typeName: string }, m: { name: string }): string => `/${svc.typeName}/${m.name}`;

/** gRPC method paths, from the generated descriptors. */
export const PATHS = {
  obtain: pathOf(TokenService, TokenService.method.obtainAccessToken),
  health: pathOf(Health, Health.method.check),
  importLink: pathOf(LinkService, LinkService.method.importLink),
} as const;
