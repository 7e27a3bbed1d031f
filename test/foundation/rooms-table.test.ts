/**
 * docs/rooms.json is the import rule (`.dependency-cruiser.cjs` reads it);
 * the table in docs/design.md §1 shows it to readers. They must say the same:
 * the same rooms in the same order, each with the same entry and the same
 * rooms it may import. Only this test reads the Markdown, so a change of the
 * document's layout cannot break the import check itself.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");

interface Room {
  names: string[];
  entry?: string;
  imports?: string[];
  everyRoomAbove?: boolean;
  wire?: boolean;
  everything?: boolean;
}

const ticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** The table's rows in the form of docs/rooms.json. */
function tableRooms(): Room[] {
  const lines = readFileSync(join(root, "docs/design.md"), "utf8").split("\n");
  const at = lines.findIndex((l) => /^\|\s*room\s*\|\s*job\s*\|\s*may import\s*\|$/.test(l.trim()));
  expect(at, "docs/design.md §1 has a rooms table (| room | job | may import |)").toBeGreaterThanOrEqual(0);
  const rooms: Room[] = [];
  for (const line of lines.slice(at + 2)) {
    if (!line.trim().startsWith("|")) break;
    const [members = "", job = "", imports = ""] = line.trim().split("|").slice(1, -1).map((c) => c.trim());
    const room: Room = { names: ticked(members) };
    const entry = /\(entry: `([^`]+)`\)/.exec(job)?.[1];
    if (entry !== undefined) room.entry = entry;
    if (imports === "everything") room.everything = true;
    else {
      room.imports = ticked(imports).filter((n) => n !== "gen/");
      if (/every room above/.test(imports)) room.everyRoomAbove = true;
      if (ticked(imports).includes("gen/")) room.wire = true;
    }
    rooms.push(room);
  }
  return rooms;
}

describe("the rooms table in docs/design.md §1", () => {
  it("says what docs/rooms.json, the rule the import check reads, says", () => {
    const rule = (JSON.parse(readFileSync(join(root, "docs/rooms.json"), "utf8")) as { rooms: Room[] }).rooms;
    expect(tableRooms()).toEqual(rule);
  });
});
