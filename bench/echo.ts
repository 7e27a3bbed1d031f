import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { endChild, forkBenchModule } from "./child.js";

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
