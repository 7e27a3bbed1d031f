import { closeSync, constants, fchmodSync, openSync, writeSync } from "node:fs";
import { pino } from "pino";
import { withPriorityPrefix, type LogFormat } from "../log.js";
import { LineBatch } from "./line-batch.js";

/** Where audit lines go: whole lines. */
export interface AuditSink {
  /** A promise when the line is written later (batched): it settles once it is. */
  write(line: string): Promise<void> | undefined;
  /** Opens the file again under its name (logrotate moved it away); a no-op for stdout. */
  reopen(): void;
  close(): void;
}

/**
 * stdout, beside the other logs: the same synchronous destination, so a line
 * is never split or lost on exit; in the logs' format (`journald`: behind
 * the `<N>` priority prefix, LOG_INFO for an audit line). The lines of one
 * turn go out in one write (line-batch.ts).
 */
export function stdoutSink(onError: (err: unknown) => void, format: LogFormat = "json"): AuditSink {
  const out = pino.destination({ dest: 1, sync: true });
  out.on("error", onError);
  const batch = new LineBatch((lines) => {
    try {
      out.write(lines);
    } catch (err) {
      onError(err);
    }
  });
  return {
    write: (line) => batch.add(format === "journald" ? withPriorityPrefix(line) : line),
    reopen: () => batch.flush(),
    close: () => batch.close(),
  };
}

/**
 * An audit file of its own: opened for appending only and mode 0600 (also
 * when it existed with a wider mode), written synchronously once per turn
 * (line-batch.ts), reopened on request. A failed write or reopen is
 * reported, never thrown: an RPC does not fail because its audit line could
 * not be written.
 */
export class AuditFileSink implements AuditSink {
  #fd: number;
  readonly #batch = new LineBatch((lines) => this.#writeNow(lines));

  constructor(
    readonly path: string,
    private readonly onError: (err: unknown) => void,
  ) {
    this.#fd = openAppendOnly(path);
  }

  write(line: string): Promise<void> {
    return this.#batch.add(line);
  }

  #writeNow(lines: string): void {
    try {
      const bytes = Buffer.from(lines, "utf8");
      for (let at = 0; at < bytes.length; ) at += writeSync(this.#fd, bytes, at);
    } catch (err) {
      this.onError(err);
    }
  }

  reopen(): void {
    // Lines of this turn belong to the file they were written under.
    this.#batch.flush();
    let fd: number;
    try {
      fd = openAppendOnly(this.path);
    } catch (err) {
      // Keep writing to the old file rather than nowhere.
      this.onError(err);
      return;
    }
    const old = this.#fd;
    this.#fd = fd;
    closeSync(old);
  }

  close(): void {
    this.#batch.close();
    closeSync(this.#fd);
  }
}

function openAppendOnly(path: string): number {
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  try {
    fchmodSync(fd, 0o600);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}
