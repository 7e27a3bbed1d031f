import type { Config } from "./config/config.js";
import type { ListenAddress } from "./net/listen-address.js";
import { describeListener, listenerFacts, type ListenerFact } from "./net/listener-facts.js";
import type { Logger } from "./log.js";
import { startGrpcListeners, type GrpcListener } from "./rpc/grpc-listener.js";
import { HealthState, ServingStatus, healthService } from "./rpc/health.js";
import { reflectionServices } from "./rpc/reflection.js";
import { completeImpl, type Hooks, type RpcService } from "./rpc/service.js";
import { listenOnFds, takeListenFds, type ActivatedSocket, type ListenFd } from "./systemd/activation.js";
import { startWebListener, type WebListener, type WebRoute } from "./web/web-listener.js";

export interface DaemonParts {
  /** The product services (token, link, admin). */
  services: RpcService[];
  /** Plain HTTP routes on the web listener. */
  routes?: WebRoute[];
  hooks?: Hooks;
  /** Runs after listeners stopped and in-flight calls drained. */
  onStopped?: () => Promise<void>;
}

export interface Daemon {
  readonly grpc: ListenAddress[];
  readonly http: ListenAddress | undefined;
  /** What each listener speaks (gRPC or Connect, TLS, mTLS), for the serve log and GetServerStatus. */
  readonly listeners: ListenerFact[];
  readonly health: HealthState;
  /** SIGHUP: the TLS listeners read their certificate files again (a listener whose files fail keeps its certificate). */
  reloadTls(): void;
  /** Idempotent: NOT_SERVING, stop accepting, drain, close. */
  stop(): Promise<void>;
}

/**
 * Brings the listeners up around already-built services. Health reports
 * SERVING only once every listener is bound (the store and keys are verified
 * before the services are built).
 *
 * Sockets passed by systemd (socket activation; by default read from this
 * process's LISTEN_* variables) serve gRPC in place of the configured
 * listeners of their kind: a passed Unix socket replaces listen.grpc's Unix
 * sockets (its TCP listeners are still bound), a passed TCP socket its TCP
 * listeners.
 */
export async function startDaemon(config: Config, parts: DaemonParts, log: Logger, listenFds: ListenFd[] = takeListenFds()): Promise<Daemon> {
  const shutdown = new AbortController();
  const health = new HealthState(parts.services.map((s) => s.desc.typeName));
  const open = [healthService(health), ...parts.services];
  const all = [...open, ...reflectionServices(open.map((s) => s.desc))];
  const completed = all.map((service) => ({ service, impl: completeImpl(service, parts.hooks ?? {}) }));

  let grpcListener: GrpcListener | undefined;
  let webListener: WebListener | undefined;
  let inherited: ActivatedSocket[] = [];
  try {
    inherited = await listenOnFds(listenFds);
    // A passed socket replaces the configured listeners of its kind (the
    // same path or port, most likely: binding it again would fail).
    const grpcAddresses = config.listen.grpc.filter((a) => !inherited.some((s) => s.kind === a.kind));
    // A passed socket is served without TLS: it must not stand in for a TLS listener.
    const lostTls = config.listen.grpc.find((a) => a.tls !== undefined && !grpcAddresses.includes(a));
    if (lostTls !== undefined) throw new Error(`a TCP socket passed by systemd would replace the TLS listener ${lostTls.url}; socket activation does not support TLS listeners`);
    if (inherited.length > 0) {
      const replaced = config.listen.grpc.filter((a) => !grpcAddresses.includes(a)).map((a) => a.url);
      log.info({ inherited: inherited.map((s) => ({ fd: s.fd, name: s.name, url: s.address.url })), replaced }, "using sockets passed by systemd");
    }
    if (grpcAddresses.length > 0 || inherited.length > 0) grpcListener = await startGrpcListeners(grpcAddresses, completed, shutdown.signal, inherited);
    if (config.listen.http !== undefined) {
      webListener = await startWebListener(config.listen.http, completed, [...(parts.routes ?? []), healthzRoute(health)], shutdown.signal);
    }
  } catch (err) {
    shutdown.abort();
    await grpcListener?.shutdown(0);
    for (const s of inherited) s.close();
    throw err;
  }
  health.setAll(ServingStatus.SERVING);
  const listeners = listenerFacts(grpcListener?.bound ?? [], webListener !== undefined ? { ...webListener.bound, tls: config.listen.http?.tls } : undefined);
  log.info({ grpc: grpcListener?.bound.map((a) => a.url) ?? [], http: webListener?.bound.url, listeners: listeners.map(describeListener) }, "serving");

  let stopping: Promise<void> | undefined;
  return {
    grpc: grpcListener?.bound ?? [],
    http: webListener?.bound,
    listeners,
    health,
    reloadTls() {
      const problems = [...(grpcListener?.reloadTls() ?? []), ...(webListener?.reloadTls() ?? [])];
      for (const p of problems) log.error({ err: { message: p } }, "TLS reload failed; the listener keeps its certificate");
      if (problems.length === 0) log.info("TLS certificates reloaded");
    },
    stop() {
      stopping ??= (async () => {
        log.info({ graceMs: config.shutdownGraceMs }, "shutting down");
        health.shutdown();
        const grace = setTimeout(() => shutdown.abort(), config.shutdownGraceMs);
        await Promise.all([grpcListener?.shutdown(config.shutdownGraceMs), webListener?.shutdown(config.shutdownGraceMs)]);
        clearTimeout(grace);
        shutdown.abort();
        await parts.onStopped?.();
        log.info("stopped");
      })();
      return stopping;
    },
  };
}

function healthzRoute(health: HealthState): WebRoute {
  return (req, res, url) => {
    if (url.pathname !== "/healthz") return false;
    const serving = health.get("") === ServingStatus.SERVING;
    res.writeHead(serving ? 200 : 503, { "content-type": "text/plain; charset=utf-8" }).end(serving ? "ok\n" : "not serving\n");
    return true;
  };
}
