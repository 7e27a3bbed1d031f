/** docs/design.md §3.4's settings: refresh.keep_fresh_for and a provider's refresh_token_idle_lifetime. */
import { describe, expect, it } from "vitest";
import { load, problems, provider } from "./helpers.js";

describe("refresh.keep_fresh_for", () => {
  it("defaults to 24 h", () => {
    expect(load([]).refresh.keepFreshForMs).toBe(86_400_000);
  });

  it("0s turns refreshing ahead off; other durations are taken", () => {
    expect(load([], { refresh: { keep_fresh_for: "0s" } }).refresh.keepFreshForMs).toBe(0);
    expect(load([], { refresh: { keep_fresh_for: "1h30m" } }).refresh.keepFreshForMs).toBe(5_400_000);
  });

  it("a non-duration names the field", () => {
    expect(problems([], { refresh: { keep_fresh_for: "24" } })).toEqual(["refresh.keep_fresh_for: not a duration (use e.g. 250ms, 10s, 5m)"]);
  });
});

describe("refresh_token_idle_lifetime", () => {
  it("comes from the catalog where the provider documents it: GitHub six months (183 days), Entra 90 days", () => {
    expect(provider({ type: "github" }).refreshTokenIdleLifetimeMs).toBe(15_811_200_000);
    expect(provider({ type: "azure-devops-entra" }).refreshTokenIdleLifetimeMs).toBe(90 * 86_400_000);
  });

  it("is unset where the provider does not document one", () => {
    for (const type of ["gitlab", "bitbucket-cloud", "gitea", "azure-devops"]) expect(provider({ type }).refreshTokenIdleLifetimeMs, type).toBeUndefined();
  });

  it("the config overrides the catalog, and declares one where it has none", () => {
    expect(provider({ type: "github", refresh_token_idle_lifetime: "720h" }).refreshTokenIdleLifetimeMs).toBe(2_592_000_000);
    expect(provider({ type: "gitlab", refresh_token_idle_lifetime: "48h" }).refreshTokenIdleLifetimeMs).toBe(172_800_000);
  });

  it("below 1s, or not a duration, is refused naming the field", () => {
    expect(problems([{ id: "p", type: "gitlab", client_id: "c", client_secret: "s", refresh_token_idle_lifetime: "500ms" }])).toEqual(["providers[0].refresh_token_idle_lifetime: must be at least 1s"]);
    expect(problems([{ id: "p", type: "gitlab", client_id: "c", client_secret: "s", refresh_token_idle_lifetime: "forever" }])).toEqual(["providers[0].refresh_token_idle_lifetime: not a duration (use e.g. 250ms, 10s, 5m)"]);
  });
});
