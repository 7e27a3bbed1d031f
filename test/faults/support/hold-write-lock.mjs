// Another process holding SQLite's write lock: opens the database, takes
// BEGIN IMMEDIATE (the RESERVED lock every writer needs; WAL readers go on),
// says "locked", holds it for the given milliseconds, rolls back, says
// "released" and exits. Usage: node hold-write-lock.mjs <db path> <hold ms>
import { createRequire } from "node:module";

const Database = createRequire(import.meta.url)("better-sqlite3");
const [path, holdMs] = process.argv.slice(2);
const db = new Database(path, { timeout: 10_000 });
db.exec("BEGIN IMMEDIATE");
process.stdout.write("locked\n");
setTimeout(() => {
  db.exec("ROLLBACK");
  db.close();
  process.stdout.write("released\n");
}, Number(holdMs));
