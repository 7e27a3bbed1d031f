import { leaseContract } from "./contract/lease.js";
import { sqliteFactory } from "./contract/sqlite-factory.js";

leaseContract(sqliteFactory);
