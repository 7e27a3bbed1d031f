import { describe, expect, it } from "vitest";
import { RedirectRule } from "../../src/link/redirect-target.js";
import { ALLOWED_ORIGIN, FORBIDDEN_CHARS, KNOWN_BAD, KNOWN_GOOD, fuzzTargets, headerSafe } from "../support/redirect-targets.js";

/**
 * The redirect_after rule on its own (docs/design.md §6): whatever it
 * accepts, a browser resolving the target against public_url — the WHATWG
 * URL parser, `new URL(target, publicUrl)` — lands on public_url's origin or
 * an allow-listed one, and the Location it yields leads to the same URL.
 */

for (const publicUrl of ["http://127.0.0.1:7481", "https://broker.example/tb"]) {
  describe(`redirect_after against public_url ${publicUrl}`, () => {
    const rule = new RedirectRule(publicUrl, [ALLOWED_ORIGIN]);
    const publicOrigin = new URL(publicUrl).origin;
    const allowed = new Set([publicOrigin, ALLOWED_ORIGIN]);
    // Where the browser is when it reads the Location header.
    const callbackUrl = `${publicUrl}/oauth/gh/callback?state=s&code=c`;

    /** What a browser does with the target if sent raw, and with the Location the rule yields. */
    function expectSafe(target: string, location: string): void {
      const resolved = new URL(target, publicUrl);
      expect(allowed.has(resolved.origin), JSON.stringify(target)).toBe(true);
      expect(["http:", "https:"]).toContain(resolved.protocol);
      expect(resolved.username + resolved.password, JSON.stringify(target)).toBe("");
      expect(headerSafe(location), JSON.stringify(location)).toBe(true);
      expect(new URL(location, callbackUrl).href, JSON.stringify(target)).toBe(resolved.href);
    }

    it("refuses the known tricks", () => {
      for (const target of KNOWN_BAD) expect(rule.judge(target).allowed, JSON.stringify(target)).toBe(false);
    });

    it("refuses every control, whitespace and format character and the backslash, wherever it stands", () => {
      for (const c of FORBIDDEN_CHARS) {
        for (const target of [`${c}/ok`, `/o${c}k`, `/ok${c}`, `/ok?q=${c}`, `/ok#${c}`, `${ALLOWED_ORIGIN}/${c}`]) {
          expect(rule.judge(target), JSON.stringify(target)).toMatchObject({ allowed: false, problem: "must not contain control characters, whitespace or a backslash" });
        }
      }
    });

    it("names the problem without characters grpc-js would percent-encode", () => {
      for (const target of KNOWN_BAD) {
        const verdict = rule.judge(target);
        if (verdict.allowed) throw new Error(`accepted ${JSON.stringify(target)}`);
        expect(verdict.problem).not.toMatch(/[=&/?#]/);
      }
    });

    it("accepts relative paths and allow-listed origins, and sends the resolved URL, never the raw string", () => {
      for (const { target, location } of KNOWN_GOOD) {
        const expected = location.replace("{public}", publicOrigin);
        // A path-relative target resolves against public_url's own path.
        const want = expected.startsWith("/") ? new URL(target, publicUrl).href.slice(publicOrigin.length) : expected;
        expect(rule.judge(target), JSON.stringify(target)).toEqual({ allowed: true, location: want });
        expectSafe(target, want);
      }
    });

    it("a target on public_url's origin that resolves to a path starting with // is sent in full", () => {
      const verdict = rule.judge("/.//evil.example/x");
      expect(verdict).toEqual({ allowed: true, location: `${publicOrigin}//evil.example/x` });
      if (verdict.allowed) expect(new URL(verdict.location, callbackUrl).origin).toBe(publicOrigin);
    });

    it("`https:evil.example` is what the browser makes of it: another host under an http public_url, a path under an https one", () => {
      for (const target of ["https:evil.example", "https:/evil.example"]) {
        const verdict = rule.judge(target);
        if (publicOrigin.startsWith("https:")) expect(verdict).toEqual({ allowed: true, location: new URL(target, publicUrl).pathname });
        else expect(verdict.allowed).toBe(false);
      }
    });

    it("fuzz: 25,000 spliced targets; everything accepted stays on an allowed origin as a browser resolves it", () => {
      let accepted = 0;
      let refused = 0;
      for (const target of fuzzTargets()) {
        const verdict = rule.judge(target);
        if (!verdict.allowed) {
          refused++;
          continue;
        }
        accepted++;
        expect(/[\p{Cc}\p{Cf}\p{White_Space}\\]/u.test(target), JSON.stringify(target)).toBe(false);
        expectSafe(target, verdict.location);
      }
      // Both sides of the rule are exercised, not only refusals.
      expect(accepted).toBeGreaterThan(1000);
      expect(refused).toBeGreaterThan(1000);
    });

    it("an allow-list entry with a path or port is judged by its origin", () => {
      const r = new RedirectRule(publicUrl, ["https://portal.example.com:8443/some/path", "not a url"]);
      expect(r.judge("https://portal.example.com:8443/done")).toEqual({ allowed: true, location: "https://portal.example.com:8443/done" });
      expect(r.judge("https://portal.example.com/done").allowed).toBe(false);
    });
  });
}
