import type { Statement } from "better-sqlite3";
import type { Sealer } from "../../crypto/index.js";
import type { KeySentinel, KeyringStore, ResealBatch } from "../keyring-store.js";
import { checkSentinelArgs, countKeyIds } from "../reseal-codec.js";
import type { LinkKey } from "../link-store.js";
import type { SqliteConnection } from "./connection.js";
import { Resealer } from "./reseal.js";
import { SEALED_COLUMNS } from "../row-codec.js";

interface SentinelRow {
  key_id: string;
  envelope: Buffer;
  created_at: number;
}

/** Every sealed value of every table, for the census; NULLs are skipped. */
const SEALED_VALUES = [
  ...SEALED_COLUMNS.map((c) => `SELECT ${c} AS v FROM links WHERE ${c} IS NOT NULL`),
  "SELECT code_verifier FROM auth_flows WHERE code_verifier IS NOT NULL",
  "SELECT device_code FROM device_flows",
].join(" UNION ALL ");

/** KeyringStore over `key_sentinels` and the sealed columns of every table. */
export class SqliteKeyring implements KeyringStore {
  readonly #conn: SqliteConnection;
  readonly #sealer: Sealer;
  readonly #resealer: Resealer;
  readonly #sentinels: Statement<[], SentinelRow>;
  readonly #putSentinel: Statement<[SentinelRow]>;
  readonly #sealedValues: Statement<[], { v: Buffer }>;

  constructor(conn: SqliteConnection, sealer: Sealer) {
    this.#conn = conn;
    this.#sealer = sealer;
    this.#resealer = new Resealer(conn, sealer);
    this.#sentinels = conn.db.prepare("SELECT key_id, envelope, created_at FROM key_sentinels ORDER BY created_at, key_id");
    this.#putSentinel = conn.db.prepare(`
      INSERT INTO key_sentinels (key_id, envelope, created_at) VALUES (@key_id, @envelope, @created_at)
      ON CONFLICT (key_id) DO NOTHING`);
    this.#sealedValues = conn.db.prepare(SEALED_VALUES);
  }

  async listSentinels(): Promise<KeySentinel[]> {
    const rows = await this.#conn.run("keyring.listSentinels", () => this.#sentinels.all());
    return rows.map((r) => ({ keyId: r.key_id, envelope: r.envelope, createdAt: r.created_at }));
  }

  async putSentinel(keyId: string, envelope: Uint8Array, now: number): Promise<boolean> {
    checkSentinelArgs(keyId, now);
    const row = { key_id: keyId, envelope: toBuffer(envelope), created_at: now };
    return this.#conn.run("keyring.putSentinel", () => this.#putSentinel.run(row).changes === 1);
  }

  /** One pass over envelope headers; nothing is decrypted. */
  async countByKeyId(): Promise<Map<string, number>> {
    return this.#conn.run("keyring.countByKeyId", () => countKeyIds(this.#sealer, this.#values()));
  }

  *#values(): Generator<Buffer> {
    for (const { v } of this.#sealedValues.iterate()) yield v;
  }

  async reseal(after: LinkKey | undefined, limit: number): Promise<ResealBatch> {
    if (after === undefined) await this.#resealer.flows();
    return this.#resealer.links(after, limit);
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
