/**
 * HTTP plumbing shared by the fake provider and its extensions: answering,
 * reading a bounded request body, and reading client credentials the way a
 * token endpoint does.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { ...headers, "content-type": type, "content-length": String(Buffer.byteLength(body)) });
  res.end(body);
}

/** Resolves once the answer is handed to the OS, or the connection is gone. */
export function written(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.writableFinished || res.destroyed) return resolve();
    res.once("finish", () => resolve());
    res.once("close", () => resolve());
  });
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error("fake provider: request body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** RFC 6749 §2.3.1: Basic credentials are form-encoded before base64. */
function formDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

export function clientCredentials(form: URLSearchParams, authorization: string | undefined) {
  const basic = /^basic\s+(\S+)$/i.exec(authorization ?? "");
  if (basic?.[1] !== undefined) {
    const decoded = Buffer.from(basic[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return {
      method: "basic" as const,
      id: formDecode(decoded.slice(0, colon < 0 ? decoded.length : colon)),
      secret: colon < 0 ? undefined : formDecode(decoded.slice(colon + 1)),
    };
  }
  const id = form.get("client_id") ?? undefined;
  const secret = form.get("client_secret") ?? undefined;
  return { method: secret === undefined ? ("none" as const) : ("post" as const), id, secret };
}

