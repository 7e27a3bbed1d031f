import { parseArgs } from "node:util";
import { resolve } from "node:path";

export const SCENARIOS = ["h2load", "h2storm", "cache", "storm", "mass", "scale", "fleet", "git", "mass-ahead"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  quick: boolean;
  only: ScenarioName[];
  /** gRPC channels (HTTP/2 connections) the load generator spreads callers over. */
  channels: number;
  /** ImportLink calls in flight while seeding. */
  importConcurrency: number;
  cache: { concurrency: number[]; links: number; warmupMs: number; durationMs: number };
  /** h2load throughput: connections × streams in flight, seconds per cell after a warm-up, alternating rounds. */
  h2load: { connections: number; streams: number; durationS: number; warmupS: number; rounds: number };
  storm: { callers: number; latencyMs: number };
  mass: { keys: number; latencyMs: number; limit: number };
  scale: {
    links: number;
    /** Of `links`, how many go through ImportLink (timed); the rest are seeded in batches before the daemon starts. */
    viaImportLink: number;
    baseLinks: number;
    concurrency: number;
    rounds: number;
    warmupMs: number;
    durationMs: number;
  };
  /** Profile the daemons (`node --cpu-prof`): a separate cache-hit broker run, the storm, mass-expiry and scale daemons. */
  profile: boolean;
  out: string;
  /** The tokenbroker CLI to benchmark (default: this checkout's dist/src/main.js). */
  cli: string;
  keepTemp: boolean;
  note: string | undefined;
}

export const USAGE = `usage: npm run bench [-- options]   (or: node dist/bench/run.js [options])

  --quick              ~1 minute sanity run: short windows, 1,000 mass-expiry keys, 10,000 links
  --only LIST          scenarios to run, comma-separated: ${SCENARIOS.join(",")}
  --duration MS        measured window per cache-hit / scale cell (default 3000, quick 1000)
  --storm-callers N    callers in the refresh storm (default 1000)
  --storm-latency MS   provider latency in the storm (default 200)
  --mass-keys N        keys expiring at once (default 10000, quick 1000)
  --limit N            refresh.provider_concurrency for mass expiry (default 8)
  --scale-links N      links in the big store (default 100000, quick 10000)
  --profile            profile the daemons (node --cpu-prof): cache hits, storm, mass expiry, scale; summarize
  --out FILE           results file (default bench/results.json; bench/results.quick.json for --quick/--only)
  --note TEXT          free text stored in the results (e.g. "other test suites running")
  --cli PATH           benchmark another build's dist/src/main.js (default: this checkout's)
  --keep               keep the temp directory (configs, stores, logs)
env: BENCH_QUICK=1, BENCH_ONLY=LIST, BENCH_NOTE=TEXT, BENCH_PROFILE=1, BENCH_CLI=PATH do the same.`;

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: "boolean" },
      only: { type: "string" },
      duration: { type: "string" },
      "mass-keys": { type: "string" },
      "storm-callers": { type: "string" },
      "storm-latency": { type: "string" },
      limit: { type: "string" },
      "scale-links": { type: "string" },
      profile: { type: "boolean" },
      out: { type: "string" },
      cli: { type: "string" },
      note: { type: "string" },
      keep: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (v.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const quick = v.quick === true || env.BENCH_QUICK === "1";
  const onlyText = v.only ?? env.BENCH_ONLY;
  const only = onlyText === undefined || onlyText === "" ? [...SCENARIOS] : onlyText.split(",").map((s) => s.trim());
  for (const s of only) if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`--only: unknown scenario "${s}" (use ${SCENARIOS.join(", ")})`);
  const int = (name: string, s: string | undefined, dflt: number): number => {
    if (s === undefined) return dflt;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: not a positive integer: ${s}`);
    return n;
  };
  const durationMs = int("duration", v.duration, quick ? 1000 : 3000);
  const warmupMs = quick ? 300 : 1000;
  const partial = quick || only.length < SCENARIOS.length;
  return {
    quick,
    only: only as ScenarioName[],
    channels: 4,
    importConcurrency: 64,
    cache: { concurrency: [1, 16, 64], links: 100, warmupMs, durationMs },
    h2load: { connections: 8, streams: 16, durationS: quick ? 2 : 5, warmupS: 1, rounds: quick ? 1 : 3 },
    storm: { callers: int("storm-callers", v["storm-callers"], 1000), latencyMs: int("storm-latency", v["storm-latency"], 200) },
    mass: { keys: int("mass-keys", v["mass-keys"], quick ? 1000 : 10_000), latencyMs: 50, limit: int("limit", v.limit, 8) },
    scale: {
      links: int("scale-links", v["scale-links"], quick ? 10_000 : 100_000),
      viaImportLink: quick ? 1000 : 5000,
      baseLinks: 100,
      concurrency: 64,
      rounds: quick ? 2 : 4,
      warmupMs,
      durationMs,
    },
    profile: v.profile === true || env.BENCH_PROFILE === "1",
    out: resolve(v.out ?? resolve(import.meta.dirname, "../../bench", partial ? "results.quick.json" : "results.json")),
    cli: resolve(v.cli ?? env.BENCH_CLI ?? resolve(import.meta.dirname, "../src/main.js")),
    keepTemp: v.keep === true,
    note: v.note ?? env.BENCH_NOTE,
  };
}
