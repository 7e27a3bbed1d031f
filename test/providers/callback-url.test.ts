/**
 * The callback URL is built and parsed in one place (providers/callback-url.ts):
 * what StartLink sends as redirect_uri is exactly what the web listener
 * recognises, with or without a path prefix in public_url.
 */
import { describe, expect, it } from "vitest";
import { CallbackUrls } from "../../src/providers/callback-url.js";

describe("CallbackUrls", () => {
  it.each(["http://127.0.0.1:7481", "https://broker.example/", "https://broker.example/tb/prefix", "https://broker.example/tb/prefix///"])(
    "public_url %s: every built URL parses back to its provider id",
    (publicUrl) => {
      const urls = new CallbackUrls(publicUrl);
      for (const id of ["github", "corp.gitlab-2", "a b", "x/y", "ü", "%41"]) {
        const built = new URL(urls.for(id));
        expect(built.origin).toBe(new URL(publicUrl).origin);
        expect(urls.providerOf(built.pathname)).toBe(id);
      }
    },
  );

  it("builds {public_url}/oauth/{provider_id}/callback without a doubled slash", () => {
    expect(new CallbackUrls("https://b.example/tb/").for("gh")).toBe("https://b.example/tb/oauth/gh/callback");
  });

  it("other paths are not callbacks; a malformed id is told apart", () => {
    const urls = new CallbackUrls("https://b.example/tb");
    for (const path of ["/oauth/gh/callback", "/tb/oauth/gh/callback/", "/tb/oauth//callback", "/tb/oauth/a/b/callback", "/tbx/oauth/gh/callback", "/metrics"]) {
      expect(urls.providerOf(path), path).toBeUndefined();
    }
    expect(urls.providerOf("/tb/oauth/%E0%A4%A/callback")).toBeNull();
  });
});
