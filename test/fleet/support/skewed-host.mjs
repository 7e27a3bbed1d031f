// Preloaded (node --import) into one daemon of a fleet test: its clock runs
// TOKENBROKER_TEST_SKEW_MS ahead and it calls itself another host, so its
// judgement of other daemons' leases rests on the lease's expiry alone
// (docs/design.md §3 invariants 10 and 13) — which the store keeps in the
// database's clock.
//
// A clock that steps after start (an NTP step, a VM resumed): with
// TOKENBROKER_TEST_CLOCK_FILE set, SIGUSR2 makes it read the file (a whole
// number of ms) as its new skew, and it writes that number to
// `<file>.applied` once its clock shows it, for the test to await. Only wall
// time steps (Date.now and `new Date()`); timers and performance.now are
// monotonic, as in the kernel.
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { syncBuiltinESMExports } from "node:module";

let skew = Number(process.env.TOKENBROKER_TEST_SKEW_MS ?? "600000");
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);
const now = () => realNow() + skew;
RealDate.now = now;
class SteppedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(now());
    else super(...args);
  }
}
SteppedDate.now = now;
globalThis.Date = SteppedDate;

const host = `skewed-${os.hostname()}`;
os.hostname = () => host;
syncBuiltinESMExports();

const clockFile = process.env.TOKENBROKER_TEST_CLOCK_FILE;
if (clockFile !== undefined && clockFile !== "") {
  process.on("SIGUSR2", () => {
    const next = Number(readFileSync(clockFile, "utf8").trim());
    if (!Number.isSafeInteger(next)) return;
    skew = next;
    writeFileSync(`${clockFile}.applied`, String(next));
  });
}
