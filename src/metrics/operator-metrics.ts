import { Gauge, type Registry } from "prom-client";

/** What the operator-facing gauges read when scraped (issue 23 item 12). */
export interface OperatorMetricsSources {
  /** This build's version (package.json). */
  version: string;
  /** Every link, and those whose refresh failed for good (the user has to link again). */
  linkStates?: () => Promise<{ total: number; needsRelink: number }>;
  /** Each TLS listener and when the certificate it serves expires (epoch ms). */
  tlsCertificates?: () => Array<{ listener: string; notAfterMs: number }>;
}

/**
 * The gauges an operator alerts on, as `gh auth status`, Vault and the
 * exporters people run already offer:
 *
 * - `tokenbroker_build_info{version,node} 1`, the Prometheus idiom for build
 *   facts (join on it, alert on a mixed fleet);
 * - `tokenbroker_links{state="healthy"|"needs_relink"}`, read from the store
 *   at scrape time (one count query; a store that cannot answer leaves the
 *   series out of that scrape rather than failing /metrics);
 * - `tokenbroker_tls_certificate_expiry_seconds{listener}`, the served
 *   certificate's notAfter as a Unix time in seconds, like blackbox_exporter's
 *   `probe_ssl_earliest_cert_expiry`: `… - time() < 14 * 86400` alerts two
 *   weeks ahead; after a SIGHUP reload it is the new certificate's.
 */
export function registerOperatorMetrics(registry: Registry, sources: OperatorMetricsSources): void {
  new Gauge({
    name: "tokenbroker_build_info",
    help: "Always 1; the labels say which tokenbroker version runs on which Node.js",
    labelNames: ["version", "node"],
    registers: [registry],
  }).set({ version: sources.version, node: process.version }, 1);
  const linkStates = sources.linkStates;
  if (linkStates !== undefined) {
    new Gauge({
      name: "tokenbroker_links",
      help: "Links by state: healthy, or needs_relink (the refresh failed for good; the user has to link again)",
      labelNames: ["state"],
      registers: [registry],
      async collect() {
        this.reset();
        try {
          const { total, needsRelink } = await linkStates();
          this.set({ state: "healthy" }, total - needsRelink);
          this.set({ state: "needs_relink" }, needsRelink);
        } catch {
          // The store cannot answer now (its own log and health say so): no value beats a stale one.
        }
      },
    });
  }
  const tlsCertificates = sources.tlsCertificates;
  if (tlsCertificates !== undefined) {
    new Gauge({
      name: "tokenbroker_tls_certificate_expiry_seconds",
      help: "When the certificate a TLS listener serves expires, as a Unix time in seconds",
      labelNames: ["listener"],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of tlsCertificates()) if (Number.isFinite(c.notAfterMs)) this.set({ listener: c.listener }, Math.floor(c.notAfterMs / 1000));
      },
    });
  }
}
