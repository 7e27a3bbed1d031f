import { readFileSync } from "node:fs";
import { UsageError, str, type Flags } from "./args.js";
import type { ClientTls } from "./daemon-client.js";

/**
 * --cacert, --cert and --key (else TOKENBROKER_CACERT, _CERT, _KEY), read
 * for a tls:// or https:// address. Given with any other address, or a
 * certificate without its key, or a file that cannot be read: a usage error
 * naming it. Environment variables for another kind of address are ignored
 * (one environment may serve several addresses).
 */
export function readClientTls(flags: Flags, address: string, env: NodeJS.ProcessEnv = process.env): ClientTls {
  const secure = /^(tls|https):\/\//.test(address);
  const pick = (flag: string, variable: string): { path: string; from: string } | undefined => {
    const f = str(flags, flag);
    if (f !== undefined) return { path: f, from: `--${flag}` };
    const e = env[variable];
    return e !== undefined && e !== "" && secure ? { path: e, from: variable } : undefined;
  };
  const ca = pick("cacert", "TOKENBROKER_CACERT");
  const cert = pick("cert", "TOKENBROKER_CERT");
  const key = pick("key", "TOKENBROKER_KEY");
  const given = [ca, cert, key].filter((x) => x !== undefined);
  if (given.length === 0) return {};
  if (!secure) {
    const scheme = /^([a-z]+):/.exec(address)?.[1] ?? "";
    const use = scheme === "http" ? address.replace(/^http:/, "https:") : scheme === "tcp" ? address.replace(/^tcp:/, "tls:") : "tls://host:port or https://host:port";
    throw new UsageError(`${given.map((g) => g.from).join(", ")}: TLS options need a TLS address, not ${address} (${use})`);
  }
  if ((cert === undefined) !== (key === undefined)) throw new UsageError(cert === undefined ? `${key?.from} needs --cert FILE (the client certificate)` : `${cert.from} needs --key FILE (its private key)`);
  const read = (x: { path: string; from: string } | undefined): Buffer | undefined => {
    if (x === undefined) return undefined;
    try {
      return readFileSync(x.path);
    } catch (err) {
      throw new UsageError(`${x.from} "${x.path}": cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  };
  return { ca: read(ca), cert: read(cert), key: read(key) };
}
