/**
 * A loopback HTTP server that records every request (method, path, headers,
 * body) and answers from a script, for checking the exact bytes a provider
 * dialect puts on the wire (JFrog's bearer secret, Azure DevOps assertions,
 * Entra's scope on refresh, Slack's HTTP-200 bodies).
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface CapturedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  form: URLSearchParams;
}

export interface ScriptedReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Hold the answer this long first. */
  delayMs?: number;
}

export interface CaptureServer {
  url: string;
  requests: CapturedRequest[];
  /** Replies for the next requests in order; when empty, `fallback` answers. */
  replies: ScriptedReply[];
  fallback: ScriptedReply;
  close(): Promise<void>;
}

export async function startCaptureServer(fallback: ScriptedReply = { status: 200, body: {} }): Promise<CaptureServer> {
  const requests: CapturedRequest[] = [];
  const replies: ScriptedReply[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const state = { fallback };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const u = new URL(req.url ?? "/", "http://x");
      requests.push({ method: req.method ?? "", path: u.pathname, query: u.searchParams, headers: req.headers, body, form: new URLSearchParams(body) });
      const r = replies.shift() ?? state.fallback;
      const answer = (): void => {
        if (res.destroyed) return;
        const text = r.body === undefined ? "" : typeof r.body === "string" ? r.body : JSON.stringify(r.body);
        res.writeHead(r.status, { "content-type": "application/json", ...r.headers, "content-length": String(Buffer.byteLength(text)) });
        res.end(text);
      };
      if (r.delayMs === undefined) return answer();
      const t = setTimeout(() => {
        timers.delete(t);
        answer();
      }, r.delayMs);
      timers.add(t);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    replies,
    get fallback() {
      return state.fallback;
    },
    set fallback(v: ScriptedReply) {
      state.fallback = v;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
