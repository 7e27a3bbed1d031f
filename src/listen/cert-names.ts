/**
 * The names a client certificate carries, each with its kind, and the
 * `cert_names` entries of the config that match them (issue 23 item 10: an
 * email or URI subjectAltName must not pass for a DNS-style entry).
 *
 * A peer's names are written `kind:value`: `cn:` (subject CN), `dns:`,
 * `uri:`, `email:`, `ip:` (subjectAltNames). A config entry names its kind
 * the same way; a bare entry is a host-style name and matches a DNS
 * subjectAltName or the subject CN (as `dns:` does). `cn:` matches the CN
 * alone. A bare entry that looks like another kind (it holds `@`, `:` or is
 * an IP address) is refused as ambiguous, so the config says what it means.
 */

export const CERT_NAME_KINDS = ["dns", "cn", "uri", "email", "ip"] as const;
export type CertNameKind = (typeof CERT_NAME_KINDS)[number];

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Why `entry` is not a usable `cert_names` entry, or undefined when it is. */
export function certNameProblem(entry: string): string | undefined {
  const typed = /^([a-z]+):(.*)$/i.exec(entry);
  if (typed !== null && (CERT_NAME_KINDS as readonly string[]).includes(typed[1]!.toLowerCase())) {
    if (typed[2] === "") return `"${entry}": the name after "${typed[1]}:" is empty`;
    return undefined;
  }
  if (entry.includes("@")) return `"${entry}" is ambiguous: write email:${entry} for an email subjectAltName (a bare name is a DNS name or the subject CN)`;
  if (entry.includes(":") && !/^[0-9a-f:]+$/i.test(entry)) return `"${entry}" is ambiguous: write uri:${entry} for a URI subjectAltName (a bare name is a DNS name or the subject CN; kinds: ${CERT_NAME_KINDS.join(":, ")}:)`;
  if (IPV4.test(entry) || entry.includes(":")) return `"${entry}" is ambiguous: write ip:${entry} for an IP subjectAltName (a bare name is a DNS name or the subject CN)`;
  return undefined;
}

/** Whether the config entry `entry` names one of the peer's typed names (`kind:value`). */
export function certNameMatches(entry: string, peerNames: readonly string[]): boolean {
  const typed = /^([a-z]+):(.*)$/i.exec(entry);
  const kind = typed !== null && (CERT_NAME_KINDS as readonly string[]).includes(typed[1]!.toLowerCase()) ? (typed[1]!.toLowerCase() as CertNameKind) : undefined;
  const value = kind === undefined ? entry : typed![2]!;
  if (kind === undefined || kind === "dns") return peerNames.includes(`dns:${value}`) || peerNames.includes(`cn:${value}`);
  return peerNames.includes(`${kind}:${value}`);
}

/** `DNS:a, URI:spiffe://x, email:a@b, IP Address:127.0.0.1` (Node's subjectaltname) as typed names. */
export function subjectAltNames(subjectaltname: string | undefined): string[] {
  const names: string[] = [];
  for (const entry of (subjectaltname ?? "").split(/,\s*/)) {
    const m = /^(DNS|URI|email|IP Address):(.+)$/.exec(entry);
    if (m === null) continue;
    const kind = m[1] === "DNS" ? "dns" : m[1] === "URI" ? "uri" : m[1] === "email" ? "email" : "ip";
    names.push(`${kind}:${m[2]!}`);
  }
  return names;
}
