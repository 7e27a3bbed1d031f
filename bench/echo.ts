import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { endChild, forkBenchModule, forkReady } from "./child.js";

export interface EchoServer {
  readonly pid: number;
  readonly grpcTarget: string;
  stop(): Promise<void>;
}

/** Forks the bare grpc-js echo server (echo-server.ts) on a Unix socket in `dir`. */
export async function startEchoServer(dir: string): Promise<EchoServer> {
  const path = join(dir, "echo.sock");
  const child: ChildProcess = await forkBenchModule("echo-server.js", [path]);
  return { pid: child.pid!, grpcTarget: `unix://${path}`, stop: () => endChild(child) };
}

export interface TcpFloorServer {
  readonly pid: number;
  /** http://127.0.0.1:PORT (h2c). */
  readonly baseUrl: string;
  stop(): Promise<void>;
}

/** Forks a floor server on 127.0.0.1: the bare grpc-js echo server, or the raw node:http2 one (h2/raw-http2-server.ts). */
export async function startTcpFloor(kind: "bare" | "raw"): Promise<TcpFloorServer> {
  const { child, ready } = kind === "bare" ? await forkReady("echo-server.js", ["tcp:0"]) : await forkReady("h2/raw-http2-server.js", ["0"]);
  const port = Number(ready.port);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`${kind} floor server named no port: ${JSON.stringify(ready)}`);
  return { pid: child.pid!, baseUrl: `http://127.0.0.1:${port}`, stop: () => endChild(child) };
}
