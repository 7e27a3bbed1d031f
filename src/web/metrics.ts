import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { Code } from "@connectrpc/connect";
import type { ProviderRegistry } from "../providers/registry.js";
import type { CallObserver } from "../rpc/service.js";
import { wireStatus } from "../rpc/wire-error.js";
import type { WebRoute } from "./web-listener.js";

export interface MetricsSources {
  /** Per-key refresh locks held or awaited. */
  lockCount: () => number;
  /** Refreshed tokens held in memory because the store could not take them yet. */
  pendingCommits: () => number;
  /** Their gates tell which providers currently reject our client credentials. */
  providers: ProviderRegistry;
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
      name: "tokenbroker_refreshes_awaiting_commit",
      help: "Refreshed tokens held in memory because the store could not take them yet (each is retried until stored)",
      registers: [this.registry],
      collect() {
        this.set(sources.pendingCommits());
      },
    });
    new Gauge({
      name: "tokenbroker_provider_misconfigured",
      help: "1 while a provider rejects tokenbroker's client credentials",
      labelNames: ["provider"],
      registers: [this.registry],
      collect() {
        const at = Date.now();
        for (const p of sources.providers.all()) this.set({ provider: p.config.id }, p.gate.misconfigured(at) !== undefined ? 1 : 0);
      },
    });
  }

  readonly observe: CallObserver = ({ service, method, durationMs, error }) => {
    let code = "OK";
    let reason = "";
    if (error !== undefined) {
      const wire = wireStatus(error);
      code = Code[wire.code] ?? String(wire.code);
      reason = wire.reason;
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
