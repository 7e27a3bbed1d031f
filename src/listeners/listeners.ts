import type { Config } from "../config/config.js";
import type { ListenAddress } from "../listen/listen-address.js";
import { describeListener, listenerFacts, type ListenerFact } from "../listen/listener-facts.js";
import type { Logger } from "../log.js";
import { resolve } from "node:path";
import { startGrpcListeners, type GrpcAddress, type GrpcListener, type InheritedSocket } from "./grpc-listener.js";
import { HealthState, ServingStatus, healthService } from "../rpc/health.js";
import { reflectionServices } from "../rpc/reflection.js";
import { completeImpl, type Hooks, type RpcService } from "../rpc/service.js";
import { listenOnFds, takeListenFds, type ActivatedSocket, type ListenFd } from "./activation.js";
import { startWebListener, type WebListener, type WebRoute } from "./web-listener.js";

export interface DaemonParts {
  /** The product services (token, link, admin). */
  services: RpcService[];
  /** Plain HTTP routes on the web listener. */
  routes?: WebRoute[];
  hooks?: Hooks;
}

export interface Daemon {
  readonly grpc: ListenAddress[];
  readonly http: ListenAddress | undefined;
  /** What each listener speaks (gRPC or Connect, TLS, mTLS), for the serve log and GetServerStatus. */
  readonly listeners: ListenerFact[];
  readonly health: HealthState;
  /** SIGHUP: the TLS listeners read their certificate files again (a listener whose files fail keeps its certificate). */
  reloadTls(): void;
  /** Every TLS listener and when the certificate it serves expires (epoch ms): tokenbroker_tls_certificate_expiry_seconds. */
  tlsCertificates(): Array<{ listener: string; notAfterMs: number }>;
  /** Idempotent: NOT_SERVING, stop accepting, drain, close. */
  stop(): Promise<void>;
}

export interface ListenersOptions {
  listen: Config["listen"];
  /** How long in-flight calls may take to finish at stop. */
  shutdownGraceMs: number;
  log: Logger;
  /**
   * Awaited (at most the grace period) after health turns NOT_SERVING and
   * before the servers shut down: what must finish writing first (the Watch
   * streams' final statuses).
   */
  beforeDrain?: () => Promise<void>;
  /** Sockets passed by systemd; by default read from this process's LISTEN_* variables. */
  listenFds?: ListenFd[];
}

/**
 * The daemon's listeners: the gRPC ones and the web listener, around
 * already-built services. Made before the services (which may report the
 * bound addresses), started after them. Health reports SERVING only once
 * every listener is bound.
 *
 * Sockets passed by systemd (socket activation) serve gRPC in place of
 * configured listeners (placeInherited): a passed socket at a configured
 * listener's address stands in for it, with its settings; one at no
 * configured address replaces the configured listeners of its kind.
 */
export class Listeners implements Daemon {
  readonly #options: ListenersOptions;
  readonly #shutdown = new AbortController();
  #health: HealthState | undefined;
  #grpc: GrpcListener | undefined;
  #web: WebListener | undefined;
  #stopping: Promise<void> | undefined;
  #facts: ListenerFact[] = [];

  constructor(options: ListenersOptions) {
    this.#options = options;
  }

  /** Bound addresses: [] until started. */
  get grpc(): ListenAddress[] {
    return this.#grpc?.bound ?? [];
  }

  get http(): ListenAddress | undefined {
    return this.#web?.bound;
  }

  /** What each bound listener speaks: [] until started. */
  get listeners(): ListenerFact[] {
    return this.#facts;
  }

