import type { ChildProcess } from "node:child_process";
import { endChild, forkBenchModule } from "./child.js";
import type { FromChild, Job, ResultOf, ToChild } from "./protocol.js";

/**
 * The parent's handle on the load-generator process (loadgen/main.ts): jobs
 * go out over IPC, results come back. One process serves every job of a run,
 * so its JIT is warm and its CPU is measured apart from the daemon's.
 */
export class LoadGen {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (r: never) => void; reject: (e: Error) => void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (m: FromChild) => {
      if ("ready" in m) return;
      const p = this.#pending.get(m.id);
      if (p === undefined) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.result as never);
      else p.reject(new Error(`load generator: ${m.error}`));
    });
    child.once("exit", (code) => {
      for (const p of this.#pending.values()) p.reject(new Error(`load generator exited with ${code}`));
      this.#pending.clear();
    });
  }

  static async start(): Promise<LoadGen> {
    return new LoadGen(await forkBenchModule("loadgen/main.js"));
  }

  get pid(): number {
    return this.child.pid!;
  }

  run<J extends Job>(job: J): Promise<ResultOf<J>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (r: never) => void, reject });
      const msg: ToChild = { id, job };
      this.child.send(msg, (err) => {
        if (err) {
          this.#pending.delete(id);
          reject(err);
        }
      });
    });
  }

  close(): Promise<void> {
    return endChild(this.child);
  }
}
