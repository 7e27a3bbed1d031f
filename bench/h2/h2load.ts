/**
 * Runs nghttp2's h2load (Debian: nghttp2-client) as the load generator: a
 * native HTTP/2 client that costs the server's machine far less per call than
 * a grpc-js client, so a server's own cost per call shows. It knows nothing
 * of gRPC: it POSTs one fixed body (a gRPC frame) with gRPC's headers and
 * counts HTTP statuses, so whether the answers were gRPC successes is checked
 * by the caller from the DATA bytes received (every success here has one
 * exact size; a gRPC error is trailers-only, with no DATA).
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import type { LatencySummary } from "../protocol.js";
import { LatencyRecorder } from "../stats.js";

export const H2LOAD_MISSING = "h2load is not installed: `apt-get install nghttp2-client` (Debian/Ubuntu), or skip with --only and a list without h2load scenarios";

/** h2load's version line, or undefined when it is not on PATH. */
export function h2loadVersion(): string | undefined {
  const r = spawnSync("h2load", ["--version"], { encoding: "utf8" });
  if (r.error !== undefined || r.status !== 0) return undefined;
  return r.stdout.trim().split("\n")[0];
}

export interface H2LoadJob {
  /** http://127.0.0.1:PORT (h2c, prior knowledge). */
  baseUrl: string;
  path: string;
  /** The request body file (one gRPC frame). */
  bodyFile: string;
  headers: Record<string, string>;
  /** Connections (-c) and streams in flight per connection (-m). */
  connections: number;
  streams: number;
  /** Timed run (-D, --warm-up-time) or a fixed number of requests (-n). */
  durationS?: number;
  warmupS?: number;
  requests?: number;
  /** Where h2load writes one line per request (start µs, status, µs to the end of the response). */
  logFile: string;
  /** Called with h2load's pid once it runs (CPU metering). */
  onStart?: (pid: number) => void;
}

export interface H2LoadResult {
  /** The exact command line run, for the report. */
  command: string;
  requestsPerSec: number;
  started: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  status2xx: number;
  /** DATA payload bytes received over all responses. */
  dataBytes: number;
  latency: LatencySummary;
  /** Epoch ms at which the first logged request started. */
  firstStartMs: number;
  seconds: number;
}

export function h2loadArgs(job: H2LoadJob): string[] {
  const args = ["-t", "1", "-c", String(job.connections), "-m", String(job.streams)];
  if (job.durationS !== undefined) args.push("-D", String(job.durationS), "--warm-up-time", String(job.warmupS ?? 1));
  else args.push("-n", String(job.requests ?? 1));
  args.push("-d", job.bodyFile, "--log-file", job.logFile);
  for (const [k, v] of Object.entries(job.headers)) args.push("-H", `${k}: ${v}`);
  args.push(`${job.baseUrl}${job.path}`);
  return args;
}

/** The command line as a user would type it, with header values that are secrets masked. */
export function h2loadCommandLine(job: H2LoadJob): string {
  return ["h2load", ...h2loadArgs(job)]
    .map((a) => (/^authorization:/i.test(a) ? "authorization: Bearer $TOKEN" : a))
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`))
    .join(" ");
}

export async function runH2Load(job: H2LoadJob): Promise<H2LoadResult> {
  rmSync(job.logFile, { force: true });
  const child = spawn("h2load", h2loadArgs(job), { stdio: ["ignore", "pipe", "pipe"] });
  if (child.pid !== undefined) job.onStart?.(child.pid);
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", resolve);
  });
  if (code !== 0) throw new Error(`h2load exited with ${code}:\n${out.slice(-2000)}`);
  const parsed = parseH2LoadOutput(out);
  return { command: h2loadCommandLine(job), ...parsed, ...latencyOfLog(job.logFile) };
}

/** The figures of h2load's summary (nghttp2 1.4x–1.6x wording). */
export function parseH2LoadOutput(out: string): Omit<H2LoadResult, "command" | "latency" | "firstStartMs"> {
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(out);
    if (m === null) throw new Error(`h2load's output has no ${what}:\n${out.slice(-2000)}`);
    return Number(m[1]);
  };
  return {
    seconds: secondsOf(/finished in ([\d.]+)(s|ms|us)\b/.exec(out), out),
    requestsPerSec: num(/finished in [\d.]+(?:s|ms|us), ([\d.]+) req\/s/, "req/s"),
    started: num(/requests: \d+ total, (\d+) started/, "started"),
    done: num(/(\d+) done/, "done"),
    succeeded: num(/(\d+) succeeded/, "succeeded"),
    failed: num(/(\d+) failed/, "failed"),
    errored: num(/(\d+) errored/, "errored"),
    timeout: num(/(\d+) timeout/, "timeout"),
    status2xx: num(/status codes: (\d+) 2xx/, "2xx"),
    dataBytes: num(/\((\d+)\) data/, "data bytes"),
  };
}

/** h2load prints short runs in ms or us. */
function secondsOf(m: RegExpExecArray | null, out: string): number {
  if (m === null) throw new Error(`h2load's output has no duration:\n${out.slice(-2000)}`);
  return Number(m[1]) / (m[2] === "s" ? 1 : m[2] === "ms" ? 1e3 : 1e6);
}

/** Latency percentiles from h2load's --log-file (third column: µs from request start to the end of its response). */
export function latencyOfLog(file: string): { latency: LatencySummary; firstStartMs: number } {
  const rec = new LatencyRecorder();
  let first = Number.POSITIVE_INFINITY;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const cols = line.split("\t");
    if (cols.length < 3) continue;
    const us = Number(cols[2]);
    if (Number.isFinite(us)) rec.add(us / 1000);
    first = Math.min(first, Number(cols[0]) / 1000);
  }
  return { latency: rec.summary(), firstStartMs: first };
}

/**
 * Calls of `expected` that were not a gRPC success of `size` DATA bytes: a
 * gRPC error is trailers-only (no DATA), so the successes are at most the
 * DATA received divided by one success's size.
 */
export function badCalls(r: H2LoadResult, size: number, expected: number): number {
  const good = Math.min(r.succeeded, size > 0 ? Math.floor(r.dataBytes / size) : 0);
  return Math.max(0, expected - good);
}
