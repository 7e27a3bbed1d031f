import { isAbsolute, relative } from "node:path";

/**
 * How a person runs this CLI again, for instructions the CLI prints: the
 * installed `tokenbroker` binary, or `node dist/src/main.js` when the running
 * script is in a checkout under the current directory. Never `npx
 * tokenbroker`: outside the checkout npx asks the public registry for a
 * package of that name, which is not this project (docs/design.md §7).
 */
export function cliInvocation(script: string | undefined = process.argv[1], cwd: string = process.cwd()): string {
  if (script === undefined || !/(^|\/)dist\/src\/main\.js$/.test(script)) return "tokenbroker";
  const rel = relative(cwd, script);
  if (rel.startsWith("..") || isAbsolute(rel)) return "tokenbroker";
  return `node ${rel}`;
}
