/**
 * The load-generator process (forked by the bench parent): runs one job at
 * a time from IPC and answers with its result. It exits when the parent
 * disconnects.
 */
import type { FromChild, ToChild } from "../protocol.js";
import { runBurst } from "./burst.js";
import { runImport } from "./import.js";
import { runLoad } from "./load.js";

if (process.send === undefined) {
  process.stderr.write("bench/loadgen/main.js runs as a child of bench/run.js (it needs an IPC channel)\n");
  process.exit(2);
}
const reply = (m: FromChild): void => {
  process.send!(m);
};

process.on("message", (m: ToChild) => {
  const { id, job } = m;
  const work = job.kind === "load" ? runLoad(job) : job.kind === "burst" ? runBurst(job) : runImport(job);
  work.then(
    (result) => reply({ id, ok: true, result }),
    (err: unknown) => reply({ id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
process.on("disconnect", () => process.exit(0));
reply({ ready: true });
