import { readFileSync, writeFileSync } from "node:fs";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { AdminService } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import { Keyring, generateKeyLine, parseKeysFile } from "../crypto/index.js";
import { UsageError, str } from "./args.js";
import type { CommandContext } from "./command.js";
import { EXIT_FAILURE, EXIT_OK } from "./exit-codes.js";
import { writeErr, writeOut } from "./output.js";
import { watchRotation } from "./rotation-progress.js";

/** `keys generate`: the key line on stdout (for the keys file), its id on stderr (for the operator). */
export async function keysGenerate(): Promise<number> {
  const line = generateKeyLine();
  writeOut(`${line}\n`);
  writeErr(`key id ${new Keyring([Buffer.from(line, "base64")]).active.id}\n`);
  return EXIT_OK;
}

export async function keysStatus(ctx: CommandContext): Promise<number> {
  const res = await ctx.connect(AdminService).getKeyStatus({}, { timeoutMs: 60_000 });
  if (ctx.flags.json === true) {
    writeOut(
      `${JSON.stringify({
        keys: res.keys.map((k) => ({ key_id: k.keyId, active: k.active, sealed_values: k.sealedValues, first_seen_at: k.firstSeenAt ? new Date(timestampMs(k.firstSeenAt)).toISOString() : null })),
        values_under_unknown_keys: res.valuesUnderUnknownKeys,
      })}\n`,
    );
    return EXIT_OK;
  }
  let out = "KEY ID    STATE         SEALED VALUES\n";
  for (const k of res.keys) out += `${k.keyId}  ${(k.active ? "active" : "decrypt-only").padEnd(12)}  ${k.sealedValues}\n`;
  if (res.valuesUnderUnknownKeys > 0) out += `(unknown)           ${res.valuesUnderUnknownKeys}\n`;
  writeOut(out);
  return EXIT_OK;
}

/** `keys rotate`: re-seals under the active key, showing progress on stderr while it runs. */
export async function keysRotate(ctx: CommandContext): Promise<number> {
  const batchFlag = str(ctx.flags, "batch");
  const batch = batchFlag === undefined ? 0 : Number(batchFlag);
  if (batchFlag !== undefined && (!Number.isInteger(batch) || batch < 1 || batch > 10_000)) {
    throw new UsageError(`--batch "${batchFlag}": must be a whole number from 1 to 10000`);
  }
  const admin = ctx.connect(AdminService);
  const progress = watchRotation(admin);
  try {
    const res = await admin.reencryptLinks({ batchSize: batch }, { timeoutMs: 3_600_000 });
    await progress.stop(res.remainingValues);
    if (ctx.flags.json === true) writeOut(`${JSON.stringify({ reencrypted_rows: res.reencryptedRows, remaining_values: res.remainingValues })}\n`);
    else writeOut(`re-sealed ${res.reencryptedRows} rows; ${res.remainingValues} values remain under other keys\n`);
    return res.remainingValues === 0 ? EXIT_OK : EXIT_FAILURE;
  } finally {
    await progress.stop();
  }
}

/** `keys retire ID`: removes a key from the keys file once the running daemon says nothing uses it. */
export async function keysRetire(ctx: CommandContext): Promise<number> {
  const id = ctx.positionals[0];
  const file = str(ctx.flags, "keys-file") ?? "";
  if (id === undefined) throw new UsageError("the key id to retire is required (tokenbroker keys retire ID --keys-file FILE)");
  const status = await ctx.connect(AdminService).getKeyStatus({}, { timeoutMs: 60_000 });
  const entry = status.keys.find((k) => k.keyId === id);
  if (entry === undefined) {
    writeErr(`tokenbroker: key ${id} is not in the running daemon's keyring\n`);
    return EXIT_FAILURE;
  }
  if (entry.active) {
    writeErr(`tokenbroker: key ${id} is the active key; put another key first and restart before retiring it\n`);
    return EXIT_FAILURE;
  }
  if (entry.sealedValues > 0) {
    writeErr(`tokenbroker: refusing to retire ${id}: ${entry.sealedValues} values are still sealed under it (run tokenbroker keys rotate)\n`);
    return EXIT_FAILURE;
  }
  removeKeyLine(file, id);
  writeOut(`removed key ${id} from ${file}; restart the daemon to drop it from the keyring\n`);
  return EXIT_OK;
}

/** Rewrites the keys file without the line holding key `id`, keeping comments and order. */
function removeKeyLine(file: string, id: string): void {
  const text = readFileSync(file, "utf8");
  const kept = text.split("\n").filter((line) => {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return true;
    const [key] = parseKeysFile(trimmed, file);
    return key === undefined || new Keyring([key]).active.id !== id;
  });
  writeFileSync(file, kept.join("\n"), { mode: 0o600 });
}
