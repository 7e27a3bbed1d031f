import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { Code } from "@connectrpc/connect";
import type { ProviderRegistry } from "../providers/index.js";
import type { CallObserver } from "../rpc/service.js";
import { grpcCodeName } from "../rpc/code-name.js";
import { wireStatus } from "../rpc/wire-error.js";
import { registerOperatorMetrics, type OperatorMetricsSources } from "./operator-metrics.js";
import { CallMetrics } from "./call-metrics.js";
import type { WebRoute } from "../listeners/web-listener.js";

export interface MetricsSources {
  /** Their gates tell which providers currently reject our client credentials. */
  providers: ProviderRegistry;
  /** Open WatchAccessToken streams (0 when not given). */
  watchStreams?: (() => number) | undefined;
}

/** What the gauges read from the engine when scraped. */
export interface EngineGauges {
  /** Per-key refresh locks held or awaited. */
  readonly lockCount: number;
  /** Refreshed tokens held in memory because the store could not take them yet. */
  readonly pendingCommits: number;
  /** Links in use whose token is inside its advisory window (docs/design.md §3.4). */
  readonly linksInAdvisoryWindow: number;
}

/**
 * prom-client's sums of the per-type gauges of the same names: gauges ending
 * in `_total`, which `promtool check metrics` refuses (that suffix means a
 * counter). `sum(tokenbroker_nodejs_active_handles)` gives the same number.
 */
const MISNAMED_DEFAULT_GAUGES = ["tokenbroker_nodejs_active_handles_total", "tokenbroker_nodejs_active_requests_total", "tokenbroker_nodejs_active_resources_total"];

/** Seconds: from a fast loopback answer to a provider at the request timeout. */
const PROVIDER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Seconds left on a token handed out: from "just enough" to a day. */
const LIFETIME_BUCKETS = [30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400];

