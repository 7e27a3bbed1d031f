import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { tempDir } from "../support/temp-dir.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The sources a child process needs: the store, its SQLite implementation and the fake sealer. */
function sources(): string[] {
  const tsFiles = (dir: string): string[] => readdirSync(join(repo, dir)).filter((f) => f.endsWith(".ts")).map((f) => join(repo, dir, f));
  return [...tsFiles("src/store/sqlite"), ...tsFiles("src/store"), join(repo, "src/crypto/sealer.ts"), join(repo, "test/store/fake-sealer.ts")];
}

/**
 * Transpiles the store (no type check) into a private temp dir, so child
 * processes can run it with plain `node` without touching the shared dist/.
 * The dir gets a node_modules symlink to the repo's, for better-sqlite3,
 * and is removed when the caller's scope ends.
 */
export function buildStoreForChildren(): string {
  const out = tempDir("tb-store-build-");
  writeFileSync(join(out, "package.json"), JSON.stringify({ type: "module" }));
  symlinkSync(join(repo, "node_modules"), join(out, "node_modules"), "dir");
  for (const file of sources()) {
    const { outputText } = ts.transpileModule(readFileSync(file, "utf8"), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
        esModuleInterop: true,
      },
    });
    const target = join(out, relative(repo, file)).replace(/\.ts$/, ".js");
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  return out;
}

export const CHILD_SCRIPT = join(repo, "test/store/fixtures/race-child.mjs");
