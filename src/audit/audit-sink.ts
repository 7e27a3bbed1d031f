import { closeSync, constants, fchmodSync, openSync, writeSync } from "node:fs";
import { pino } from "pino";
import { withPriorityPrefix, type LogFormat } from "../log.js";

/** Where audit lines go: pino writes whole lines to it. */
export interface AuditSink {
  write(line: string): void;
  /** Opens the file again under its name (logrotate moved it away); a no-op for stdout. */
  reopen(): void;
  close(): void;
}

/**
 * stdout, beside the other logs: the same synchronous destination, so a line
 * is never split or lost on exit; in the logs' format (`journald`: behind
 * the `<N>` priority prefix, LOG_INFO for an audit line).
 */
export function stdoutSink(onError: (err: unknown) => void, format: LogFormat = "json"): AuditSink {
  const out = pino.destination({ dest: 1, sync: true });
  out.on("error", onError);
  return {
    write: (line) => {
      try {
        out.write(format === "journald" ? withPriorityPrefix(line) : line);
      } catch (err) {
        onError(err);
      }
    },
    reopen: () => undefined,
    close: () => undefined,
  };
}

/**
 * An audit file of its own: opened for appending only and mode 0600 (also
 * when it existed with a wider mode), written synchronously, reopened on
 * request. A failed write or reopen is reported, never thrown: an RPC does
 * not fail because its audit line could not be written.
 */
export class AuditFileSink implements AuditSink {
  #fd: number;

  constructor(
    readonly path: string,
    private readonly onError: (err: unknown) => void,
  ) {
    this.#fd = openAppendOnly(path);
  }

  write(line: string): void {
    try {
      const bytes = Buffer.from(line, "utf8");
      for (let at = 0; at < bytes.length; ) at += writeSync(this.#fd, bytes, at);
    } catch (err) {
      this.onError(err);
    }
  }

  reopen(): void {
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
