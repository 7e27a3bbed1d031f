import type { LatencySummary } from "./protocol.js";

/** Latencies in milliseconds, kept in a growable Float64Array (no per-sample objects). */
export class LatencyRecorder {
  #buf = new Float64Array(4096);
  #n = 0;

  add(ms: number): void {
    if (this.#n === this.#buf.length) {
      const next = new Float64Array(this.#buf.length * 2);
      next.set(this.#buf);
      this.#buf = next;
    }
    this.#buf[this.#n++] = ms;
  }

  get count(): number {
    return this.#n;
  }

  summary(): LatencySummary {
    const sorted = this.#buf.slice(0, this.#n).sort();
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: this.#n,
      minMs: this.#n === 0 ? 0 : (sorted[0] as number),
      meanMs: this.#n === 0 ? 0 : sum / this.#n,
      p50Ms: percentile(sorted, 0.5),
      p90Ms: percentile(sorted, 0.9),
      p99Ms: percentile(sorted, 0.99),
      maxMs: this.#n === 0 ? 0 : (sorted[this.#n - 1] as number),
    };
  }
}

/** Nearest-rank percentile of an ascending array (0 when empty). */
export function percentile(sorted: Float64Array | number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
