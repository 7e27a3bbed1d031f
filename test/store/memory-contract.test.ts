import { casContract } from "./contract/cas.js";
import { flowContract } from "./contract/flows.js";
import { keyringContract } from "./contract/keyring.js";
import { leaseContract } from "./contract/lease.js";
import { linkStoreContract } from "./contract/link-store.js";
import { listContract } from "./contract/list.js";
import { memoryFactory } from "./contract/memory-factory.js";
import { recordCacheContract } from "./contract/record-cache.js";
import { sealingContract } from "./contract/sealing.js";

// The store contract, unchanged, against the in-memory store (store/memory/).
linkStoreContract(memoryFactory);
casContract(memoryFactory);
leaseContract(memoryFactory);
listContract(memoryFactory);
sealingContract(memoryFactory);
keyringContract(memoryFactory);
flowContract(memoryFactory);
recordCacheContract(memoryFactory);
