// Preloaded (node --import) into one daemon of a fleet test: its clock runs
// TOKENBROKER_TEST_SKEW_MS ahead and it calls itself another host, so its
// judgement of other daemons' leases rests on the lease's expiry alone
// (docs/design.md §3 invariant 14) — which the store keeps in the
// database's clock.
import os from "node:os";
import { syncBuiltinESMExports } from "node:module";

const skew = Number(process.env.TOKENBROKER_TEST_SKEW_MS ?? "600000");
const realNow = Date.now;
Date.now = () => realNow() + skew;
const host = `skewed-${os.hostname()}`;
os.hostname = () => host;
syncBuiltinESMExports();
