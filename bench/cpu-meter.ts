import { CLK_TCK, cpuTicksOf, machineTicks } from "./proc.js";

export interface CpuReading {
  seconds: number;
  /** CPU used by each named process, in cores (1.0 = one core busy all along). */
  cores: Record<string, number>;
  /** CPU used by every other process on the machine meanwhile, in cores: the contention. */
  othersCores: number;
}

/**
 * Measures CPU over a window for named processes (daemon, load generator,
 * echo server, this process) and, from /proc/stat, what everything else on
 * the machine used meanwhile — the bench shares its 2 cores with whatever
 * else runs, and says so next to every figure.
 */
export class CpuMeter {
  readonly #pids: Record<string, number>;
  #start: { at: number; ticks: Record<string, number>; machine: number } | undefined;

  constructor(pids: Record<string, number>) {
    this.#pids = { bench: process.pid, ...pids };
  }

  start(): this {
    this.#start = { at: performance.now(), ticks: this.#ticks(), machine: machineTicks().busy };
    return this;
  }

  stop(): CpuReading {
    const s = this.#start;
    if (s === undefined) throw new Error("CpuMeter.stop before start");
    const seconds = (performance.now() - s.at) / 1000;
    const now = this.#ticks();
    const cores: Record<string, number> = {};
    let ours = 0;
    for (const [name, t] of Object.entries(now)) {
      const d = t - (s.ticks[name] ?? 0);
      ours += d;
      cores[name] = d / CLK_TCK / seconds;
    }
    const machine = machineTicks().busy - s.machine;
    return { seconds, cores, othersCores: Math.max(0, (machine - ours) / CLK_TCK / seconds) };
  }

  #ticks(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.#pids)) out[name] = cpuTicksOf(pid);
    return out;
  }
}
