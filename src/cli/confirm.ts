import { createInterface } from "node:readline";
import { writeErr } from "./output.js";

/**
 * Asks a yes/no question on the terminal (prompt on stderr, so stdout stays
 * for results). Only "y" or "yes" is a yes; end of input is a no.
 */
export function confirm(question: string): Promise<boolean> {
  writeErr(`${question} [y/N] `);
  const rl = createInterface({ input: process.stdin, terminal: false });
  return new Promise((resolve) => {
    let answered = false;
    rl.once("line", (line) => {
      answered = true;
      rl.close();
      resolve(/^\s*y(es)?\s*$/i.test(line));
    });
    rl.once("close", () => {
      if (!answered) resolve(false);
    });
  });
}
