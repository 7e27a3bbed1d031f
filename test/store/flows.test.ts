import { flowContract } from "./contract/flows.js";
import { sqliteFactory } from "./contract/sqlite-factory.js";

flowContract(sqliteFactory);
