/**
 * The import rules (docs/design.md §1, checked by `.dependency-cruiser.cjs`
 * in `npm test`) really refuse what they say: dependency-cruiser runs with the
 * project's config on a copy of src/ into which forbidden imports were added,
 * and must fail naming each broken rule and the offending file.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/temp-dir.js";

const root = resolve(import.meta.dirname, "../..");
const DEPCRUISE = join(root, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs");
const copies: string[] = [];

afterAll(() => {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  output: string;
}

function depcruise(cwd: string): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [DEPCRUISE, "src", "--config", ".dependency-cruiser.cjs"], { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      done({ code, output: stdout + stderr });
    });
  });
}

/** The project as the check sees it, with `files` (path → content) added. */
function projectCopy(files: Record<string, string>): string {
  const dir = tempDir("tb-rules-");
  copies.push(dir);
  for (const f of ["src", "docs/rooms.json", ".dependency-cruiser.cjs", "tsconfig.json", "package.json"]) cpSync(join(root, f), join(dir, f), { recursive: true });
  for (const link of ["node_modules", "gen"]) symlinkSync(join(root, link), join(dir, link));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

describe("the import rules check (docs/design.md §1)", () => {
  it("passes on the project as it is", async () => {
    const run = await depcruise(root);
    expect(run.output).toContain("no dependency violations found");
    expect(run.code).toBe(0);
  });

  it("fails on each kind of forbidden import, naming the rule and the file", async () => {
    const cases: Array<{ rule: string; from: string; to: string; files: Record<string, string> }> = [
      {
        rule: "room-broker",
        from: "src/broker/upward.ts",
        to: "src/rpc/target.ts",
        files: { "src/broker/upward.ts": `import { x } from "../rpc/target.js";\nexport const y = x;\n`, "src/rpc/target.ts": "export const x = 1;\n" },
      },
      {
        rule: "through-index-oauth",
        from: "src/providers/deep.ts",
        to: "src/oauth/internal.ts",
        files: { "src/providers/deep.ts": `import { x } from "../oauth/internal.js";\nexport const y = x;\n`, "src/oauth/internal.ts": "export const x = 1;\n" },
      },
      {
        // A type-only import counts: the domain must not know the wire format at all.
        rule: "wire-at-the-edge",
        from: "src/errors/wire.ts",
        to: "gen/tokenbroker/v1/errors_pb.ts",
        files: { "src/errors/wire.ts": `import type { ErrorReason } from "../../gen/tokenbroker/v1/errors_pb.js";\nexport type Y = ErrorReason;\n` },
      },
      {
        rule: "store-sqlite-from-the-root",
        from: "src/store/knows-impl.ts",
        to: "src/store/sqlite/target.ts",
        files: { "src/store/knows-impl.ts": `import { x } from "./sqlite/target.js";\nexport const y = x;\n`, "src/store/sqlite/target.ts": "export const x = 1;\n" },
      },
      {
        rule: "no-circular",
        from: "src/listen/cycle-a.ts",
        to: "src/listen/cycle-b.ts",
        files: {
          "src/listen/cycle-a.ts": `import { b } from "./cycle-b.js";\nexport const a = (): number => b() + 1;\n`,
          "src/listen/cycle-b.ts": `import { a } from "./cycle-a.js";\nexport const b = (): number => a() - 1;\n`,
        },
      },
    ];
    const copy = projectCopy(Object.assign({}, ...cases.map((c) => c.files), { "src/listen/orphan.ts": "export const unused = 1;\n" }));
    const run = await depcruise(copy);
    expect(run.code, run.output).not.toBe(0);
    const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    for (const c of cases) expect(run.output).toMatch(new RegExp(`error ${c.rule}: ${esc(c.from)} →\\s+${esc(c.to)}`));
    expect(run.output).toMatch(/error no-orphans: src\/listen\/orphan\.ts/);
    // Nothing but the injected imports (and the orphan) is reported.
    expect(run.output).toContain(`${cases.length + 1} dependency violations`);
  });

  it("refuses a folder under src/ that is in no room of the table", async () => {
    const copy = projectCopy({ "src/stray/thing.ts": "export const x = 1;\n" });
    const run = await depcruise(copy);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain("src/stray/ is in no room of docs/rooms.json");
  });
});
