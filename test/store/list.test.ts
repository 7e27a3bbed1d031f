import { listContract } from "./contract/list.js";
import { sqliteFactory } from "./contract/sqlite-factory.js";

listContract(sqliteFactory);
