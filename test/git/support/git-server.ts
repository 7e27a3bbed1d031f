/**
 * A smart-HTTP git server on loopback for the credential-helper tests: git's
 * own `git http-backend` as a CGI behind a small node:http server that lets a
 * request through only with an access token the caller's check accepts
 * (Basic with the token as the password, or Bearer). Everything else is 401
 * with a Basic challenge, as GitHub answers, so git asks its helper.
 */
import { spawn, execFileSync } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { atScopeEnd } from "../../support/scope-cleanup.js";

export interface GitServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Every request's outcome, in order: the token it carried (or null) and whether it was let through. */
  readonly requests: Array<{ token: string | null; scheme: string | null; accepted: boolean; path: string }>;
  /** The next `n` requests carrying an otherwise accepted token are refused with 401 all the same. */
  rejectNext(n: number): void;
  close(): Promise<void>;
}

/** A bare repository `name` under `root`, with one commit on main. */
export function bareRepo(root: string, name: string, env: NodeJS.ProcessEnv): string {
  const work = `${root}/${name}-seed`;
  const git = (args: string[], cwd?: string): void => void execFileSync("git", args, { cwd, env, stdio: "pipe" });
  git(["init", "-q", "-b", "main", work]);
  execFileSync("sh", ["-c", "echo hello > README && git add README && git -c user.name=t -c user.email=t@example.invalid commit -q -m first"], { cwd: work, env });
  git(["clone", "-q", "--bare", work, `${root}/${name}.git`]);
  return `${root}/${name}.git`;
}

export async function startGitServer(root: string, accepts: (token: string) => boolean, env: NodeJS.ProcessEnv): Promise<GitServer> {
  const requests: GitServer["requests"] = [];
  let refuse = 0;
  const server = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const { token, scheme } = credentialOf(req.headers.authorization);
    let accepted = token !== null && accepts(token);
    if (accepted && refuse > 0) {
      refuse--;
      accepted = false;
    }
    requests.push({ token, scheme, accepted, path: url.pathname });
    if (!accepted) {
      req.resume();
      res.writeHead(401, { "www-authenticate": 'Basic realm="git"', "content-type": "text/plain" });
      res.end("authentication required\n");
      return;
    }
    const cgi = spawn("git", ["http-backend"], {
      env: {
        ...env,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        // Pushes need receive-pack on, or an authenticated REMOTE_USER (set too).
        GIT_CONFIG_COUNT: "1",
        GIT_CONFIG_KEY_0: "http.receivepack",
        GIT_CONFIG_VALUE_0: "true",
        REMOTE_USER: "git-user",
        REQUEST_METHOD: req.method ?? "GET",
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        ...(req.headers["content-length"] !== undefined ? { CONTENT_LENGTH: req.headers["content-length"] } : {}),
        ...(req.headers["content-encoding"] !== undefined ? { HTTP_CONTENT_ENCODING: req.headers["content-encoding"] } : {}),
        ...(req.headers["git-protocol"] !== undefined ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    req.pipe(cgi.stdin);
    const out: Buffer[] = [];
    cgi.stdout.on("data", (d: Buffer) => out.push(d));
    cgi.stderr.on("data", () => {});
    await new Promise<void>((resolve) => cgi.on("close", () => resolve()));
    const all = Buffer.concat(out);
    let split = all.indexOf("\r\n\r\n");
    let sep = 4;
    if (split < 0) {
      split = all.indexOf("\n\n");
      sep = 2;
    }
    const head = all.subarray(0, split < 0 ? 0 : split).toString("latin1");
    const headers: Record<string, string> = {};
    let status = 200;
    for (const line of head.split(/\r?\n/)) {
      const at = line.indexOf(":");
      if (at < 0) continue;
      const k = line.slice(0, at).trim().toLowerCase();
      const v = line.slice(at + 1).trim();
      if (k === "status") status = Number.parseInt(v, 10);
      else headers[k] = v;
    }
    res.writeHead(status, headers);
    res.end(all.subarray(split < 0 ? 0 : split + sep));
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  const close = (): Promise<void> => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  atScopeEnd(close);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    rejectNext(n) {
      refuse += n;
    },
    close,
  };
}

function credentialOf(authorization: string | undefined): { token: string | null; scheme: string | null } {
  const m = /^(\w+)\s+(\S+)$/.exec(authorization ?? "");
  if (m === null) return { token: null, scheme: null };
  const scheme = m[1]!.toLowerCase();
  if (scheme === "bearer") return { token: m[2]!, scheme };
  if (scheme !== "basic") return { token: null, scheme };
  const decoded = Buffer.from(m[2]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return { token: colon < 0 ? null : decoded.slice(colon + 1), scheme };
}
