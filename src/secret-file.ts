import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Reading a secret that lives in a file or a systemd credential
 * (`$CREDENTIALS_DIRECTORY/<name>`, LoadCredential=): the one reader for the
 * config's `*_file` / `*_credential` fields (config/files.ts) and the keys
 * file (crypto/keys-file.ts). It says what went wrong as data; each caller
 * words it for its field, and never with the secret.
 */

/** Where a secret is: a file, or a systemd credential by name. */
export type SecretLocation = { kind: "file"; path: string } | { kind: "credential"; name: string };

/** A secret as read: its text, the path it came from and the file's permission bits (what `fstat` said of the file read). */
export interface SecretText {
  text: string;
  path: string;
  mode: number;
}

/** Why a secret could not be read. `path` is there once it was known. */
export type SecretReadFailure =
  | { reason: "invalid-name" }
  | { reason: "no-credentials-directory" }
  | { reason: "not-a-file"; path: string }
  | { reason: "unreadable"; path: string; code: string };

/**
 * Why `name` cannot be a credential name, or undefined when it can. A
 * credential name is a file name inside the credentials directory; a
 * separator or dot-name would let configuration point outside it.
 */
export function credentialNameProblem(name: string): string | undefined {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    return `${JSON.stringify(name)}: not a valid credential name (a file name inside $CREDENTIALS_DIRECTORY)`;
  }
  return undefined;
}

/** The path a location names, or why there is none. */
export function secretPath(location: SecretLocation, env: NodeJS.ProcessEnv): { path: string } | { failure: SecretReadFailure } {
  if (location.kind === "file") return { path: location.path };
  if (credentialNameProblem(location.name) !== undefined) return { failure: { reason: "invalid-name" } };
  const dir = env["CREDENTIALS_DIRECTORY"];
  if (dir === undefined || dir === "") return { failure: { reason: "no-credentials-directory" } };
  return { path: join(dir, location.name) };
}

/**
 * Reads the secret at `location`. One descriptor serves the stat and the
 * read, so the mode a caller judges is that of the file it read (no swap
 * between the two); anything but a regular file is refused.
 */
export function readSecretText(location: SecretLocation, env: NodeJS.ProcessEnv): SecretText | { failure: SecretReadFailure } {
  const where = secretPath(location, env);
  if ("failure" in where) return where;
  const { path } = where;
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY);
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { failure: { reason: "not-a-file", path } };
    return { text: readFileSync(fd, "utf8"), path, mode: stat.mode & 0o777 };
  } catch (err) {
    return { failure: { reason: "unreadable", path, code: (err as NodeJS.ErrnoException).code ?? "error" } };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
