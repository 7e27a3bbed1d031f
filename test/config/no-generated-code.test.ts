/**
 * Parsing a config compiles no code from strings (src/config/zod.ts): zod
 * runs jitless, so its object schemas are not turned into `new Function`
 * parsers on first use — which cost start-up more than it saved (issue 24)
 * and would be the daemon's one use of generated code. Every `Function`
 * construction from the moment the config modules load to the end of a
 * parse is counted: the modules are imported here for the first time in
 * this file's worker, with the counter already in place.
 */
import { describe, expect, it } from "vitest";

describe("parsing a config", () => {
  it("constructs no Function from a string, from loading the schema modules to a parsed config with providers and callers", async () => {
    const real = globalThis.Function;
    const made: string[] = [];
    const counting = new Proxy(real, {
      construct(target, args: unknown[]) {
        made.push(String(args.at(-1)).slice(0, 60));
        return Reflect.construct(target, args) as object;
      },
      apply(target, self, args: unknown[]) {
        made.push(String(args.at(-1)).slice(0, 60));
        return Reflect.apply(target, self, args) as unknown;
      },
    });
    globalThis.Function = counting;
    try {
      const { configSchema } = await import("../../src/config/schema.js");
      const { checkConfig } = await import("../../src/config/check.js");
      const raw = {
        listen: { grpc: ["tcp://127.0.0.1:0"] },
        store: { sqlite: { path: "tb.db" } },
        encryption: { keys_credential: "keys" },
        refresh: { timeout: "2s", keep_fresh_for: "1h" },
        callers: [{ name: "ci", token_sha256: "ab".repeat(32), scopes: ["token"] }],
        providers: [
          { id: "gh", type: "github", client_id: "cid", client_secret: "s3cret" },
          { id: "idp", type: "oauth2", client_id: "c2", client_secret: "s2", token_url: "https://idp.example/token" },
        ],
      };
      const { plan, problems } = checkConfig(configSchema("/etc/tokenbroker").parse(raw), "/etc/tokenbroker/config.yaml");
      // The parse really ran through the object schemas (a config with both providers and the caller).
      expect(problems).toEqual([]);
      expect(plan.providers.map((p) => p.id)).toEqual(["gh", "idp"]);
      expect(plan.callers.map((c) => c.name)).toEqual(["ci"]);
    } finally {
      globalThis.Function = real;
    }
    expect(made).toEqual([]);
  });
});
