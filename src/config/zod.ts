import { config } from "zod";

/**
 * zod, configured before any schema exists (its object schemas read the
 * setting when they are built): jitless, so parsing a config does not
 * generate and compile a parser per object schema with `new Function`. A
 * config is parsed at start and on reload, where that compilation cost more
 * than it saves (issue 24: start to SERVING), and the daemon then never
 * evaluates generated code.
 */
config({ jitless: true });

export * from "zod";
