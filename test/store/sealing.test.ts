import { sealingContract } from "./contract/sealing.js";
import { sqliteFactory } from "./contract/sqlite-factory.js";

sealingContract(sqliteFactory);
