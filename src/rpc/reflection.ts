import { createRegistry, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ServerReflection as ReflectionV1, type ServerReflectionRequest } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1Alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { file_tokenbroker_v1_errors } from "../../gen/tokenbroker/v1/errors_pb.js";
import { defineService, type RpcService } from "./service.js";

// gRPC status codes used inside reflection's own error_response.
const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;

/**
 * Server reflection (v1 and v1alpha: older grpcurl releases speak only
 * v1alpha), answered from the descriptors protobuf-es embeds in gen/, so what
 * `grpcurl` sees is exactly what the server serves.
 */
export function reflectionServices(served: DescService[]): RpcService[] {
  const all = [...served, ReflectionV1, ReflectionV1Alpha];
  const files = new Map<string, DescFile>();
  const collect = (f: DescFile): void => {
    if (files.has(f.proto.name)) return;
    files.set(f.proto.name, f);
    f.dependencies.forEach(collect);
  };
  all.forEach((s) => collect(s.file));
  // No service imports these, yet every error carries their types: a client
  // that resolves details through reflection (buf curl, grpcurl) needs them.
  collect(file_google_rpc_error_details);
  collect(file_tokenbroker_v1_errors);
  const registry = createRegistry(...files.values());
  const serviceNames = all.map((s) => ({ name: s.typeName }));

  const withDeps = (f: DescFile): Uint8Array[] => {
    const out = new Map<string, Uint8Array>();
    const walk = (d: DescFile): void => {
      if (out.has(d.proto.name)) return;
      out.set(d.proto.name, toBinary(FileDescriptorProtoSchema, d.proto));
      d.dependencies.forEach(walk);
    };
    walk(f);
    return [...out.values()];
  };

  const fileOfSymbol = (symbol: string): DescFile | undefined => {
    const found = registry.get(symbol);
    if (found !== undefined) return found.file;
    const cut = symbol.lastIndexOf(".");
    if (cut <= 0) return undefined;
    const parent = registry.get(symbol.slice(0, cut));
    return parent?.kind === "service" ? parent.file : undefined;
  };

  const answer = (req: Pick<ServerReflectionRequest, "host" | "messageRequest">) => {
    const original = { host: req.host, messageRequest: req.messageRequest };
    const r = req.messageRequest;
    const notFound = (what: string) => ({
      validHost: req.host,
      originalRequest: original,
      messageResponse: { case: "errorResponse" as const, value: { errorCode: NOT_FOUND, errorMessage: `${what} not found` } },
    });
    switch (r.case) {
      case "listServices":
        return { validHost: req.host, originalRequest: original, messageResponse: { case: "listServicesResponse" as const, value: { service: serviceNames } } };
      case "fileByFilename": {
        const f = files.get(r.value);
        if (f === undefined) return notFound(`file ${r.value}`);
        return { validHost: req.host, originalRequest: original, messageResponse: { case: "fileDescriptorResponse" as const, value: { fileDescriptorProto: withDeps(f) } } };
      }
      case "fileContainingSymbol": {
        const f = fileOfSymbol(r.value);
        if (f === undefined) return notFound(`symbol ${r.value}`);
        return { validHost: req.host, originalRequest: original, messageResponse: { case: "fileDescriptorResponse" as const, value: { fileDescriptorProto: withDeps(f) } } };
      }
      case "allExtensionNumbersOfType":
        return {
          validHost: req.host,
          originalRequest: original,
          messageResponse: { case: "allExtensionNumbersResponse" as const, value: { baseTypeName: r.value, extensionNumber: [] } },
        };
      default:
        return {
          validHost: req.host,
          originalRequest: original,
          messageResponse: { case: "errorResponse" as const, value: { errorCode: UNIMPLEMENTED, errorMessage: "not supported" } },
        };
    }
  };

  return [
    defineService(ReflectionV1, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) yield answer(req);
      },
    }),
    defineService(ReflectionV1Alpha, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) yield answer(req as unknown as ServerReflectionRequest) as never;
      },
    }),
  ];
}
