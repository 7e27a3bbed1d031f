import { Code } from "@connectrpc/connect";
import type { Logger } from "../log.js";
import type { CallObserver } from "./service.js";
import { wireStatus } from "./wire-error.js";

/**
 * Logs every call that ended as INTERNAL: the caller sees only "internal
 * error" (nothing internal may leak to it), so the log is the one place an
 * operator learns what happened. It carries the error's name and stack
 * frames, never its message — a library's message may quote a URL or a body.
 */
export function internalErrorLogger(log: Logger): CallObserver {
  return ({ method, error }) => {
    if (error === undefined || wireStatus(error).code !== Code.Internal) return;
    const name = error instanceof Error ? error.name : typeof error;
    const frames = error instanceof Error ? (error.stack ?? "").split("\n").filter((l) => l.trimStart().startsWith("at ")).slice(0, 8).map((l) => l.trim()) : [];
    log.error({ method: `${method.parent.typeName}/${method.name}`, err: { name, frames } }, "internal error");
  };
}
