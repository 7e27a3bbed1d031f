import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A Unix socket peer's process and user, as the kernel recorded them when it connected (SO_PEERCRED). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

interface Addon {
  peerCred(fd: number): PeerCredentials;
}

let addon: Addon | undefined;

/**
 * The project's own N-API addon (native/peercred.c, binding.gyp), built by
 * `npm ci` (the package's install script runs node-gyp). Looked up from the
 * package root, so `src/` under vitest and `dist/src/` both find it.
 * Throws, naming the fix, when it was not built.
 */
export function loadPeerCredentials(): Addon {
  if (addon !== undefined) return addon;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "binding.gyp"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("the peercred addon's binding.gyp is not above this file: reinstall tokenbroker");
    dir = up;
  }
  const file = join(dir, "build", "Release", "peercred.node");
  if (!existsSync(file)) throw new Error(`the peercred addon is not built (${file} is missing): run \`npm ci\`, or \`npm run install\` in ${dir}`);
  addon = createRequire(import.meta.url)(file) as Addon;
  return addon;
}

/** The peer of an accepted Unix socket connection, read from its descriptor; undefined when it has none. */
export function peerCredentialsOf(socket: Socket): PeerCredentials | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) return undefined;
  return loadPeerCredentials().peerCred(fd);
}
