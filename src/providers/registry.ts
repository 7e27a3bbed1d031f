import type { ProviderConfig, RefreshSettings } from "../config/config.js";
import { providerNotFound } from "../errors/index.js";
import { CallbackUrls } from "./callback-url.js";
import { ProviderGate } from "./provider-gate.js";

/** Everything the daemon knows about one configured provider. */
export interface ProviderEntry {
  readonly config: ProviderConfig;
  /** Its concurrency limit and misconfiguration breaker, shared by every caller in this process. */
  readonly gate: ProviderGate;
  /** `{public_url}/oauth/{id}/callback`; legacy Azure DevOps also wants it on refresh. */
  readonly redirectUri: string;
}

export interface RegistryOptions {
  publicUrl: string;
  refresh: Pick<RefreshSettings, "providerConcurrency" | "misconfiguredBackoffMs">;
  /** Cap of the breaker's doubling backoff (default 10 minutes; never below misconfiguredBackoffMs). */
  misconfiguredMaxBackoffMs?: number;
}

const DEFAULT_MISCONFIGURED_MAX_BACKOFF_MS = 600_000;

/**
 * The configured providers, built once by the composition root and handed
 * to the engine, the link flows, the services and the metrics, so that each
 * provider has one gate and one redirect URI in the whole process.
 */
export class ProviderRegistry {
  readonly callbacks: CallbackUrls;
  readonly #entries: ReadonlyMap<string, ProviderEntry>;
  readonly #inOrder: readonly ProviderEntry[];

  constructor(providers: readonly ProviderConfig[], opts: RegistryOptions) {
    this.callbacks = new CallbackUrls(opts.publicUrl);
    const initialMs = opts.refresh.misconfiguredBackoffMs;
    const backoff = { initialMs, maxMs: Math.max(initialMs, opts.misconfiguredMaxBackoffMs ?? DEFAULT_MISCONFIGURED_MAX_BACKOFF_MS) };
    this.#entries = new Map(
      providers.map((config) => {
        const entry: ProviderEntry = {
          config,
          gate: new ProviderGate(opts.refresh.providerConcurrency, backoff),
          redirectUri: this.callbacks.for(config.id),
        };
        return [config.id, entry];
      }),
    );
    this.#inOrder = [...this.#entries.values()];
  }

  get(id: string): ProviderEntry | undefined {
    return this.#entries.get(id);
  }

  /** The entry, or PROVIDER_NOT_FOUND. */
  require(id: string): ProviderEntry {
    const entry = this.#entries.get(id);
    if (entry === undefined) throw providerNotFound(id);
    return entry;
  }

  /** In config order. */
  all(): readonly ProviderEntry[] {
    return this.#inOrder;
  }

  /** MatchProvider: the first provider in config order whose regex matches `url`, or PROVIDER_NOT_FOUND. */
  match(url: string): ProviderEntry {
    for (const entry of this.#inOrder) if (entry.config.regex?.test(url) === true) return entry;
    throw providerNotFound();
  }
}
