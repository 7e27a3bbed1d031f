/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): where the daemon's CPU
 * time went, by function (self time) and by area (a package under
 * node_modules, a directory of dist/src, Node internals, GC).
 * Also a CLI: node dist/bench/profile-summary.js FILE.cpuprofile
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  /** Share of the non-idle samples, percent. */
  pct: number;
}

export interface ProfileSummary {
  file: string;
  /** Only samples inside these windows (CLOCK_MONOTONIC µs, as monotonicUs() reads it) were counted. */
  windows?: Window[];
  /** Non-idle sampled time, ms. */
  busyMs: number;
  topFunctions: ProfileEntry[];
  areas: ProfileEntry[];
  /** The daemon's own functions (dist/src) by inclusive time: what each step of the call path costs. */
  srcInclusive: ProfileEntry[];
}

/**
 * Now on the clock V8's profiler stamps samples with (CLOCK_MONOTONIC on
 * Linux, as process.hrtime), in µs, so another process's profile can be cut
 * to a window this process measured.
 */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export interface Window {
  fromUs: number;
  toUs: number;
}

export function summarizeProfile(file: string, top = 20, windows?: Window | Window[]): ProfileSummary {
  const within = windows === undefined ? undefined : Array.isArray(windows) ? windows : [windows];
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (within !== undefined && !within.some((w) => at >= w.fromUs && at <= w.toUs)) continue;
    // timeDeltas[i] is the gap before sample i; attribute the gap after it (the next delta) to it.
    const us = deltas[i + 1] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + us);
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") continue;
    busy += us;
    const where = url === "" ? "" : ` ${shortUrl(url)}:${lineNumber + 1}`;
    const fname = `${functionName || "(anonymous)"}${where}`;
    functions.set(fname, (functions.get(fname) ?? 0) + us);
    const area = areaOf(functionName, url);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)?.callFrame;
      if (f === undefined || !f.url.includes("/dist/src/")) continue;
      const k = `${f.functionName || "(anonymous)"} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const rank = (m: Map<string, number>, n: number): ProfileEntry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, pct: busy > 0 ? (100 * us) / busy : 0 }));
  return {
    file,
    ...(within !== undefined ? { windows: within } : {}),
    busyMs: busy / 1000,
    topFunctions: rank(functions, top),
    areas: rank(areas, 25),
    srcInclusive: rank(inclusive, 15),
  };
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) return url.slice(nm + "node_modules/".length);
  const dist = url.lastIndexOf("/dist/");
  if (dist >= 0) return url.slice(dist + "/dist/".length);
  return url.replace(/^file:\/\//, "");
}

function areaOf(functionName: string, url: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0] === "internal" ? "internal/" + (url.slice(14).split("/")[0] ?? "") : url.slice(5)}`;
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const dist = url.lastIndexOf("/dist/");
  if (dist >= 0) {
    const parts = url.slice(dist + "/dist/".length).split("/");
    return parts.length > 2 ? `${parts[0]}/${parts[1]}` : (parts[0] ?? url);
  }
  return url;
}

export function formatProfile(s: ProfileSummary): string {
  const span = s.windows !== undefined ? ` in ${(s.windows.reduce((t, w) => t + w.toUs - w.fromUs, 0) / 1e6).toFixed(1)} s of measured windows` : "";
  const lines = [`CPU profile ${s.file} (${(s.busyMs / 1000).toFixed(1)} s busy${span})`, "  by area:"];
  for (const a of s.areas) if (a.pct >= 0.5) lines.push(`    ${a.pct.toFixed(1).padStart(5)}%  ${a.name}`);
  lines.push("  daemon code, inclusive time:");
  for (const f of s.srcInclusive) lines.push(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.name}`);
  lines.push("  top functions (self time):");
  for (const f of s.topFunctions) lines.push(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.name}`);
  return lines.join("\n");
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write("usage: node dist/bench/profile-summary.js FILE.cpuprofile\n");
    process.exit(2);
  }
  process.stdout.write(`${formatProfile(summarizeProfile(file, 30))}\n`);
}
