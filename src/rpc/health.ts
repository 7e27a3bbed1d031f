import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { BrokerError, Reason } from "../errors/index.js";
import { defineService, type RpcService } from "./service.js";

export { Status as ServingStatus };

/**
 * grpc.health.v1 over one status map. "" is the whole server. Watchers see
 * every change; `shutdown` flips all to NOT_SERVING and then ends the
 * streams, so a draining server is not held open by its own probes.
 */
export class HealthState {
  readonly #status = new Map<string, Status>();
  readonly #watchers = new Set<() => void>();
  readonly #onShutdown: Array<() => void> = [];
  #closed = false;

  constructor(services: string[]) {
    for (const s of ["", ...services]) this.#status.set(s, Status.NOT_SERVING);
  }

  get(service: string): Status | undefined {
    return this.#status.get(service);
  }

  entries(): IterableIterator<[string, Status]> {
    return this.#status.entries();
  }

  setAll(status: Status): void {
    for (const key of this.#status.keys()) this.#status.set(key, status);
    for (const wake of this.#watchers) wake();
  }

  /** NOT_SERVING everywhere, then end every Watch stream, then tell `onShutdown`'s listeners. */
  shutdown(): void {
    this.setAll(Status.NOT_SERVING);
    this.#closed = true;
    for (const wake of this.#watchers) wake();
    for (const listener of this.#onShutdown.splice(0)) listener();
  }

  /** Runs `listener` once when shutdown begins (other long streams end then, not at the grace period's end). */
  onShutdown(listener: () => void): void {
    if (this.#closed) listener();
    else this.#onShutdown.push(listener);
  }

  get closed(): boolean {
    return this.#closed;
  }

  async *watch(service: string, signal: AbortSignal): AsyncGenerator<Status> {
    let wake: () => void = () => {};
    let pending = true;
    const onChange = (): void => {
      pending = true;
      wake();
    };
    this.#watchers.add(onChange);
    const onAbort = (): void => wake();
    signal.addEventListener("abort", onAbort);
    let last: Status | undefined;
    try {
      for (;;) {
        if (pending) {
          pending = false;
          const now = this.#status.get(service) ?? Status.SERVICE_UNKNOWN;
          if (now !== last) {
            last = now;
            yield now;
          }
        }
        if (this.#closed || signal.aborted) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (pending || this.#closed || signal.aborted) resolve();
        });
      }
    } finally {
      this.#watchers.delete(onChange);
      signal.removeEventListener("abort", onAbort);
    }
  }
}

export function healthService(state: HealthState): RpcService {
  return defineService(Health, {
    check(req) {
      const status = state.get(req.service);
      if (status === undefined) throw new BrokerError(Reason.NOT_FOUND, `unknown service ${req.service}`);
      return { status };
    },
    async *watch(req, ctx) {
      for await (const status of state.watch(req.service, ctx.signal)) yield { status };
    },
    list() {
      const statuses: Record<string, { status: Status }> = {};
      for (const [name, status] of state.entries()) statuses[name] = { status };
      return { statuses };
    },
  });
}