  get health(): HealthState {
    if (this.#health === undefined) throw new Error("the listeners have not started");
    return this.#health;
  }

  /** Every bound address, gRPC first. */
  urls(): string[] {
    return [...this.grpc.map((a) => a.url), ...(this.http !== undefined ? [this.http.url] : [])];
  }

  async start(parts: DaemonParts): Promise<void> {
    const { listen, log } = this.#options;
    const health = new HealthState(parts.services.map((s) => s.desc.typeName));
    const open = [healthService(health), ...parts.services];
    const all = [...open, ...reflectionServices(open.map((s) => s.desc))];
    const completed = all.map((service) => ({ service, impl: completeImpl(service, parts.hooks ?? {}) }));
    let inherited: ActivatedSocket[] = [];
    try {
      inherited = await listenOnFds(this.#options.listenFds ?? takeListenFds(), (address) => listen.grpc.some((a) => sameAddress(a, address)));
      const { addresses: grpcAddresses, sockets, replaced } = placeInherited(listen.grpc, inherited);
      if (inherited.length > 0) {
        log.info({ inherited: sockets.map((s) => ({ fd: s.fd, name: s.name, url: s.address.url, ...(s.stands !== undefined ? { listener: s.stands } : {}) })), replaced }, "using sockets passed by systemd");
      }
      if (grpcAddresses.length > 0 || sockets.length > 0) this.#grpc = await startGrpcListeners(grpcAddresses, completed, this.#shutdown.signal, sockets);
      if (listen.http !== undefined) {
        this.#web = await startWebListener(listen.http, completed, [...(parts.routes ?? []), healthzRoute(health)], this.#shutdown.signal, parts.hooks?.refused);
      }
    } catch (err) {
      this.#shutdown.abort();
      await this.#grpc?.shutdown(0);
      for (const s of inherited) s.close();
      throw err;
    }
    this.#health = health;
    health.setAll(ServingStatus.SERVING);
    this.#facts = listenerFacts(this.#grpc?.bound ?? [], this.#web !== undefined ? { ...this.#web.bound, tls: listen.http?.tls } : undefined);
    log.info({ grpc: this.#grpc?.bound.map((a) => a.url) ?? [], http: this.#web?.bound.url, listeners: this.#facts.map(describeListener) }, "serving");
  }

  reloadTls(): void {
    const problems = [...(this.#grpc?.reloadTls() ?? []), ...(this.#web?.reloadTls() ?? [])];
    for (const p of problems) this.#options.log.error({ err: { message: p } }, "TLS reload failed; the listener keeps its certificate");
    if (problems.length === 0) this.#options.log.info("TLS certificates reloaded");
  }

  tlsCertificates(): Array<{ listener: string; notAfterMs: number }> {
    return [...(this.#grpc?.certificates() ?? []), ...(this.#web?.certificates() ?? [])];
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const { log, shutdownGraceMs } = this.#options;
      log.info({ graceMs: shutdownGraceMs }, "shutting down");
      this.#health?.shutdown();
      const grace = setTimeout(() => this.#shutdown.abort(), shutdownGraceMs);
      if (this.#options.beforeDrain !== undefined) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.#options.beforeDrain(), new Promise<void>((resolve) => (timer = setTimeout(resolve, shutdownGraceMs)))]);
        clearTimeout(timer);
      }
      await Promise.all([this.#grpc?.shutdown(shutdownGraceMs), this.#web?.shutdown(shutdownGraceMs)]);
      clearTimeout(grace);
      this.#shutdown.abort();
    })();
    return this.#stopping;
  }
}

/** The listeners alone around these services (tests); stop() drains them. */
export async function startDaemon(config: Pick<Config, "listen" | "shutdownGraceMs">, parts: DaemonParts, log: Logger, listenFds?: ListenFd[]): Promise<Daemon> {
  const listeners = new Listeners({ listen: config.listen, shutdownGraceMs: config.shutdownGraceMs, log, ...(listenFds === undefined ? {} : { listenFds }) });
  await listeners.start(parts);
  return listeners;
}

/** Whether a passed socket's address is a configured listener's: the same Unix path, or the same TCP host and (non-zero) port. */
export function sameAddress(configured: ListenAddress, passed: ListenAddress): boolean {
  if (configured.kind === "unix" && passed.kind === "unix") return passed.path !== "" && resolve(configured.path) === resolve(passed.path);
  if (configured.kind === "tcp" && passed.kind === "tcp") return configured.port !== 0 && configured.port === passed.port && configured.host.toLowerCase() === passed.host.toLowerCase();
  return false;
}

/**
 * Which configured gRPC listeners the daemon binds itself, and how it serves
 * the sockets systemd passed:
 * - a passed socket at a configured listener's address (sameAddress) stands
 *   in for that listener and serves with its settings (allow_tokenless);
 * - a passed socket at no configured address replaces every configured
 *   listener of its kind that no passed socket stands in for, and serves
 *   with the kind's default settings (installs from before listeners were
 *   matched by address);
 * - the configured listeners left are bound by the daemon.
 * A passed socket is served without TLS, so one that would stand in for (or
 * replace) a TLS listener is refused.
 */
export function placeInherited(
  configured: readonly GrpcAddress[],
  inherited: readonly ActivatedSocket[],
): { addresses: GrpcAddress[]; sockets: Array<InheritedSocket & { stands?: string | undefined }>; replaced: string[] } {
  const standsFor = new Map<ActivatedSocket, GrpcAddress>();
  for (const s of inherited) {
    const a = configured.find((c) => sameAddress(c, s.address) && ![...standsFor.values()].includes(c));
    if (a !== undefined) standsFor.set(s, a);
  }
  const matched = new Set(standsFor.values());
  const unmatchedKinds = new Set(inherited.filter((s) => !standsFor.has(s)).map((s) => s.kind));
  const addresses = configured.filter((a) => !matched.has(a) && !unmatchedKinds.has(a.kind));
  const lostTls = configured.find((a) => a.tls !== undefined && !addresses.includes(a));
  if (lostTls !== undefined) throw new Error(`a TCP socket passed by systemd would replace the TLS listener ${lostTls.url}; socket activation does not support TLS listeners`);
  const sockets = inherited.map((s) => {
    const a = standsFor.get(s);
    return { ...s, allowTokenless: a?.allowTokenless, stands: a?.url };
  });
  return { addresses, sockets, replaced: configured.filter((a) => !addresses.includes(a)).map((a) => a.url) };
}

function healthzRoute(health: HealthState): WebRoute {
  return (req, res, url) => {
    if (url.pathname !== "/healthz") return false;
    const serving = health.get("") === ServingStatus.SERVING;
    res.writeHead(serving ? 200 : 503, { "content-type": "text/plain; charset=utf-8" }).end(serving ? "ok\n" : "not serving\n");
    return true;
  };
}
