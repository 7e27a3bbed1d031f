import type { RefreshSettings } from "../config/config.js";
import type { Logger } from "../log.js";
import type { TokenSet } from "../oauth/index.js";
import type { ProviderEntry } from "../providers/index.js";
import type { LinkKey, LinkStore } from "../store/link-store.js";
import type { Clock } from "./clock.js";
import type { EngineEvents } from "./engine-events.js";
import type { OwnerIdentity, ProcessProbe } from "./lease-owner.js";
import type { PendingCommits } from "./pending-commits.js";
import type { Random } from "./random.js";
import type { RecentFailures } from "./recent-failures.js";
import type { TokenEndpoint } from "./token-endpoint.js";
import type { Validator } from "./validator.js";

/** What one refresh attempt works with: the engine's parts, built once by RefreshEngine. */
export interface RefreshDeps {
  store: LinkStore;
  settings: RefreshSettings;
  log: Logger;
  clock: Clock;
  random: Random;
  endpoint: TokenEndpoint;
  identity: OwnerIdentity;
  owner: string;
  probe: ProcessProbe;
  leaseTtlMs: number;
  leasePollMs: number;
  pending: PendingCommits;
  failures: RecentFailures;
  validator: Validator;
  events: EngineEvents;
  /** Runs work the engine tracks beyond the call that started it (drained at shutdown). */
  background: (work: Promise<unknown>) => void;
  /** Tokens issued for a link deleted meanwhile belong to no one. */
  revokeOrphan: (key: LinkKey, provider: ProviderEntry, tokens: TokenSet) => void;
}
