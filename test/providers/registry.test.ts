/**
 * One registry of the configured providers: lookups answer PROVIDER_NOT_FOUND
 * through the one constructor, MatchProvider takes the first regex in config
 * order, and each provider has exactly one gate and one redirect URI.
 */
import { describe, expect, it } from "vitest";
import { BrokerError, Reason } from "../../src/errors/index.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import { load } from "../config/helpers.js";

const config = load([
  { id: "gh", type: "github", client_id: "a", client_secret: "s1" },
  { id: "corp", type: "gitlab", client_id: "b", client_secret: "s2", auth_url: "https://git.corp.example/oauth/authorize" },
  { id: "catch-all", type: "oauth2", client_id: "c", client_secret: "s3", token_url: "https://idp.example/token", regex: "^https://" },
]);
const refresh = { providerConcurrency: 2, misconfiguredBackoffMs: 100 };

function registry(): ProviderRegistry {
  return new ProviderRegistry(config.providers, { publicUrl: "https://broker.example/tb", refresh, misconfiguredMaxBackoffMs: 300 });
}

function thrown(f: () => unknown): BrokerError {
  try {
    f();
  } catch (e) {
    if (e instanceof BrokerError) return e;
    throw e;
  }
  throw new Error("expected a BrokerError");
}

describe("ProviderRegistry", () => {
  it("lists the providers in config order and finds each by id", () => {
    const r = registry();
    expect(r.all().map((e) => e.config.id)).toEqual(["gh", "corp", "catch-all"]);
    expect(r.require("corp").config.clientId).toBe("b");
    expect(r.get("nope")).toBeUndefined();
  });

  it("an unknown id and an unmatched URL are PROVIDER_NOT_FOUND with a hint", () => {
    const r = registry();
    const unknown = thrown(() => r.require("nope"));
    expect(unknown.reason).toBe(Reason.PROVIDER_NOT_FOUND);
    expect(unknown.message).toContain('"nope"');
    expect(unknown.detail.hint).toMatch(/ListProviders/);
    const unmatched = thrown(() => r.match("ssh://elsewhere.example/repo.git"));
    expect(unmatched.reason).toBe(Reason.PROVIDER_NOT_FOUND);
    expect(unmatched.detail.hint).toMatch(/ListProviders/);
  });

  it("MatchProvider: the first provider in config order whose regex matches", () => {
    const r = registry();
    expect(r.match("https://github.com/acme/app.git").config.id).toBe("gh");
    expect(r.match("https://git.corp.example/group/app").config.id).toBe("corp");
    expect(r.match("https://anything.example/").config.id).toBe("catch-all");
  });

  it("each provider has its own gate and its redirect URI", () => {
    const r = registry();
    const [gh, corp] = [r.require("gh"), r.require("corp")];
    expect(gh.redirectUri).toBe("https://broker.example/tb/oauth/gh/callback");
    expect(r.callbacks.providerOf(new URL(corp.redirectUri).pathname)).toBe("corp");

    // The breaker of one provider leaves the others alone; its backoff doubles up to the cap.
    const now = 1_000_000;
    expect(gh.gate.markMisconfigured("invalid_client", now)).toBe(100);
    expect(gh.gate.markMisconfigured("invalid_client", now)).toBe(200);
    expect(gh.gate.markMisconfigured("invalid_client", now)).toBe(300);
    expect(gh.gate.markMisconfigured("invalid_client", now)).toBe(300);
    expect(gh.gate.misconfigured(now)?.reason).toBe("invalid_client");
    expect(corp.gate.misconfigured(now)).toBeUndefined();
    // The same entry (and gate) every time it is looked up.
    expect(r.require("gh").gate).toBe(gh.gate);
  });

  it("the concurrency limit is per provider", async () => {
    const r = registry();
    const gh = r.require("gh").gate;
    const held = [await gh.acquire(), await gh.acquire()];
    let third = false;
    const waiting = gh.acquire().then((release) => {
      third = true;
      return release;
    });
    // Another provider's slots are free while gh's are taken.
    const corpSlot = await r.require("corp").gate.acquire();
    await new Promise((resolve) => setImmediate(resolve));
    expect(third).toBe(false);
    held[0]!();
    (await waiting)();
    expect(third).toBe(true);
    held[1]!();
    corpSlot();
    expect(gh.peakInFlight).toBe(2);
  });
});
