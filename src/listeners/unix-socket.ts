import { chmod, lstat, mkdir, unlink } from "node:fs/promises";
import { connect } from "node:net";
import { dirname } from "node:path";

/**
 * Prepares a Unix socket path: creates its directory (0750), and removes a
 * stale socket file left by a crashed daemon — but never one a live daemon is
 * still answering on, and never a file that is not a socket.
 */
export async function prepareUnixSocket(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o750 });
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  if (await isAnswering(path)) throw new Error(`another process is listening on ${path}`);
  await unlink(path);
}

export async function finishUnixSocket(path: string): Promise<void> {
  await chmod(path, 0o660);
}

export async function removeUnixSocket(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (st.isSocket()) await unlink(path);
  } catch {
    // already gone
  }
}

function isAnswering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}
