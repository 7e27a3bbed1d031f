import { create, toBinary } from "@bufbuild/protobuf";
import { HealthCheckRequestSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { ObtainAccessTokenRequestSchema } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { KeySpace } from "../protocol.js";

export { PATHS } from "../rpc-paths.js";

export function userOf(keys: KeySpace, i: number): string {
  return `${keys.userPrefix}${i}`;
}

/** ObtainAccessTokenRequest bytes for every key (min_valid_for unset: the daemon's default). */
export function obtainRequests(keys: KeySpace): Buffer[] {
  return Array.from({ length: keys.count }, (_, i) =>
    Buffer.from(toBinary(ObtainAccessTokenRequestSchema, create(ObtainAccessTokenRequestSchema, { userId: userOf(keys, i), providerId: keys.providerId }))),
  );
}

export const HEALTH_CHECK_REQUEST = Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "" })));
