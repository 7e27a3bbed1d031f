/**
 * The CLI's stdout and stderr. A pipe takes 64 KiB at a time and Node queues
 * the rest; `process.exit()` right after a write drops the queue (issue 14:
 * `links --json | jq` lost data). Every write goes through here so the CLI
 * can wait for the last one to reach the kernel before it exits.
 */
const last = new Map<NodeJS.WriteStream, Promise<void>>();

function write(stream: NodeJS.WriteStream, text: string): void {
  last.set(stream, new Promise((resolve) => stream.write(text, () => resolve())));
}

export function writeOut(text: string): void {
  write(process.stdout, text);
}

export function writeErr(text: string): void {
  write(process.stderr, text);
}

/** Resolves once everything written so far was handed to the kernel (or the reader went away). */
export async function flushOutput(): Promise<void> {
  await Promise.all(last.values());
}

/** A reader that closed early (`| head -1`) is not an error worth a stack trace. */
export function ignoreClosedReaders(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
    });
  }
}
