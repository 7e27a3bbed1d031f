import { describe, it } from "vitest";
import { usePostgres } from "../support/postgres.js";
import { casContract } from "./contract/cas.js";
import { leaseContract } from "./contract/lease.js";
import { linkStoreContract } from "./contract/link-store.js";
import { listContract } from "./contract/list.js";
import { postgresFactory } from "./contract/postgres-factory.js";
import { recordCacheContract } from "./contract/record-cache.js";
import { sealingContract } from "./contract/sealing.js";

// The store contract, unchanged, against a real PostgreSQL server (docs/design.md §4.5).
const server = await usePostgres();

if (typeof server === "string") {
  describe.skip(`PostgreSQL store contract (${server})`, () => it("skipped", () => undefined));
} else {
  const f = postgresFactory(server);
  linkStoreContract(f);
  casContract(f);
  leaseContract(f);
  listContract(f);
  sealingContract(f);
  recordCacheContract(f);
}
