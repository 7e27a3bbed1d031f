import { spawn } from "node:child_process";
import { CLI, assertBuilt } from "../support/cli.js";

export interface TtyResult {
  code: number | null;
  /** Everything the terminal showed (stdout and stderr together, CRLF line ends). */
  screen: string;
}

/**
 * Runs the built CLI on a pseudo-terminal (util-linux `script`), so its
 * stdin, stdout and stderr are TTYs. `answer` is typed once `prompt` shows.
 */
export function runInTty(args: string[], opts: { prompt?: RegExp; answer?: string; timeoutMs?: number } = {}): Promise<TtyResult> {
  assertBuilt();
  const command = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, TERM: "dumb" } });
    let screen = "";
    let answered = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`tokenbroker ${args.join(" ")} on a TTY did not finish:\n${screen}`));
    }, opts.timeoutMs ?? 30_000);
    const onData = (d: Buffer): void => {
      screen += d.toString();
      if (!answered && opts.prompt !== undefined && opts.prompt.test(screen)) {
        answered = true;
        child.stdin.write(opts.answer ?? "\n");
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, screen });
    });
  });
}
