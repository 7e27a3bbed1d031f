import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { resolveConfig } from "../config/load.js";
import { runUntilSignal } from "./serve.js";

/**
 * Dev mode: embedded defaults, state under ./var/dev, nothing to configure.
 */
export async function devCommand(dirFlag: string | undefined): Promise<number> {
  const dir = resolve(dirFlag ?? "var/dev");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const config = resolveConfig(
    {
      listen: { grpc: [`unix://${dir}/tokenbroker.sock`, "tcp://127.0.0.1:7480"], http: "tcp://127.0.0.1:7481" },
      store: { sqlite: { path: `${dir}/tokenbroker.db` } },
      encryption: { keys_file: `${dir}/keys` },
      shutdown_grace: "3s",
    },
    "<dev>",
  );
  return runUntilSignal(config, (addresses) => {
    process.stdout.write(`tokenbroker dev mode — state in ${dir}\nlistening on:\n${addresses.map((a) => `  ${a}`).join("\n")}\n`);
  });
}
