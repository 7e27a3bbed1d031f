/**
 * Numbered schema migrations, the rule both stores keep. Append only: never
 * edit or reorder a released entry; add a new one with the next version
 * number instead. Versions must be 1, 2, 3, ... with no gaps (checked at
 * apply time). Each store numbers its own SQL the same way, so version N
 * means the same tables and columns on SQLite and PostgreSQL.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** SQL run inside the migration transaction. */
  readonly up: string;
}

export interface MigrationResult {
  from: number;
  to: number;
  applied: number[];
}

/** The database was written by a newer tokenbroker; this build must not touch it. */
export class SchemaTooNewError extends Error {
  override readonly name = "SchemaTooNewError";
  constructor(
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      `database schema version ${found} is newer than this tokenbroker supports (${supported}); ` +
        `upgrade tokenbroker or restore a database backup — refusing to open`,
    );
  }
}

export function checkSequence(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`migration #${i} has version ${m.version}; expected ${i + 1} (versions must be 1..n without gaps)`);
    }
  });
}
