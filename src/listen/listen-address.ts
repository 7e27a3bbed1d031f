/** Where a listener binds: a Unix socket path, or a TCP host and port. */
export type ListenAddress =
  | { kind: "unix"; path: string; url: string }
  | { kind: "tcp"; host: string; port: number; url: string };

/**
 * Parses `unix:///abs/path`, `unix:relative/path` and `tcp://host:port`
 * (IPv6 hosts in brackets). Returns a problem string instead of throwing so
 * config validation can name the field.
 */
export function parseListenAddress(text: string): ListenAddress | string {
  if (text.startsWith("unix://")) {
    const path = text.slice("unix://".length);
    if (path === "") return "unix socket path is empty";
    return { kind: "unix", path, url: text };
  }
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    if (path === "") return "unix socket path is empty";
    return { kind: "unix", path, url: `unix:${path}` };
  }
  if (text.startsWith("tcp://")) {
    const rest = text.slice("tcp://".length);
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/]+):(\d{1,5})$/.exec(rest);
    if (m === null) return `expected tcp://host:port, got "${text}"`;
    const port = Number(m[2]);
    if (port > 65535) return `port ${port} is out of range`;
    const host = (m[1] as string).replace(/^\[|\]$/g, "");
    return { kind: "tcp", host, port, url: text };
  }
  const scheme = /^([a-z0-9+.-]+):/i.exec(text)?.[1];
  return scheme !== undefined
    ? `unknown listener scheme "${scheme}" (use unix:// or tcp://)`
    : `expected unix:///path or tcp://host:port, got "${text}"`;
}

export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A host as it stands in a URL or a `host:port` target: IPv6 literals in brackets. */
export function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** A bound TCP listener's address, its url spelled as the config spells it. */
export function tcpAddress(host: string, port: number): ListenAddress {
  return { kind: "tcp", host, port, url: `tcp://${hostForUrl(host)}:${port}` };
}
