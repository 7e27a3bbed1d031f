/**
 * The fake provider's fault-test additions, tested on their own with plain
 * HTTP: odd-but-rotating 2xx answers, holding a request on arrival, and the
 * reuse grace window. The daemon suites in this folder rely on each.
 */
import { describe, expect, it } from "vitest";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";


async function refresh(f: FakeProvider, refreshToken: string): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(f.tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: f.clientId, client_secret: f.clientSecret }),
  });
  return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}

const json = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;

describe("oddSuccess: a rotating 2xx with an odd body", () => {
  it("processes the refresh (spends the presented token, mints a pair) and answers the built body", async () => {
    const f = await useFakeProvider();
    const seed = f.issue();
    f.failNext(1, { oddSuccess: (t) => ({ access_token: t.accessToken, refresh_token: t.refreshToken, expires_in: "abc", token_type: 5 }), status: 203 });
    const odd = await refresh(f, seed.refreshToken);
    expect(odd.status).toBe(203);
    const body = json(odd.text);
    expect(body).toMatchObject({ expires_in: "abc", token_type: 5 });
    expect(f.isValid(body.access_token as string)).toBe(true);
    expect(body.refresh_token).not.toBe(seed.refreshToken);
    expect(f.refreshes).toBe(1);
    // The presented token is spent; the odd answer's token is the live one.
    expect((await refresh(f, seed.refreshToken)).status).toBe(400);
    expect(f.replays).toBe(1);
  });

  it("the odd answer's refresh token refreshes normally", async () => {
    const f = await useFakeProvider();
    f.failNext(1, { oddSuccess: (t) => ({ refresh_token: t.refreshToken, access_token: "" }) });
    const odd = json((await refresh(f, f.issue().refreshToken)).text);
    const next = await refresh(f, odd.refresh_token as string);
    expect(next.status).toBe(200);
    expect(f.refreshes).toBe(2);
    expect(f.replays).toBe(0);
  });

  it("numericRefreshToken mints 15 digits that survive a trip as a JSON number", async () => {
    const f = await useFakeProvider();
    f.failNext(1, { oddSuccess: (t) => ({ access_token: t.accessToken, refresh_token: Number(t.refreshToken) }), numericRefreshToken: true });
    const odd = json((await refresh(f, f.issue().refreshToken)).text);
    expect(typeof odd.refresh_token).toBe("number");
    expect(String(odd.refresh_token)).toMatch(/^[1-9]\d{14}$/);
    expect((await refresh(f, String(odd.refresh_token))).status).toBe(200);
  });

  it("formEncoded answers application/x-www-form-urlencoded, non-strings as JSON text", async () => {
    const f = await useFakeProvider();
    f.failNext(1, { oddSuccess: (t) => ({ access_token: t.accessToken, refresh_token: t.refreshToken, expires_in: -100, token_type: null }), formEncoded: true });
    const odd = await refresh(f, f.issue().refreshToken);
    expect(odd.type).toMatch(/^application\/x-www-form-urlencoded/);
    const form = new URLSearchParams(odd.text);
    expect(form.get("expires_in")).toBe("-100");
    expect(form.get("token_type")).toBe("null");
    expect(f.isValid(form.get("access_token")!)).toBe(true);
  });

  it("a spent token presented with an oddSuccess fault queued gets the usual refusal", async () => {
    const f = await useFakeProvider();
    const seed = f.issue();
    expect((await refresh(f, seed.refreshToken)).status).toBe(200);
    f.failNext(1, { oddSuccess: (t) => ({ access_token: t.accessToken }) });
    const again = await refresh(f, seed.refreshToken);
    expect(again.status).toBe(400);
    expect(json(again.text).error).toBe("invalid_grant");
    expect(f.replays).toBe(1);
  });
});

