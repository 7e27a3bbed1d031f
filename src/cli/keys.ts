import { readFileSync, writeFileSync } from "node:fs";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { AdminService } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import { createBrokerClient } from "./daemon-client.js";
import { Keyring, generateKeyLine, parseKeysFile } from "../crypto/index.js";
import { describeError } from "./daemon-error.js";
import { resolveAddr } from "./token.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit-codes.js";

type Flags = Record<string, string | boolean | undefined>;

/** `tokenbroker keys generate | status | rotate | retire ID` */
export async function keysCommand(sub: string | undefined, positional: string[], flags: Flags): Promise<number> {
  switch (sub) {
    case "generate":
      process.stdout.write(`${generateKeyLine()}\n`);
      return EXIT_OK;
    case "status":
      return withAdmin(flags, async (admin) => {
        const res = await admin.getKeyStatus({}, { timeoutMs: 60_000 });
        if (flags.json === true) {
          process.stdout.write(
            `${JSON.stringify({
              keys: res.keys.map((k) => ({ key_id: k.keyId, active: k.active, sealed_values: k.sealedValues, first_seen_at: k.firstSeenAt ? new Date(timestampMs(k.firstSeenAt)).toISOString() : null })),
              values_under_unknown_keys: res.valuesUnderUnknownKeys,
            })}\n`,
          );
        } else {
          process.stdout.write("KEY ID    STATE         SEALED VALUES\n");
          for (const k of res.keys) process.stdout.write(`${k.keyId}  ${(k.active ? "active" : "decrypt-only").padEnd(12)}  ${k.sealedValues}\n`);
          if (res.valuesUnderUnknownKeys > 0) process.stdout.write(`(unknown)           ${res.valuesUnderUnknownKeys}\n`);
        }
        return EXIT_OK;
      });
    case "rotate": {
      const batch = typeof flags.batch === "string" ? Number(flags.batch) : 0;
      if (!Number.isInteger(batch) || batch < 0) {
        process.stderr.write("tokenbroker keys rotate: --batch must be a positive integer\n");
        return EXIT_USAGE;
      }
      return withAdmin(flags, async (admin) => {
        const res = await admin.reencryptLinks({ batchSize: batch }, { timeoutMs: 3_600_000 });
        process.stdout.write(`re-sealed ${res.reencryptedRows} rows; ${res.remainingValues} values remain under other keys\n`);
        return res.remainingValues === 0 ? EXIT_OK : EXIT_FAILURE;
      });
    }
    case "retire": {
      const id = positional[0];
      const file = flags["keys-file"];
      if (id === undefined || typeof file !== "string") {
        process.stderr.write("tokenbroker keys retire ID --keys-file FILE: both are required\n");
        return EXIT_USAGE;
      }
      return withAdmin(flags, async (admin) => {
        const status = await admin.getKeyStatus({}, { timeoutMs: 60_000 });
        const entry = status.keys.find((k) => k.keyId === id);
        if (entry === undefined) {
          process.stderr.write(`tokenbroker: key ${id} is not in the running daemon's keyring\n`);
          return EXIT_FAILURE;
        }
        if (entry.active) {
          process.stderr.write(`tokenbroker: key ${id} is the active key; put another key first and restart before retiring it\n`);
          return EXIT_FAILURE;
        }
        if (entry.sealedValues > 0) {
          process.stderr.write(`tokenbroker: refusing to retire ${id}: ${entry.sealedValues} values are still sealed under it (run tokenbroker keys rotate)\n`);
          return EXIT_FAILURE;
        }
        removeKeyLine(file, id);
        process.stdout.write(`removed key ${id} from ${file}; restart the daemon to drop it from the keyring\n`);
        return EXIT_OK;
      });
    }
    default:
      process.stderr.write("usage: tokenbroker keys generate | status | rotate [--batch N] | retire ID --keys-file FILE\n");
      return EXIT_USAGE;
  }
}

async function withAdmin(flags: Flags, fn: (admin: ReturnType<typeof createBrokerClient<typeof AdminService>>["rpc"]) => Promise<number>): Promise<number> {
  const callerToken = (flags["caller-token"] as string | undefined) ?? process.env.TOKENBROKER_CALLER_TOKEN;
  const client = createBrokerClient(AdminService, resolveAddr(flags.addr as string | undefined), { callerToken });
  try {
    return await fn(client.rpc);
  } catch (err) {
    process.stderr.write(describeError(err, "", ""));
    return EXIT_FAILURE;
  } finally {
    client.close();
  }
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