/**
 * Prometheus metrics (the names pass `promtool check metrics`). Labels are
 * limited to service, method, code, reason, outcome and provider id: never a
 * user id (cardinality, privacy) and never a value that could hold a secret.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #calls = new CallMetrics();
  readonly #refreshes: Counter<"provider" | "outcome">;
  readonly #heals: Counter<"provider">;
  readonly #refreshesAhead: Counter<"provider" | "outcome">;
  readonly #tokenEndpoint: Histogram<"provider">;
  readonly #lockWait: Histogram;
  readonly #servedRemaining: Histogram<"provider">;
  readonly #rateLimitRemaining: Gauge<"provider">;
  readonly #auditSinkErrors: Counter;
  readonly #servedChildren = new Map<string, { observe: (v: number) => void }>();

  constructor(sources: MetricsSources) {
    collectDefaultMetrics({ register: this.registry, prefix: "tokenbroker_" });
    for (const name of MISNAMED_DEFAULT_GAUGES) this.registry.removeSingleMetric(name);
    this.#refreshes = new Counter({
      name: "tokenbroker_refreshes_total",
      help: "Refreshes that sent a refresh token to the provider, by how they ended (OK, an error reason, or DISCARDED: the link changed meanwhile)",
      labelNames: ["provider", "outcome"],
      registers: [this.registry],
    });
    this.#refreshesAhead = new Counter({
      name: "tokenbroker_proactive_refreshes_total",
      help: "Background refreshes ahead of expiry, by how they ended (REFRESHED; NOT_NEEDED: the link was already refreshed by a caller, another process or host; or the reason it failed)",
      labelNames: ["provider", "outcome"],
      registers: [this.registry],
    });
    this.#heals = new Counter({
      name: "tokenbroker_refresh_heals_total",
      help: "Provider answers stored after another process had taken the refresh lease or failed the link for that send (docs/design.md §3 invariant 12)",
      labelNames: ["provider"],
      registers: [this.registry],
    });
    this.#tokenEndpoint = new Histogram({
      name: "tokenbroker_token_endpoint_duration_seconds",
      help: "Time of one refresh request to a provider's token endpoint, answered or not",
      labelNames: ["provider"],
      buckets: PROVIDER_BUCKETS,
      registers: [this.registry],
    });
    this.#lockWait = new Histogram({
      name: "tokenbroker_refresh_lock_wait_seconds",
      help: "Time a caller that needed a refresh waited for its link's refresh lock",
      buckets: [0.0001, 0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.#servedRemaining = new Histogram({
      name: "tokenbroker_served_token_remaining_seconds",
      help: "Lifetime left on access tokens handed out (tokens that do not expire are not counted)",
      labelNames: ["provider"],
      buckets: LIFETIME_BUCKETS,
      registers: [this.registry],
    });
    this.#rateLimitRemaining = new Gauge({
      name: "tokenbroker_provider_rate_limit_remaining",
      help: "Requests left in the provider's rate-limit window, as its last validate answer said",
      labelNames: ["provider"],
      registers: [this.registry],
    });
    this.#auditSinkErrors = new Counter({
      name: "tokenbroker_audit_sink_errors_total",
      help: "Audit lines that could not be written, and failed reopens of the audit file",
      registers: [this.registry],
    });
    // The two metrics every RPC touches are counted without prom-client (call-metrics.ts).
    for (const m of this.#calls.metrics()) this.registry.registerMetric(m as unknown as Counter);
    new Gauge({
      name: "tokenbroker_watch_streams",
      help: "Open WatchAccessToken streams",
      registers: [this.registry],
      collect() {
        this.set(sources.watchStreams?.() ?? 0);
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

  /** The engine's gauges, read when scraped; once the engine exists. */
  watchEngine(engine: EngineGauges): void {
    new Gauge({
      name: "tokenbroker_refresh_locks",
      help: "Per-key refresh locks held or awaited",
      registers: [this.registry],
      collect() {
        this.set(engine.lockCount);
      },
    });
    new Gauge({
      name: "tokenbroker_refreshes_awaiting_commit",
      help: "Refreshed tokens held in memory because the store could not take them yet (each is retried until stored)",
      registers: [this.registry],
      collect() {
        this.set(engine.pendingCommits);
      },
    });
    new Gauge({
      name: "tokenbroker_links_in_advisory_window",
      help: "Links in use whose access token is inside its advisory window (callers still get it at once; a background refresh is due)",
      registers: [this.registry],
      collect() {
        this.set(engine.linksInAdvisoryWindow);
      },
    });
  }

  /** Build info, links by state and certificate expiry (metrics/operator-metrics.ts); once the store and the listeners exist. */
  watchOperator(sources: OperatorMetricsSources): void {
    registerOperatorMetrics(this.registry, sources);
  }

  readonly observe: CallObserver = ({ service, method, durationMs, error }) => {
    let code = "OK";
    let reason = "";
    if (error !== undefined) {
      const wire = wireStatus(error);
      code = grpcCodeName(wire.code);
      reason = wire.reason;
    }
    this.#calls.record(service.desc.typeName, method, code, reason, durationMs / 1000);
  };

  refreshed(providerId: string, outcome: string): void {
    this.#refreshes.inc({ provider: providerId, outcome });
  }

  refreshedAhead(providerId: string, outcome: string): void {
    this.#refreshesAhead.inc({ provider: providerId, outcome });
  }

  healed(providerId: string): void {
    this.#heals.inc({ provider: providerId });
  }

  tokenEndpoint(providerId: string, seconds: number): void {
    this.#tokenEndpoint.observe({ provider: providerId }, seconds);
  }

  lockWait(seconds: number): void {
    this.#lockWait.observe(seconds);
  }

  /** On every token handed out, so its label child is cached like the call counters'. */
  served(providerId: string, expiresAt: number | null): void {
    if (expiresAt === null) return;
    let histogram = this.#servedChildren.get(providerId);
    if (histogram === undefined) {
      histogram = this.#servedRemaining.labels({ provider: providerId });
      this.#servedChildren.set(providerId, histogram);
    }
    histogram.observe(Math.max(0, (expiresAt - Date.now()) / 1000));
  }

  rateLimitRemaining(providerId: string, remaining: number): void {
    this.#rateLimitRemaining.set({ provider: providerId }, remaining);
  }

  auditSinkError(): void {
    this.#auditSinkErrors.inc();
  }

  route(): WebRoute {
    return async (req, res, url) => {
      if (url.pathname !== "/metrics" || req.method !== "GET") return false;
      const body = await this.registry.metrics();
      res.writeHead(200, { "content-type": this.registry.contentType }).end(body);
      return true;
    };
  }
}
