import { describe, it } from "vitest";
import { usePostgres } from "../support/postgres.js";
import { casContract } from "./contract/cas.js";
import { flowContract } from "./contract/flows.js";
import { keyringContract } from "./contract/keyring.js";
import { leaseContract } from "./contract/lease.js";
import { linkStoreContract } from "./contract/link-store.js";
import { listContract } from "./contract/list.js";
import { postgresFactory } from "./contract/postgres-factory.js";
import { recordCacheContract } from "./contract/record-cache.js";
import { sealingContract } from "./contract/sealing.js";

// The store contract, unchanged, against a real PostgreSQL server (docs/design.md §4.5).
// In CI the server is not optional: .ci/run provides TOKENBROKER_TEST_PG_URL, and a CI run
// without it would pass while proving nothing about the fleet's store.
const ciWithoutServer = process.env["CI"] !== undefined && process.env["CI"] !== "" && (process.env["TOKENBROKER_TEST_PG_URL"] ?? "") === "";
const server = ciWithoutServer ? undefined : await usePostgres();

if (server === undefined) {
  describe("PostgreSQL store contract", () =>
    it("runs in CI", () => {
      throw new Error("CI is set but TOKENBROKER_TEST_PG_URL is not: the PostgreSQL store contract must run in CI (.ci/run starts a server and sets it)");
    }));
} else if (typeof server === "string") {
  describe.skip(`PostgreSQL store contract (${server})`, () => it("skipped", () => undefined));
} else {
  const f = postgresFactory(server);
  linkStoreContract(f);
  casContract(f);
  leaseContract(f);
  listContract(f);
  sealingContract(f);
  keyringContract(f);
  flowContract(f);
  recordCacheContract(f);
}
