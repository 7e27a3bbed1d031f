import { keyringContract } from "./contract/keyring.js";
import { sqliteFactory } from "./contract/sqlite-factory.js";

keyringContract(sqliteFactory);
