import type { DescMethod } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { Counter, Histogram, Registry } from "prom-client";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { CallMetrics, RPC_DURATION_BUCKETS } from "../../src/metrics/call-metrics.js";

/**
 * The per-RPC metrics are counted without prom-client (metrics/call-metrics.ts)
 * but must expose exactly what prom-client's Counter and Histogram would for
 * the same calls: names, labels, bucket bounds, cumulative counts, sum, count.
 */
describe("CallMetrics exposes what prom-client would", () => {
  it("the same text for the same calls, outcomes and durations (bounds included)", async () => {
    const ours = new Registry();
    const calls = new CallMetrics();
    for (const m of calls.metrics()) ours.registerMetric(m as unknown as Counter);

    const theirs = new Registry();
    const counter = new Counter({ name: "tokenbroker_rpc_calls_total", help: "RPCs answered, by outcome", labelNames: ["service", "method", "code", "reason"], registers: [theirs] });
    const histogram = new Histogram({ name: "tokenbroker_rpc_duration_seconds", help: "RPC handling time", labelNames: ["method"], buckets: RPC_DURATION_BUCKETS, registers: [theirs] });

    const obtain: DescMethod = TokenService.method.obtainAccessToken;
    const match: DescMethod = TokenService.method.matchProvider;
    const seen: [DescMethod, string, string, number][] = [
      [obtain, "OK", "", 0.0004],
      [obtain, "OK", "", 0.0005],
      [obtain, "OK", "", 0.00051],
      [obtain, "UNAVAILABLE", "PROVIDER_UNAVAILABLE", 2.5],
      [obtain, "OK", "", 12],
      [match, "INVALID_ARGUMENT", "INVALID_ARGUMENT", 0.003],
      [obtain, "UNAVAILABLE", "PROVIDER_UNAVAILABLE", 0.1],
    ];
    for (const [method, code, reason, seconds] of seen) {
      calls.record(TokenService.typeName, method, code, reason, seconds);
      counter.inc({ service: TokenService.typeName, method: method.name, code, reason });
      histogram.observe({ method: method.name }, seconds);
    }
    const sorted = (text: string): string[] => text.split("\n").filter((l) => l !== "").sort();
    expect(sorted(await ours.metrics())).toEqual(sorted(await theirs.metrics()));
  });
});
