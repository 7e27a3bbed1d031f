/**
 * The import rules of src/ (`npm test` runs `depcruise src`). The rooms and
 * which room may import which are read from docs/rooms.json, the rule itself;
 * docs/design.md §1 shows it as a table, and test/foundation/rooms-table.test.ts
 * fails when the two disagree. The few rules a room's entry cannot express are
 * written out below, and docs/design.md §1 lists them in words.
 */
const { readdirSync, readFileSync } = require("node:fs");
const { join } = require("node:path");

const ROOMS = join(__dirname, "docs", "rooms.json");
const SRC = join(__dirname, "src");

/** `x/` is a folder under src/, `x.ts` a file. */
const pathOf = (name) => (name.endsWith("/") ? `^src/${escape(name)}` : `^src/${escape(name)}$`);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function readRooms() {
  const rooms = JSON.parse(readFileSync(ROOMS, "utf8")).rooms.map((r) => ({ ...r, id: r.names[0] }));
  const byName = new Map(rooms.flatMap((r) => r.names.map((n) => [n, r])));
  rooms.forEach((room, i) => {
    room.wire = room.everything === true || room.wire === true;
    if (room.everything === true) room.allowed = rooms.filter((r) => r !== room);
    else {
      room.allowed = room.everyRoomAbove === true ? rooms.slice(0, i) : [];
      for (const name of room.imports) {
        const target = byName.get(name);
        if (target === undefined) throw new Error(`${ROOMS}: room ${room.id} may import "${name}", which is no room`);
        if (rooms.indexOf(target) > i) throw new Error(`${ROOMS}: room ${room.id} may import ${name}, which stands below it`);
        room.allowed.push(target);
      }
    }
  });
  return rooms;
}

const rooms = readRooms();
const paths = (room) => room.names.map(pathOf);
/** A rule-name form of a room: `log.ts` → log, `store/` → store. */
const label = (room) => room.id.replace(/\/$|\.ts$/, "");

// Every file under src/ must live in a room: a new folder needs a row first.
for (const entry of readdirSync(SRC, { withFileTypes: true })) {
  const name = entry.isDirectory() ? `${entry.name}/` : entry.name;
  if (!rooms.some((r) => r.names.includes(name))) throw new Error(`src/${name} is in no room of docs/rooms.json (docs/design.md §1)`);
}

const compositionRoot = rooms.find((r) => r.everything === true);
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
