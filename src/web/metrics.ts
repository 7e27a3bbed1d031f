import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ConnectError } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import { ErrorDetailSchema } from "../../gen/tokenbroker/v1/errors_pb.js";
import { toConnectError } from "../errors.js";
import type { CallObserver } from "../rpc/service.js";
import type { WebRoute } from "./web-listener.js";

export interface MetricsSources {
  /** Per-key refresh locks held or awaited. */
  lockCount: () => number;
  /** Providers whose client credentials are currently rejected. */
  misconfigured: () => Array<{ provider: string; misconfigured: boolean }>;
}

/**
 * Prometheus metrics. Labels are limited to service, method, code, reason
 * and provider id: never a user id (cardinality, privacy) and never a value
 * that could hold a secret.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #calls: Counter<"service" | "method" | "code" | "reason">;
  readonly #duration: Histogram<"method">;
  readonly #callChildren = new Map<string, { inc: () => void }>();
  readonly #durationChildren = new Map<string, { observe: (v: number) => void }>();

  constructor(sources: MetricsSources) {
    collectDefaultMetrics({ register: this.registry, prefix: "tokenbroker_" });
    this.#calls = new Counter({
      name: "tokenbroker_rpc_calls_total",
      help: "RPCs answered, by outcome",
      labelNames: ["service", "method", "code", "reason"],
      registers: [this.registry],
    });
    this.#duration = new Histogram({
      name: "tokenbroker_rpc_duration_seconds",
      help: "RPC handling time",
      labelNames: ["method"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    new Gauge({
      name: "tokenbroker_refresh_locks",
      help: "Per-key refresh locks held or awaited",
      registers: [this.registry],
      collect() {
        this.set(sources.lockCount());
      },
    });
    new Gauge({
      name: "tokenbroker_provider_misconfigured",
      help: "1 while a provider rejects tokenbroker's client credentials",
      labelNames: ["provider"],
      registers: [this.registry],
      collect() {
        for (const p of sources.misconfigured()) this.set({ provider: p.provider }, p.misconfigured ? 1 : 0);
      },
    });
  }

  readonly observe: CallObserver = ({ service, method, durationMs, error }) => {
    let code = "OK";
    let reason = "";
    if (error !== undefined) {
      const wire: ConnectError = toConnectError(error);
      code = Code[wire.code] ?? String(wire.code);
      reason = wire.findDetails(ErrorDetailSchema)[0]?.reason ?? "";
    }
    // Label children are cached: resolving labels per call is most of prom-client's cost.
    const callKey = `${method.parent.typeName}/${method.name}/${code}/${reason}`;
    let counter = this.#callChildren.get(callKey);
    if (counter === undefined) {
      counter = this.#calls.labels({ service: service.desc.typeName, method: method.name, code, reason });
      this.#callChildren.set(callKey, counter);
    }
    counter.inc();
    let histogram = this.#durationChildren.get(method.name);
    if (histogram === undefined) {
      histogram = this.#duration.labels({ method: method.name });
      this.#durationChildren.set(method.name, histogram);
    }
    histogram.observe(durationMs / 1000);
  };

  route(): WebRoute {
    return async (req, res, url) => {
      if (url.pathname !== "/metrics" || req.method !== "GET") return false;
      const body = await this.registry.metrics();
      res.writeHead(200, { "content-type": this.registry.contentType }).end(body);
      return true;
    };
  }
}
