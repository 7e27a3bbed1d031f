import { readFileSync } from "node:fs";

/** package.json's version; the build keeps package.json two levels above dist/src. */
export const VERSION: string = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
