import { randomBytes } from "node:crypto";
import { KeyringError } from "./keyring-error.js";
import { MASTER_KEY_BYTES } from "./keyring.js";
import { credentialNameProblem, readSecretText, type SecretLocation, type SecretReadFailure } from "../secret-file.js";

/**
 * The keys file: one base64-encoded 32-byte master key per line, the active
 * key first. Blank lines and lines starting with `#` are ignored, so operators
 * can annotate keys ("# added 2026-03, retire after rotation"). Errors name the
 * file and line but never echo the line: it may be a key.
 */
export function parseKeysFile(text: string, source: string): Buffer[] {
  const keys: Buffer[] = [];
  const lineOf = new Map<string, number>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim(); // also drops the \r of CRLF files
    const lineNo = i + 1;
    if (line === "" || line.startsWith("#")) return;
    const key = decodeKeyLine(line, `${source} line ${lineNo}`);
    const fingerprint = key.toString("hex");
    const first = lineOf.get(fingerprint);
    if (first !== undefined) {
      throw new KeyringError("KEYS_DUPLICATE", `${source} line ${lineNo}: the same key as line ${first}`);
    }
    lineOf.set(fingerprint, lineNo);
    keys.push(key);
  });
  if (keys.length === 0) {
    throw new KeyringError("KEYS_EMPTY", `${source}: no keys (generate one with \`tokenbroker keys generate\`)`);
  }
  return keys;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function decodeKeyLine(line: string, where: string): Buffer {
  // Buffer.from(s, "base64") skips characters it does not understand, so a
  // typo would silently yield a different (shorter) key; validate strictly
  // and require the canonical encoding to round-trip.
  if (!BASE64.test(line) || (line.includes("=") && line.length % 4 !== 0)) {
    throw new KeyringError("KEYS_MALFORMED", `${where}: not base64`);
  }
  const key = Buffer.from(line, "base64");
  if (key.toString("base64").replace(/=+$/, "") !== line.replace(/=+$/, "")) {
    throw new KeyringError("KEYS_MALFORMED", `${where}: not canonical base64`);
  }
  if (key.length !== MASTER_KEY_BYTES) {
    throw new KeyringError("KEYS_MALFORMED", `${where}: expected ${MASTER_KEY_BYTES} bytes of base64, got ${key.length}`);
  }
  // A placeholder (`head -c 32 /dev/zero | base64`) would "work" and protect nothing.
  if (key.every((b) => b === 0)) {
    throw new KeyringError("KEYS_MALFORMED", `${where}: the key is all zeros (a placeholder, not a key)`);
  }
  return key;
}

/** One new key line for a keys file: 32 random bytes, base64. */
export function generateKeyLine(): string {
  return randomBytes(MASTER_KEY_BYTES).toString("base64");
}

export interface LoadKeysOptions {
  /** Path of a keys file. */
  keysFile?: string;
  /** Name of a systemd credential: reads `$CREDENTIALS_DIRECTORY/<name>`. */
  keysCredential?: string;
  /** Environment to read CREDENTIALS_DIRECTORY from; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface LoadedKeys {
  /** Master keys, the active one first. */
  keys: Buffer[];
  /** The path that was read. */
  path: string;
  /** Problems worth logging that do not prevent starting (e.g. loose file permissions). */
  warnings: string[];
}

/**
 * Reads the master keys from a keys file or a systemd credential (exactly one
 * must be given). A credential is preferred in production: systemd mounts it
 * readable only by the unit's user and does not pass it down the process tree.
 */
export function loadKeys(options: LoadKeysOptions): LoadedKeys {
  const { keysFile, keysCredential } = options;
  if ((keysFile === undefined) === (keysCredential === undefined)) {
    throw new KeyringError(
      "KEYS_UNREADABLE",
      keysFile === undefined ? "no keys configured: set keys_file or keys_credential" : "set either keys_file or keys_credential, not both",
    );
  }
  return loadKeysFrom(keysFile !== undefined ? { kind: "file", path: keysFile } : { kind: "credential", name: keysCredential! }, options.env);
}

/** The keys a config names (`encryption.keys_file` or `.keys_credential`). */
export function loadKeysFrom(location: SecretLocation, env: NodeJS.ProcessEnv = process.env): LoadedKeys {
  const read = readSecretText(location, env);
  if ("failure" in read) throw new KeyringError("KEYS_UNREADABLE", unreadableMessage(location, read.failure));
  const label = keysLabel(location, read.path);
  const warnings: string[] = [];
  if ((read.mode & 0o077) !== 0) {
    warnings.push(
      `${label} is accessible by group or others (mode ${read.mode.toString(8).padStart(4, "0")}); restrict it with chmod 600`,
    );
  }
  return { keys: parseKeysFile(read.text, label), path: read.path, warnings };
}

/** How errors and warnings name the keys: `keys file <path>` or `keys credential <name> (<path>)`. */
function keysLabel(location: SecretLocation, path: string): string {
  return location.kind === "file" ? `keys file ${path}` : `keys credential ${location.name} (${path})`;
}

function unreadableMessage(location: SecretLocation, failure: SecretReadFailure): string {
  const name = location.kind === "credential" ? location.name : "";
  switch (failure.reason) {
    case "invalid-name":
      return `keys credential ${credentialNameProblem(name)}`;
    case "no-credentials-directory":
      return `keys credential ${name}: CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=${name}:<path>, or use keys_file)`;
    case "not-a-file":
      return `${keysLabel(location, failure.path)}: not a regular file`;
    case "unreadable": {
      const why = failure.code === "ENOENT" ? "no such file" : failure.code === "EACCES" ? "permission denied" : failure.code;
      return `${keysLabel(location, failure.path)}: cannot read: ${why}`;
    }
  }
}
