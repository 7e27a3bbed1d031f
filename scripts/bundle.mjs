#!/usr/bin/env node
// Links the compiled CLI entries (tsc's output under dist/src) into a few
// files, in place, so `tokenbroker` and `git-credential-tokenbroker` load
// about 10 files instead of about 800 (issue 24: start to SERVING; reading,
// resolving and linking each module was about 65 % of a daemon's start).
//
// - The input is tsc's output, so the bundle runs exactly the code that was
//   typechecked; esbuild only links it. `npm run build` runs tsc, then this.
// - Code splitting keeps the CLI's dynamic imports lazy: `--version` and the
//   git helper still load no wire library (test/cli/start-imports).
// - Chunks sit beside the entries in dist/src, so a module's
//   `import.meta.url` keeps its directory's meaning (the peercred addon is
//   found by walking up from it; version.ts likewise).
// - Native and optional packages stay external: better-sqlite3 and
//   unix-dgram find their addons from their own files, pg is imported only
//   for a PostgreSQL store, @grpc/proto-loader never at all.
// - The other compiled modules stay in dist/src for the benchmarks and tools
//   that import them; nothing run as a command imports them.
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { build } from "esbuild";

const root = join(dirname(new URL(import.meta.url).pathname), "..");
const out = join(root, "dist", "src");
const MARK = "// tokenbroker: linked by scripts/bundle.mjs";
const entries = [join(out, "main.js"), join(out, "cli", "git-credential", "bin.js")];

for (const entry of entries) {
  if (!existsSync(entry)) {
    console.error(`bundle: ${entry} is missing; run tsc first (npm run build does both)`);
    process.exit(1);
  }
}
// Linked already (this script ran after tsc's last write): linking a bundle again would only re-link the same code.
if (entries.every((e) => readFileSync(e, "utf8").includes(MARK))) process.exit(0);
for (const name of readdirSync(out)) if (/^chunk-.*\.js(\.map)?$/.test(name)) rmSync(join(out, name));

await build({
  entryPoints: entries,
  outdir: out,
  outbase: out,
  entryNames: "[dir]/[name]",
  chunkNames: "chunk-[hash]",
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  // No comments, no indentation: V8 keeps every loaded source as a string, two bytes a character once a comment holds an em dash.
  minifyWhitespace: true,
  logLevel: "warning",
  // grpc-js requires @grpc/proto-loader (and protobufjs, 150 KB) only inside channelz's and ORCA's
  // service loaders, which the daemon never calls: left a runtime require, it is never read.
  external: ["better-sqlite3", "unix-dgram", "pg", "pg-native", "@grpc/proto-loader"],
  // CommonJS packages inside an ES module bundle still call require() for Node's own modules.
  banner: { js: `${MARK}\nimport { createRequire as __tbCreateRequire } from "node:module";\nconst require = __tbCreateRequire(import.meta.url);` },
});
