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
  /** A server started with `holdMs`: holds the next burst (resolves once the server says so). */
  arm(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Forks a floor server on 127.0.0.1: the bare grpc-js echo server, or the raw
 * node:http2 one (h2/raw-http2-server.ts). With `holdMs`, the bare server holds
 * the calls of a burst until `holdMs` after its first (echo-server.ts).
 */
export async function startTcpFloor(kind: "bare" | "raw", holdMs?: number): Promise<TcpFloorServer> {
  const bareArgs = holdMs === undefined ? ["tcp:0"] : ["tcp:0", `hold:${holdMs}`];
  const { child, ready } = kind === "bare" ? await forkReady("echo-server.js", bareArgs) : await forkReady("h2/raw-http2-server.js", ["0"]);
  const port = Number(ready.port);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`${kind} floor server named no port: ${JSON.stringify(ready)}`);
  return { pid: child.pid!, baseUrl: `http://127.0.0.1:${port}`, arm: () => armed(child), stop: () => endChild(child) };
}

function armed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown): void => {
      if (typeof m === "object" && m !== null && (m as { armed?: unknown }).armed === true) {
        child.off("message", onMessage);
        resolve();
      }
    };
    child.on("message", onMessage);
    child.send({ arm: true });
  });
}
