import { describe, expect, it } from "vitest";
import { migrations as postgresMigrations } from "../../src/store/postgres/index.js";
import { migrations as sqliteMigrations } from "../../src/store/sqlite/index.js";

// Version N means the same tables and columns on SQLite and PostgreSQL (docs/design.md §4.5):
// `store migrate` copies rows as stored and checks both sides are at this build's version, so a
// migration added to one store alone would let it copy into a schema that lacks a column.
describe("the SQLite and PostgreSQL migration lists", () => {
  it("keep in step: the same count, the same numbered versions, the same names", () => {
    const outline = (list: typeof sqliteMigrations) => list.map((m) => ({ version: m.version, name: m.name }));
    expect(outline(postgresMigrations)).toEqual(outline(sqliteMigrations));
    expect(sqliteMigrations.map((m) => m.version)).toEqual(sqliteMigrations.map((_, i) => i + 1));
  });
});