describe("holdNextTokenRequest", () => {
  it("holds a request after it arrived and before it is processed, until released", async () => {
    const f = await useFakeProvider();
    const seed = f.issue();
    const held = f.holdNextTokenRequest();
    let answered = false;
    void held.answered.then(() => (answered = true));
    const pending = refresh(f, seed.refreshToken);
    const arrival = await held.arrived;
    expect(arrival).toEqual({ index: 1, grantType: "refresh_token", presentedRefreshToken: seed.refreshToken });
    await new Promise((r) => setTimeout(r, 100));
    expect(f.refreshes).toBe(0);
    expect(answered).toBe(false);
    held.release();
    expect((await pending).status).toBe(200);
    await held.answered;
    expect(f.refreshes).toBe(1);
  });

  it("holds queue up in arrival order, and a fault applies after the release", async () => {
    const f = await useFakeProvider();
    const first = f.holdNextTokenRequest();
    const second = f.holdNextTokenRequest();
    f.failNext(1, { status: 503, retryAfterSec: 2 });
    const a = refresh(f, f.issue().refreshToken);
    expect((await first.arrived).index).toBe(1);
    const b = refresh(f, f.issue().refreshToken);
    expect((await second.arrived).index).toBe(2);
    second.release();
    expect((await b).status).toBe(200);
    first.release();
    expect((await a).status).toBe(503);
  });

  it("a request whose client went away while held is still processed: the token rotates, the answer is lost", async () => {
    const f = await useFakeProvider();
    const seed = f.issue();
    const held = f.holdNextTokenRequest();
    const abort = new AbortController();
    const pending = fetch(f.tokenUrl, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: seed.refreshToken, client_id: f.clientId, client_secret: f.clientSecret }),
      signal: abort.signal,
    }).catch((e: unknown) => e);
    await held.arrived;
    abort.abort();
    await pending;
    held.release();
    await held.answered;
    expect(f.refreshes).toBe(1);
    expect((await refresh(f, seed.refreshToken)).status).toBe(400);
    expect(f.replays).toBe(1);
  });
});

describe("reuseGraceSec: the provider's reuse grace window", () => {
  it("accepts the previous refresh token once inside the window, with a new pair, not as a replay", async () => {
    const f = await useFakeProvider({ reuseGraceSec: 30 });
    const seed = f.issue();
    const lost = json((await refresh(f, seed.refreshToken)).text); // the answer a crashed client never read
    const retried = await refresh(f, seed.refreshToken);
    expect(retried.status).toBe(200);
    const pair = json(retried.text);
    expect(pair.refresh_token).not.toBe(lost.refresh_token);
    expect(f.isValid(pair.access_token as string)).toBe(true);
    expect(f.graceReuses).toBe(1);
    expect(f.replays).toBe(0);
    // Once only: a second reuse is reuse detection again, and kills the family.
    expect((await refresh(f, seed.refreshToken)).status).toBe(400);
    expect(f.replays).toBe(1);
    expect(f.isValid(pair.access_token as string)).toBe(false);
  });

  it("the grace answer supersedes the pair it replaces, and its own refresh token rotates on", async () => {
    const f = await useFakeProvider({ reuseGraceSec: 30 });
    const seed = f.issue();
    const lost = json((await refresh(f, seed.refreshToken)).text);
    const pair = json((await refresh(f, seed.refreshToken)).text);
    expect((await refresh(f, pair.refresh_token as string)).status).toBe(200);
    expect(f.replays).toBe(0);
    expect((await refresh(f, lost.refresh_token as string)).status).toBe(400);
    expect(f.replays).toBe(1);
  });

  it("outside the window the previous token is a replay", async () => {
    const f = await useFakeProvider({ reuseGraceSec: 0.2 });
    const seed = f.issue();
    await refresh(f, seed.refreshToken);
    await new Promise((r) => setTimeout(r, 300));
    expect((await refresh(f, seed.refreshToken)).status).toBe(400);
    expect(f.graceReuses).toBe(0);
    expect(f.replays).toBe(1);
  });

  it("only the token right before the current one is covered, not older ones", async () => {
    const f = await useFakeProvider({ reuseGraceSec: 30 });
    const seed = f.issue();
    const second = json((await refresh(f, seed.refreshToken)).text);
    await refresh(f, second.refresh_token as string);
    expect((await refresh(f, seed.refreshToken)).status).toBe(400);
    expect(f.replays).toBe(1);
  });

  it("without a window (the default) the previous token is a replay at once", async () => {
    const f = await useFakeProvider();
    const seed = f.issue();
    await refresh(f, seed.refreshToken);
    expect((await refresh(f, seed.refreshToken)).status).toBe(400);
    expect(f.replays).toBe(1);
  });
});
