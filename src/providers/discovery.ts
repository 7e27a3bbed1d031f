import type { ProviderConfig } from "../config/config.js";
import { applyDiscovery, discoverOidc } from "../oauth/index.js";

/** oidc providers: endpoints from the issuer's discovery document, once, at start (and in `check-config --online`). */
export async function discoverProviders(providers: ProviderConfig[], timeoutMs: number): Promise<ProviderConfig[]> {
  return Promise.all(
    providers.map(async (p) => {
      if (p.pendingDiscovery === undefined) return p;
      try {
        return applyDiscovery(p, await discoverOidc(p.pendingDiscovery.issuer, { timeoutMs }));
      } catch (err) {
        throw new Error(`provider ${p.id}: OIDC discovery at ${p.pendingDiscovery.issuer} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
}
