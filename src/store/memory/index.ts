export { openMemoryStore, type MemoryStore, type MemoryStoreOptions } from "./memory-store.js";
export { MemoryDatabase, type Clock, type SentinelRow } from "./database.js";
export { PlainSealer, PLAIN_KEY_ID } from "./plain-sealer.js";
export type { MemoryLinks } from "./links.js";
export type { MemoryFlows } from "./flows.js";
export type { MemoryKeyring } from "./keyring.js";
