/**
 * The import rules of src/ (`npm test` runs `depcruise src`). The rooms and
 * which room may import which are read from the table in docs/design.md §1,
 * so the document and the check cannot drift apart: change the table to
 * change the rules. The few rules the table cannot express are written out
 * below it, and docs/design.md §1 lists them in words.
 */
const { readdirSync, readFileSync } = require("node:fs");
const { join } = require("node:path");

const DESIGN = join(__dirname, "docs", "design.md");
const SRC = join(__dirname, "src");
const TABLE_HEADER = "| room | job | may import |";

/** `x/` is a folder under src/, `x.ts` a file. */
const pathOf = (name) => (name.endsWith("/") ? `^src/${escape(name)}` : `^src/${escape(name)}$`);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const ticked = (cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

function readRooms() {
  const lines = readFileSync(DESIGN, "utf8").split("\n");
  const at = lines.findIndex((l) => l.trim() === TABLE_HEADER);
  if (at < 0) throw new Error(`${DESIGN}: no rooms table (a line "${TABLE_HEADER}")`);
  const rooms = [];
  for (const line of lines.slice(at + 2)) {
    if (!line.startsWith("|")) break;
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (cells.length !== 3) throw new Error(`${DESIGN}: a rooms table row needs 3 cells: ${line}`);
    const [members, job, imports] = cells;
    const names = ticked(members);
    if (names.length === 0) throw new Error(`${DESIGN}: a room without a name: ${line}`);
    const entry = /\(entry: `([^`]+)`\)/.exec(job)?.[1];
    rooms.push({ id: names[0], names, entry, imports });
  }
  const byName = new Map(rooms.flatMap((r) => r.names.map((n) => [n, r])));
  rooms.forEach((room, i) => {
    const cell = room.imports;
    room.wire = cell === "everything" || ticked(cell).includes("gen/");
    if (cell === "everything") room.allowed = rooms.filter((r) => r !== room);
    else if (cell === "nothing of ours") room.allowed = [];
    else {
      room.allowed = /every room above/.test(cell) ? rooms.slice(0, i) : [];
      for (const name of ticked(cell).filter((n) => n !== "gen/")) {
        const target = byName.get(name);
        if (target === undefined) throw new Error(`${DESIGN}: room ${room.id} may import "${name}", which is no room`);
        if (rooms.indexOf(target) > i) throw new Error(`${DESIGN}: room ${room.id} may import ${name}, which stands below it`);
        room.allowed.push(target);
      }
    }
  });
  return rooms;
}

const rooms = readRooms();
const paths = (room) => room.names.map(pathOf);
/** A rule-name form of a room: `errors.ts` → errors, `store/` → store. */
const label = (room) => room.id.replace(/\/$|\.ts$/, "");

// Every file under src/ must live in a room: a new folder needs a row first.
for (const entry of readdirSync(SRC, { withFileTypes: true })) {
  const name = entry.isDirectory() ? `${entry.name}/` : entry.name;
  if (!rooms.some((r) => r.names.includes(name))) throw new Error(`src/${name} is in no room of the table in docs/design.md §1`);
}

const compositionRoot = rooms.find((r) => r.imports === "everything");
const WIRE_PACKAGES = "^node_modules/(@connectrpc/|@grpc/grpc-js/|@bufbuild/protobuf/)";

module.exports = {
  forbidden: [
    ...rooms.map((room) => ({
      name: `room-${label(room)}`,
      comment: `${room.id} may import only ${room.allowed.length === 0 ? "nothing of ours" : room.allowed.map((r) => r.id).join(", ")} (docs/design.md §1)`,
      severity: "error",
      from: { path: paths(room) },
      to: { path: "^src/", pathNot: [...paths(room), ...room.allowed.flatMap(paths)] },
    })),
    ...rooms
      .filter((room) => room.entry !== undefined)
      .map((room) => ({
        name: `through-index-${label(room)}`,
        comment: `other rooms enter ${room.id} only through ${room.entry} (docs/design.md §1)`,
        severity: "error",
        from: { path: "^src/", pathNot: paths(room) },
        to: { path: paths(room), pathNot: pathOf(room.entry) },
      })),
    {
      name: "wire-at-the-edge",
      comment: "only the rooms whose row names gen/ (and the composition root) import gen/ or the wire libraries (docs/design.md §1)",
      severity: "error",
      from: { path: "^src/", pathNot: rooms.filter((r) => r.wire).flatMap(paths) },
      to: { path: ["^gen/", WIRE_PACKAGES] },
    },
    {
      name: "store-sqlite-from-the-root",
      comment: "only the composition root imports store/sqlite/; everything else sees the store interfaces (docs/design.md §1)",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/store/sqlite/", ...paths(compositionRoot)] },
      to: { path: "^src/store/sqlite/" },
    },
    {
      name: "store-postgres-from-the-root",
      comment: "only the composition root imports store/postgres/; everything else sees the store interfaces (docs/design.md §1)",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/store/postgres/", ...paths(compositionRoot)] },
      to: { path: "^src/store/postgres/" },
    },
    {
      name: "store-memory-from-the-root",
      comment: "only the composition root imports store/memory/ (tests and the simulation do too); everything else sees the store interfaces (docs/design.md §1)",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/store/memory/", ...paths(compositionRoot)] },
      to: { path: "^src/store/memory/" },
    },
    {
      name: "pg-in-store-postgres",
      comment: "pg is used only in src/store/postgres/ (docs/design.md §1)",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/store/postgres/" },
      to: { path: "^node_modules/pg/" },
    },
    {
      name: "better-sqlite3-in-store-sqlite",
      comment: "better-sqlite3 is used only in src/store/sqlite/ (docs/design.md §1)",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/store/sqlite/" },
      to: { path: "^node_modules/better-sqlite3/" },
    },
    {
      name: "oauth4webapi-in-oauth",
      comment: "oauth4webapi is used only in src/oauth/ (docs/design.md §1)",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/oauth/" },
      to: { path: "^node_modules/oauth4webapi/" },
    },
    {
      name: "no-circular",
      comment: "an import cycle: some module has more than one job",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-orphans",
      comment: "a file nothing imports and that imports nothing: dead, or not wired in",
      severity: "error",
      from: { orphan: true, pathNot: "\\.d\\.ts$" },
      to: {},
    },
    {
      name: "not-to-unresolvable",
      comment: "an import that does not resolve to a file or package",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: "not-to-dev-dependency",
      comment: "src/ runs in production: it must not import a devDependency",
      severity: "error",
      from: { path: "^src/" },
      to: { dependencyTypes: ["npm-dev"], dependencyTypesNot: ["type-only"] },
    },
  ],
  options: {
    // Type-only imports count: a type from gen/ in the domain is the wire leaking in all the same.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    // node_modules is a symlink in worktrees; keep its paths as written so the rules match.
    preserveSymlinks: true,
    doNotFollow: { path: ["node_modules", "^gen/"] },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
    skipAnalysisNotInRules: true,
  },
};
