import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** PEM files made with openssl: a CA, and certificates it signed. */
export interface Pem {
  cert: string;
  key: string;
  /** Their contents, for clients. */
  certPem: Buffer;
  keyPem: Buffer;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** A self-signed CA named `cn`, in `dir/<name>.crt` and `.key`. */
export function makeCa(dir: string, name: string, cn: string): Pem {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${cn}`]);
  return { cert, key, certPem: readFileSync(cert), keyPem: readFileSync(key) };
}

/**
 * A certificate signed by `ca`: for a server (SAN 127.0.0.1 and localhost)
 * or a client (`cn`, and a DNS SAN of the same name; `opts.san` replaces the SANs, in openssl's
 * form). Written to `dir/<name>.crt`/`.key`.
 */
export function makeCert(dir: string, name: string, ca: Pem, cn: string, use: "server" | "client", opts: { san?: string; days?: number } = {}): Pem {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const san = opts.san ?? (use === "server" ? "IP:127.0.0.1,DNS:localhost" : `DNS:${cn}`);
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=${use === "server" ? "serverAuth" : "clientAuth"}\nsubjectAltName=${san}\n`);
  openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${cn}`]);
  openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-out", cert, "-days", String(opts.days ?? 2), "-extfile", ext]);
  return { cert, key, certPem: readFileSync(cert), keyPem: readFileSync(key) };
}
