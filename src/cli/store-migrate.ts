import { resolve } from "node:path";
import { AesSealer, Keyring, loadKeys } from "../crypto/index.js";
import { redactUrl } from "../redact.js";
import { readSecretText } from "../secret-file.js";
import { openPostgresCopyTarget, type PgCopyTarget } from "../store/postgres/index.js";
import { SourceInUseError, openSqliteCopySource, type SqliteCopySource } from "../store/sqlite/index.js";
import { StoreCopyError, checkSourceKeys, copyStore, describeCounts } from "../store/store-copy.js";
import { UsageError, str } from "./args.js";
import type { CommandContext } from "./command.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_RETRY } from "./exit-codes.js";
import { writeErr, writeOut } from "./output.js";

/** A progress line at most this often (in links). */
const PROGRESS_EVERY = 10_000;

/**
 * `store migrate --from sqlite:PATH --to postgres:URL_FILE --keys-file F`:
 * copies a SQLite store into a PostgreSQL database, sealed values as they
 * are (docs/design.md §4.6). Progress on stderr, the summary on stdout; the
 * URL appears only redacted. A source another process holds open (a daemon
 * still serving it) is refused with exit 4, "try again later": once it has
 * stopped — `systemctl stop` returns before the daemon's grace is over —
 * running again succeeds.
 */
export async function storeMigrateCommand(ctx: CommandContext): Promise<number> {
  const from = prefixed(str(ctx.flags, "from") ?? "", "from", "sqlite");
  const urlFile = prefixed(str(ctx.flags, "to") ?? "", "to", "postgres");
  const keysFile = str(ctx.flags, "keys-file") ?? "";
  const read = readSecretText({ kind: "file", path: urlFile }, process.env);
  if ("failure" in read) {
    throw new UsageError(`--to postgres:${urlFile}: cannot read the URL file (${read.failure.reason === "unreadable" ? read.failure.code : "not a regular file"})`);
  }
  const url = read.text.trim();
  const shown = redactUrl(url);
  if (!URL.canParse(url) || !/^postgres(ql)?:$/.test(new URL(url).protocol)) {
    throw new UsageError(`--to postgres:${urlFile}: the file does not hold a postgres:// URL (${shown})`);
  }
  let keyring: Keyring;
  try {
    keyring = new Keyring(loadKeys({ keysFile }).keys);
  } catch (err) {
    throw new UsageError(`--keys-file: ${(err as Error).message}`);
  }
  let source: SqliteCopySource;
  try {
    source = openSqliteCopySource(resolve(from));
  } catch (err) {
    if (err instanceof SourceInUseError) {
      writeErr(`tokenbroker store migrate: ${err.message}; nothing was changed\n`);
      return EXIT_RETRY;
    }
    throw new UsageError(`--from sqlite:${from}: ${(err as Error).message}`);
  }
  if (!source.scan.supported) writeErr("warning: no /proc here: cannot tell which processes hold the source open; relying on its write lock alone\n");
  else if (source.scan.unreadable > 0) {
    writeErr(`warning: the open files of ${source.scan.unreadable} processes of other users cannot be read without root; a daemon among them holding the source would not be seen\n`);
  }
  let target: PgCopyTarget | undefined;
  try {
    // The keys first: a wrong keys file must leave the database as it was, schema included
    // (opening the target applies the schema migrations).
    await checkSourceKeys(source, keyring);
    try {
      target = await openPostgresCopyTarget({ url });
    } catch (err) {
      writeErr(`tokenbroker store migrate: cannot open the PostgreSQL database at ${shown}: ${(err as Error).message}\n`);
      return EXIT_FAILURE;
    }
    writeErr(`copying ${from} to ${shown} (schema migrations applied)\n`);
    let shownAt = 0;
    const result = await copyStore(source, target, keyring, new AesSealer(keyring), {
      overwrite: ctx.flags.overwrite === true,
      onProgress(copied, total) {
        if (copied - shownAt < PROGRESS_EVERY && copied < total) return;
        shownAt = copied;
        writeErr(`links: ${copied} of ${total} copied\n`);
      },
    });
    writeOut(`migrated ${describeCounts(result.counts)} to ${shown}; counts verified, ${result.opened} sealed values opened on the target\n`);
    return EXIT_OK;
  } catch (err) {
    // A refusal, a failed check, or the database going away mid-copy: all rolled back.
    if (!(err instanceof Error)) throw err;
    writeErr(`tokenbroker store migrate: ${err.message}${err instanceof StoreCopyError ? "" : "; rolled back, nothing was changed"}\n`);
    return err instanceof SourceInUseError ? EXIT_RETRY : EXIT_FAILURE;
  } finally {
    source.close();
    await target?.close();
  }
}

/** The part after `kind:` of a --from / --to value. */
function prefixed(value: string, flag: string, kind: string): string {
  if (!value.startsWith(`${kind}:`) || value.length === kind.length + 1) {
    throw new UsageError(`--${flag} "${value}": expected ${kind}:${flag === "from" ? "PATH" : "URL_FILE"}`);
  }
  return value.slice(kind.length + 1);
}
