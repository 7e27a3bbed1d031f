import type { RefreshSettings } from "../config/config.js";
import { refreshedTokenRejected } from "../errors/index.js";
import type { Logger } from "../log.js";
import { validateToken } from "../oauth/index.js";
import type { ProviderEntry } from "../providers/index.js";
import type { LinkKey, LinkRecord } from "../store/link-store.js";
import { noteProviderContacted, type CallScope } from "../audit/call-scope.js";
import type { Clock } from "./clock.js";
import type { EngineEvents } from "./engine-events.js";

const RATE_LIMIT_WARNING_EVERY_MS = 60_000;

/**
 * Invariant 8 (docs/design.md §3): a freshly refreshed token is checked at
 * the provider's validate URL, once, after it was committed — never on every
 * call, and never so that a failure discards what was stored.
 */
export class Validator {
  readonly #lastRateLimitWarning = new Map<string, number>();

  constructor(
    private readonly settings: Pick<RefreshSettings, "validate" | "timeoutMs">,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly events: Pick<EngineEvents, "rateLimitRemaining">,
  ) {}

  async validate(key: LinkKey, provider: ProviderEntry, rec: LinkRecord, cause: CallScope | undefined): Promise<void> {
    const url = provider.config.validateUrl;
    if (!this.settings.validate || url === undefined) return;
    noteProviderContacted(cause);
    const result = await validateToken(url, rec.accessToken, { timeoutMs: this.settings.timeoutMs, quirks: provider.config.quirks });
    if (result.rateLimitRemaining !== undefined) this.events.rateLimitRemaining(provider.config.id, result.rateLimitRemaining);
    switch (result.outcome) {
      case "valid":
      case "unknown":
        return;
      case "rate_limited": {
        const now = this.clock.now();
        if (now - (this.#lastRateLimitWarning.get(provider.config.id) ?? -Infinity) >= RATE_LIMIT_WARNING_EVERY_MS) {
          this.#lastRateLimitWarning.set(provider.config.id, now);
          this.log.warn({ provider: provider.config.id, status: result.status }, "validation rate limited; treating the refreshed token as valid");
        }
        return;
      }
      case "invalid":
        this.log.warn({ provider: provider.config.id, user: key.userId, status: result.status }, "the provider rejected a freshly refreshed token");
        throw refreshedTokenRejected(result.status, this.clock.now());
    }
  }
}
