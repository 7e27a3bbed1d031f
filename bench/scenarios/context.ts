import type { LoadGen } from "../loadgen-handle.js";
import type { BenchOptions } from "../options.js";

/** What every scenario gets from run.ts. */
export interface ScenarioContext {
  opts: BenchOptions;
  loadgen: LoadGen;
  /** A fresh temp directory for this scenario's daemons (configs, keys, stores, sockets). */
  dir: string;
  log(line: string): void;
}
