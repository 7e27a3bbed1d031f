import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { Config, ConfigPlan, Listener, PostgresStoreConfig, PostgresStorePlan, SecretSource, StoreConfig } from "./config.js";
import { TlsFiles } from "../listen/tls-files.js";
import { redactUrl } from "../redact.js";
import { credentialNameProblem, readSecretText } from "../secret-file.js";

/** Where systemd's StateDirectory= puts a system service's state. */
const STATE_DIRECTORY_ROOT = "/var/lib";

/**
 * The step after parsing: reads what the config names (client secrets, the
 * database URL, the CA file), checks the TLS files a listener will load and
 * the store's directory. Every problem is collected; `field` names are the
 * YAML's.
 */
export function readConfigFiles(plan: ConfigPlan, env: NodeJS.ProcessEnv): { config: Config; problems: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const providers = plan.providers.map((p, i) => {
    const secret = readSecret(p.clientSecret, `providers[${i}].client_secret`, env);
    if (secret.problem !== undefined) problems.push(secret.problem);
    return { ...p, clientSecret: secret.value ?? "" };
  });
  plan.listen.grpc.forEach((l, i) => problems.push(...checkTlsFiles(l, `listen.grpc[${i}]`)));
  if (plan.listen.http !== undefined) problems.push(...checkTlsFiles(plan.listen.http, "listen.http"));
  const store = plan.store.kind === "sqlite" ? plan.store : readPostgres(plan.store, env, problems);
  if (store.kind === "sqlite") checkStoreDirectory(store.path, problems, warnings);
  return { config: { ...plan, providers, store, warnings }, problems };
}

/**
 * A secret from where the config says it is: written in the config, a file
 * or a systemd credential ($CREDENTIALS_DIRECTORY/<name>), trimmed. A problem
 * names the YAML field (`field` + `_file` or `_credential`) and never the
 * secret.
 */
export function readSecret(source: SecretSource, field: string, env: NodeJS.ProcessEnv): { value?: string; problem?: string } {
  if (source.kind === "inline") return { value: source.value };
  const read = readSecretText(source, env);
  if (!("failure" in read)) return { value: read.text.trim() };
  const failure = read.failure;
  if (source.kind === "file") return { problem: `${field}_file: cannot read ${source.path} (${failure.reason === "unreadable" ? failure.code : "not a regular file"})` };
  switch (failure.reason) {
    case "invalid-name":
      return { problem: `${field}_credential: ${credentialNameProblem(source.name)}` };
    case "no-credentials-directory":
      return { problem: `${field}_credential: CREDENTIALS_DIRECTORY is not set (not running under systemd with LoadCredential)` };
    case "not-a-file":
      return { problem: `${field}_credential: cannot read credential ${source.name} (not a regular file)` };
    case "unreadable":
      return { problem: `${field}_credential: cannot read credential ${source.name} (${failure.code})` };
  }
}

function readPostgres(pg: PostgresStorePlan, env: NodeJS.ProcessEnv, problems: string[]): StoreConfig {
  const read = readSecret(pg.url, "store.postgres.url", env);
  if (read.problem !== undefined) problems.push(read.problem);
  const url = read.value ?? "";
  const redactedUrl = redactUrl(url);
  if (url !== "" && (!URL.canParse(url) || !/^postgres(ql)?:$/.test(new URL(url).protocol))) {
    problems.push(`store.postgres: the URL read is not a postgres:// URL (${redactedUrl})`);
  }
  let ssl: PostgresStoreConfig["ssl"];
  if (pg.ssl !== undefined) {
    ssl = { mode: pg.ssl.mode };
    if (pg.ssl.caFile !== undefined) {
      try {
        ssl.ca = readFileSync(pg.ssl.caFile, "utf8");
      } catch (err) {
        problems.push(`store.postgres.ssl.ca_file: cannot read ${pg.ssl.caFile} (${errorCode(err)})`);
      }
    }
  }
  const { ssl: _planned, ...rest } = pg;
  return { ...rest, url, redactedUrl, ...(ssl === undefined ? {} : { ssl }) };
}

/** The store's directory must exist, unless systemd creates it at start (StateDirectory=tokenbroker, deploy/systemd). */
function checkStoreDirectory(path: string, problems: string[], warnings: string[]): void {
  const storeDir = dirname(path);
  if (isDirectory(storeDir)) return;
  if (isUnder(storeDir, STATE_DIRECTORY_ROOT)) warnings.push(`store.sqlite.path: directory ${storeDir} does not exist yet; systemd creates it at start for StateDirectory=${storeDir.slice(STATE_DIRECTORY_ROOT.length + 1)}`);
  else problems.push(`store.sqlite.path: directory ${storeDir} does not exist`);
}

/** What serve would refuse at start: a file it cannot read, PEM that does not parse, a key of another certificate. */
function checkTlsFiles(listener: Listener, where: string): string[] {
  const tls = listener.tls;
  if (tls === undefined) return [];
  const unreadable = ([["cert_file", tls.certFile], ["key_file", tls.keyFile], ["client_ca_file", tls.clientCaFile]] as const).filter(([, file]) => file !== undefined && !isReadable(file));
  if (unreadable.length > 0) return unreadable.map(([field, file]) => `${where}.tls.${field}: cannot read ${file}`);
  try {
    new TlsFiles(tls);
    return [];
  } catch (err) {
    return [`${where}.tls: ${(err as Error).message}`];
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? "error";
}

function isReadable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isUnder(path: string, root: string): boolean {
  return path.startsWith(`${root}/`) && !path.split("/").includes("..");
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
