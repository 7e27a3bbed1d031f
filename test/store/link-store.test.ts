import { linkStoreContract } from "./contract/link-store.js";
import { sqliteFactory } from "./contract/sqlite-factory.js";

linkStoreContract(sqliteFactory);
