import { describe, expect, it } from "vitest";
import { redactUrl } from "../../src/redact.js";
import { load, problems, secretFile } from "./helpers.js";

const PASSWORD = "s3cr3t-pg-pässword";
const URL_WITH_PASSWORD = `postgres://tokenbroker:${encodeURIComponent(PASSWORD)}@db.internal:5432/tokenbroker`;

describe("store.postgres", () => {
  it("reads the URL from a file; the password is only in the resolved url, never in redactedUrl", () => {
    const file = secretFile("pg-url", `${URL_WITH_PASSWORD}\n`);
    const c = load([], { store: { postgres: { url_file: file, pool_size: 4, statement_timeout: "3s" } } });
    expect(c.store.kind).toBe("postgres");
    expect(c.store).toMatchObject({ url: URL_WITH_PASSWORD, poolSize: 4, statementTimeoutMs: 3000, lockTimeoutMs: 2000, cacheEntries: 10_000, listen: true });
    // The client-side deadline follows statement_timeout unless set: a second beyond it.
    expect(c.store).toMatchObject({ queryTimeoutMs: 4000, connectTimeoutMs: 5000, listenFreshnessMs: 3000 });
    expect((c.store.kind === "postgres" ? c.store.redactedUrl : undefined)).toBe("postgres://tokenbroker:redacted@db.internal:5432/tokenbroker");
    expect(JSON.stringify((c.store.kind === "postgres" ? c.store.redactedUrl : undefined))).not.toContain(encodeURIComponent(PASSWORD));
  });

  it("takes query_timeout, connect_timeout and listen_freshness", () => {
    const file = secretFile("pg-url-3", URL_WITH_PASSWORD);
    const c = load([], { store: { postgres: { url_file: file, query_timeout: "12s", connect_timeout: "2s", listen_freshness: "1500ms" } } });
    expect(c.store).toMatchObject({ statementTimeoutMs: 5000, queryTimeoutMs: 12_000, connectTimeoutMs: 2000, listenFreshnessMs: 1500 });
  });

  it.each([
    [{ statement_timeout: "5s", query_timeout: "5s" }, "store.postgres.query_timeout: must be longer than statement_timeout (5s), so a server that is there answers first"],
    [{ listen_freshness: "200ms" }, "store.postgres.listen_freshness: must be at least 300ms (a heartbeat goes out every third of it)"],
  ])("refuses %j", (over, message) => {
    const file = secretFile("pg-url-4", URL_WITH_PASSWORD);
    expect(problems([], { store: { postgres: { url_file: file, ...over } } })).toEqual([message]);
  });

  it("from a systemd credential, which needs CREDENTIALS_DIRECTORY", () => {
    expect(problems([], { store: { postgres: { url_credential: "cred-pg-url" } } })).toEqual([
      "store.postgres.url_credential: CREDENTIALS_DIRECTORY is not set (not running under systemd with LoadCredential)",
    ]);
  });

  it.each([
    ["both stores", { sqlite: { path: "/tmp/x.db" }, postgres: { url_file: "/nonexistent" } }, /exactly one of store\.sqlite or store\.postgres/],
    ["neither", {}, /exactly one of store\.sqlite or store\.postgres/],
    ["an inline url", { postgres: { url: URL_WITH_PASSWORD } }, /store\.postgres: unknown field "url"/],
    ["no url source", { postgres: {} }, /exactly one of url_file or url_credential/],
    ["both url sources", { postgres: { url_file: "/a", url_credential: "b" } }, /exactly one of url_file or url_credential/],
    ["an unreadable url file", { postgres: { url_file: "/nonexistent/pg-url" } }, /store\.postgres\.url_file: cannot read \/nonexistent\/pg-url/],
    ["verify-full without a CA", { postgres: { url_file: "PGURL", ssl: { mode: "verify-full" } } }, /store\.postgres\.ssl\.ca_file: needed for mode verify-full/],
  ])("refuses %s with a clear message that never shows the password", (_name, store, message) => {
    const file = secretFile("pg-url-2", URL_WITH_PASSWORD);
    const resolved = JSON.parse(JSON.stringify(store).replace("PGURL", file)) as Record<string, unknown>;
    const got = problems([], { store: resolved });
    expect(got.join("\n")).toMatch(message);
    expect(got.join("\n")).not.toContain(PASSWORD);
    expect(got.join("\n")).not.toContain(encodeURIComponent(PASSWORD));
  });

  it("a file that holds no postgres URL is named without showing what it holds", () => {
    const file = secretFile("pg-url-bad", `mysql://u:${encodeURIComponent(PASSWORD)}@h/db`);
    const got = problems([], { store: { postgres: { url_file: file } } });
    expect(got).toEqual(["store.postgres: the URL read is not a postgres:// URL (mysql://u:redacted@h/db)"]);
  });

  it("redactUrl hides a password in the userinfo and in query parameters", () => {
    expect(redactUrl(`postgresql://u:${PASSWORD}@h/db?sslmode=require&password=${PASSWORD}`)).toBe("postgresql://u:redacted@h/db?sslmode=require&password=redacted");
    expect(redactUrl("not a url")).toBe("<unparsable URL>");
  });
});
