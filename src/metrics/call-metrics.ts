import type { DescMethod } from "@bufbuild/protobuf";

/** Seconds: from a cache hit to a refresh waiting on a slow provider. */
export const RPC_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A metric as prom-client's Registry reads it (`get()`), for the two kept here. */
interface ExposedMetric {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  get(): { name: string; help: string; type: string; aggregator: "sum"; values: { labels: Record<string, string | number>; value: number; metricName?: string }[] };
  reset(): void;
}

interface CallCount {
  labels: { service: string; method: string; code: string; reason: string };
  n: number;
}

interface Durations {
  /** Per bucket, not cumulative; the last slot counts what is above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * `tokenbroker_rpc_calls_total` and `tokenbroker_rpc_duration_seconds`,
 * counted in plain numbers and turned into Prometheus series only when
 * scraped. prom-client hashes a child's labels on every `inc` and `observe`,
 * and these two are touched by every RPC (≈ 2 % of a no-op call's CPU under
 * h2load); here a call costs two map lookups and three additions. Same names,
 * labels, buckets and exposition as the prom-client metrics they replace.
 */
export class CallMetrics {
  /** method → "code/reason" → count; OK calls hit the first entry of their method. */
  readonly #calls = new Map<DescMethod, Map<string, CallCount>>();
  readonly #durations = new Map<string, Durations>();

  record(service: string, method: DescMethod, code: string, reason: string, seconds: number): void {
    let byOutcome = this.#calls.get(method);
    if (byOutcome === undefined) this.#calls.set(method, (byOutcome = new Map()));
    const key = reason === "" ? code : `${code}/${reason}`;
    let entry = byOutcome.get(key);
    if (entry === undefined) byOutcome.set(key, (entry = { labels: { service, method: method.name, code, reason }, n: 0 }));
    entry.n++;
    let d = this.#durations.get(method.name);
    if (d === undefined) this.#durations.set(method.name, (d = { counts: new Float64Array(RPC_DURATION_BUCKETS.length + 1), sum: 0, count: 0 }));
    let i = 0;
    while (i < RPC_DURATION_BUCKETS.length && seconds > RPC_DURATION_BUCKETS[i]!) i++;
    d.counts[i]!++;
    d.sum += seconds;
    d.count++;
  }

  /** The two metrics, for Registry.registerMetric. */
  metrics(): ExposedMetric[] {
    const calls = this.#calls;
    const durations = this.#durations;
    const counter: ExposedMetric = {
      name: "tokenbroker_rpc_calls_total",
      help: "RPCs answered, by outcome",
      type: "counter",
      aggregator: "sum",
      get() {
        const values = [];
        for (const byOutcome of calls.values()) for (const e of byOutcome.values()) values.push({ labels: { ...e.labels }, value: e.n });
        return { name: counter.name, help: counter.help, type: counter.type, aggregator: "sum" as const, values };
      },
      reset: () => calls.clear(),
    };
    const histogram: ExposedMetric = {
      name: "tokenbroker_rpc_duration_seconds",
      help: "RPC handling time",
      type: "histogram",
      aggregator: "sum",
      get() {
        const values = [];
        for (const [method, d] of durations) {
          let cumulative = 0;
          for (let i = 0; i < RPC_DURATION_BUCKETS.length; i++) {
            cumulative += d.counts[i]!;
            values.push({ labels: { le: RPC_DURATION_BUCKETS[i]!, method }, value: cumulative, metricName: `${histogram.name}_bucket` });
          }
          values.push({ labels: { le: "+Inf", method }, value: d.count, metricName: `${histogram.name}_bucket` });
          values.push({ labels: { method }, value: d.sum, metricName: `${histogram.name}_sum` });
          values.push({ labels: { method }, value: d.count, metricName: `${histogram.name}_count` });
        }
        return { name: histogram.name, help: histogram.help, type: histogram.type, aggregator: "sum" as const, values };
      },
      reset: () => durations.clear(),
    };
    return [counter, histogram];
  }
}
