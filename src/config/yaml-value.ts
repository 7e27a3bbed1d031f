import type { Document } from "yaml";

/**
 * At most this many alias expansions when a config document is turned into
 * a value: a real config uses a handful; an "alias bomb" (aliases of
 * aliases, each level multiplying the last) would otherwise build a value of
 * billions of nodes.
 */
export const MAX_YAML_ALIASES = 100;

/**
 * The document's value, or the problem in our words (issue 23 item 10: the
 * yaml library's own "Excessive alias count indicates a resource exhaustion
 * attack" came out as exit 1 instead of a configuration error).
 */
export function yamlValue(doc: Document): { value: unknown } | { problem: string } {
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) as unknown };
  } catch (err) {
    if (err instanceof ReferenceError && /alias/i.test(err.message)) {
      return { problem: `YAML: too many alias expansions (more than ${MAX_YAML_ALIASES} * and << references resolved); the file is refused so that it cannot exhaust memory` };
    }
    return { problem: `YAML: ${(err as Error).message}` };
  }
}
