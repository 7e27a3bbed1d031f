/**
 * One gRPC call made by hand over node:http2 with exactly the request h2load
 * will repeat, so the bench knows what a success looks like on the wire (its
 * DATA length) and that it is one: grpc-status 0 and a message that decodes.
 */
import http2 from "node:http2";
import { grpcUnframe } from "../grpc-frame.js";

export interface ProbeAnswer {
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  /** DATA bytes of the answer (the gRPC frame). */
  dataBytes: number;
  /** The framed message, when the body is exactly one frame. */
  message: Buffer | undefined;
}

export async function probeGrpc(baseUrl: string, path: string, body: Buffer, headers: Record<string, string>): Promise<ProbeAnswer> {
  const session = http2.connect(baseUrl);
  try {
    return await new Promise<ProbeAnswer>((resolve, reject) => {
      session.once("error", reject);
      const req = session.request({ ":method": "POST", ":path": path, ...headers });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message: string | undefined;
      const take = (h: http2.IncomingHttpHeaders): void => {
        if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
        if (h["grpc-message"] !== undefined) message = decodeURIComponent(String(h["grpc-message"]));
      };
      req.on("response", take);
      req.on("trailers", take);
      req.on("data", (d: Buffer) => chunks.push(d));
      req.once("error", reject);
      req.once("end", () => {
        const all = Buffer.concat(chunks);
        resolve({ grpcStatus: status, grpcMessage: message, dataBytes: all.length, message: grpcUnframe(all) });
      });
      req.end(body);
    });
  } finally {
    session.close();
  }
}
