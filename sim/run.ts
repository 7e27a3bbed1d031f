/**
 * Runs one schedule from start to finish: seed the links, apply the
 * commands (checking history after each), let faults stop, wait out a quiet
 * phase, ask once more for every link, and check (docs: sim/checks.ts).
 */
import type { LinkStore } from "../src/store/link-store.js";
import { checkCallers, checkHistory, checkQuiet, type Violation } from "./checks.js";
import type { Schedule } from "./commands.js";
import type { Use } from "./liveness.js";
import type { Gap } from "./provider-model.js";
import { LIFETIME_MS, World } from "./world.js";

/** Long enough for every wait in the engine to end once faults stop (lease, retries, answer bounds, the interrupted window). */
export const QUIET_MS = 90_000;
/** The last call per link: asks for a token that needs a refresh, with a generous deadline. */
const FINAL_MIN_VALID_MS = LIFETIME_MS - 2_000;
const FINAL_DEADLINE_MS = 30_000;

/** What a run exercised (so a census can say the checks had something to check). */
export interface Coverage {
  providerRequests: number;
  heals: number;
  failuresRecorded: number;
  /** Background refreshes ahead of expiry that sent a refresh token (docs/design.md §3.4). */
  refreshedAhead: number;
  /** Callers answered with each outcome. */
  outcomes: Record<string, number>;
}

export interface RunResult {
  coverage: Coverage;
  violations: Violation[];
  /** What each caller was answered, in the order they asked (undefined: not answered). */
  outcomes: Array<string | undefined>;
  /** Times a link had no valid access token (provider-model.ts); checked by the regressions that expect none, and in fault-free runs (liveness.ts). */
  gaps: Gap[];
  /** Every caller answered OK, by link and time: what keeps a link in use (liveness.ts). */
  uses: Use[];
  /** Timer callbacks run: the run's cost. */
  steps: number;
}

/** `exhaustive`: run to the end and report everything (the census); otherwise stop at the first violation. */
/** Opens the run's database on the clock it is given (the simulation's true time: the database's clock). */
export type OpenDb = (clock: { now(): number }) => LinkStore;

export async function runSchedule(s: Schedule, openDb: OpenDb, exhaustive = false): Promise<RunResult> {
  const world = new World(s.config, openDb);
  await world.seed();
  const history = new Map<string, { version: number; generation: number }>();
  const violations: Violation[] = [];
  const found = (): boolean => {
    violations.push(...world.provider.violations.splice(0), ...world.violations.splice(0));
    return !exhaustive && violations.length > 0;
  };
  const result = (): RunResult => ({ violations, steps: world.time.steps, outcomes: world.callers.map((c) => c.outcome), gaps: world.provider.gaps, uses: usesOf(world), coverage: coverageOf(world) });
  for (const c of s.commands) {
    await world.apply(c);
    violations.push(...(await checkHistory(world, history)));
    if (found()) return result();
  }
  world.heal();
  await world.time.runUntil(world.time.now + QUIET_MS);
  if (found()) return result();
  // The last calls and the final look run without refreshing ahead, so a background refresh
  // still on its way to the provider is not mistaken for a lost one; those running finish here.
  for (const n of world.nodes) n.engine.stopRefreshingAhead();
  const finals = new Map<string, string | undefined>();
  const calls = world.links.map((link) => {
    const live = world.nodes.filter((n) => !n.proc.dead);
    const node = live[world.rng.int(live.length)];
    return node === undefined ? undefined : { link, caller: world.obtain(node, link, FINAL_MIN_VALID_MS, FINAL_DEADLINE_MS) };
  });
  await world.time.runUntil(world.time.now + FINAL_DEADLINE_MS + 1_000);
  for (const c of calls) if (c !== undefined) finals.set(c.link, c.caller.outcome);
  found();
  violations.push(...(await checkHistory(world, history)), ...(await checkQuiet(world, finals)), ...checkCallers(world));
  return result();
}

function usesOf(world: World): Use[] {
  return world.callers.filter((c) => c.outcome === "OK").map((c) => ({ link: c.link, at: c.settledAt ?? c.startedAt }));
}

function coverageOf(world: World): Coverage {
  const outcomes: Record<string, number> = {};
  for (const c of world.callers) if (c.outcome !== undefined) outcomes[c.outcome] = (outcomes[c.outcome] ?? 0) + 1;
  return { providerRequests: world.provider.requests, heals: world.stats.heals, failuresRecorded: world.stats.failuresRecorded, refreshedAhead: world.stats.refreshedAhead, outcomes };
}
