import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { createSecureContext, type PeerCertificate } from "node:tls";
import { subjectAltNames } from "./cert-names.js";

/** A listener's certificate files (paths resolved). */
export interface TlsFilePaths {
  certFile: string;
  keyFile: string;
  clientCaFile?: string | undefined;
}

/** What the files held when last read: PEM bytes. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer | undefined;
}

/**
 * A TCP listener's certificate, key and optional client CA, read at start
 * and again on reload (SIGHUP). A reload that cannot read the files, or
 * whose certificate and key do not go together, keeps the material in use
 * and throws: a botched renewal never takes a listener's TLS away.
 */
export class TlsFiles {
  #material: TlsMaterial;
  readonly #listeners = new Set<(m: TlsMaterial) => void>();

  constructor(readonly paths: TlsFilePaths) {
    this.#material = read(paths);
  }

  get material(): TlsMaterial {
    return this.#material;
  }

  /** When the certificate in use (the first of `cert_file`) expires, epoch ms; NaN if it cannot be told. */
  get notAfterMs(): number {
    try {
      return Date.parse(new X509Certificate(this.#material.cert).validTo);
    } catch {
      return Number.NaN;
    }
  }

  get requestsClientCert(): boolean {
    return this.paths.clientCaFile !== undefined;
  }

  reload(): void {
    this.#material = read(this.paths);
    for (const listener of this.#listeners) listener(this.#material);
  }

  onChange(listener: (m: TlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** Reloads, and says why not instead of throwing: the listener keeps its certificate. */
export function reloadTlsFiles(tls: TlsFiles): string[] {
  try {
    tls.reload();
    return [];
  } catch (err) {
    return [err instanceof Error ? err.message : String(err)];
  }
}

function read(paths: TlsFilePaths): TlsMaterial {
  const file = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const material: TlsMaterial = { cert: file("certificate", paths.certFile), key: file("key", paths.keyFile) };
  if (paths.clientCaFile !== undefined) material.ca = file("client CA", paths.clientCaFile);
  try {
    // Parses all three and checks that the key belongs to the certificate.
    createSecureContext(material);
  } catch (err) {
    // OpenSSL's message names the problem ("key values mismatch"), never the key.
    throw new Error(`TLS files ${paths.certFile} and ${paths.keyFile}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return material;
}

/**
 * The names a client certificate identifies its holder by, each with its
 * kind (listen/cert-names.ts): `cn:` the subject's CN, `dns:`, `uri:`,
 * `email:`, `ip:` every subjectAltName entry.
 */
export function certificateNames(cert: PeerCertificate): string[] {
  const names: string[] = [];
  const cn = (cert.subject as Record<string, string | string[] | undefined> | undefined)?.CN;
  if (typeof cn === "string") names.push(`cn:${cn}`);
  else if (Array.isArray(cn)) names.push(...cn.map((n) => `cn:${n}`));
  names.push(...subjectAltNames(cert.subjectaltname));
  return names;
}
