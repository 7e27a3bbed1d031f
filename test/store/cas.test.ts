import { casContract } from "./contract/cas.js";
import { sqliteFactory } from "./contract/sqlite-factory.js";

casContract(sqliteFactory);
