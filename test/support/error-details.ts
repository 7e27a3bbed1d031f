import type * as grpc from "@grpc/grpc-js";
import { fromBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  HelpSchema,
  RetryInfoSchema,
  type BadRequest,
  type ErrorInfo,
  type Help,
  type RetryInfo,
} from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema, type Status } from "../../gen/google/rpc/status_pb.js";

/**
 * The google.rpc details of a tokenbroker error (docs/design.md §9), decoded
 * with the generated google.rpc types, with the fields suites assert on most
 * lifted out: `reason`, `metadata` and `field` from the ErrorInfo.
 */
export interface ErrorDetails {
  reason: string;
  metadata: Record<string, string>;
  field: string | undefined;
  info: ErrorInfo;
  retry: RetryInfo | undefined;
  help: Help | undefined;
  badRequest: BadRequest | undefined;
}

type Find = <D extends DescMessage>(desc: D) => MessageShape<D> | undefined;

function assemble(find: Find): ErrorDetails | undefined {
  const info = find(ErrorInfoSchema);
  if (info === undefined) return undefined;
  return {
    reason: info.reason,
    metadata: info.metadata,
    field: info.metadata.field,
    info,
    retry: find(RetryInfoSchema),
    help: find(HelpSchema),
    badRequest: find(BadRequestSchema),
  };
}

/** The details of a google.rpc.Status (ObtainAccessTokens' per-provider error, a decoded trailer). */
export function detailsOfStatus(status: Status): ErrorDetails | undefined {
  return assemble((desc) => status.details.map((a) => anyUnpack(a, desc)).find((m) => m !== undefined));
}

/** Details as Connect's JSON error lists them: `{ type: "google.rpc.ErrorInfo", value: base64 }`. */
export function detailsOfConnectJson(details: Array<{ type: string; value: string }>): ErrorDetails | undefined {
  return assemble((desc) => {
    const d = details.find((x) => x.type === desc.typeName);
    return d === undefined ? undefined : fromBinary(desc, Buffer.from(d.value, "base64"));
  });
}

/** The google.rpc.Status grpc-js received, decoded from the `grpc-status-details-bin` trailer by hand. */
export function statusOfGrpcError(err: grpc.ServiceError): Status | undefined {
  const bin = err.metadata?.get("grpc-status-details-bin")[0];
  return bin === undefined ? undefined : fromBinary(StatusSchema, bin as Buffer);
}

/** The details carried by a grpc-js ServiceError or a ConnectError. */
export function detailOf(err: unknown): ErrorDetails | undefined {
  if (err instanceof ConnectError) return assemble((desc) => err.findDetails(desc)[0]);
  const status = statusOfGrpcError(err as grpc.ServiceError);
  return status === undefined ? undefined : detailsOfStatus(status);
}
