import type { Client } from "@connectrpc/connect";
import type { AdminService, GetKeyStatusResponse } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import { writeErr } from "./output.js";

const BAR_EVERY_MS = 200;
const LINE_EVERY_MS = 1000;
const BAR_WIDTH = 30;

export interface RotationProgress {
  /** Stops polling and ends the display; `remaining` (from the rotation's answer) makes the last figure exact. Idempotent. */
  stop(remaining?: number): Promise<void>;
}

/**
 * Shows how far a running `ReencryptLinks` got, on stderr, by polling
 * GetKeyStatus (values under the active key out of all sealed values): a bar
 * redrawn in place on a terminal, a line every second otherwise (a log
 * file or CI output gets readable lines, not carriage returns).
 */
export function watchRotation(admin: Client<typeof AdminService>): RotationProgress {
  const tty = process.stderr.isTTY === true;
  let last: { done: number; total: number; key: string } | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const show = (p: { done: number; total: number; key: string }, final: boolean): void => {
    const pct = p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100);
    if (tty) {
      const filled = Math.round((pct / 100) * BAR_WIDTH);
      writeErr(`\r[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${String(pct).padStart(3)}% ${p.done}/${p.total} values under key ${p.key}${final ? "\n" : ""}`);
    } else {
      writeErr(`re-sealing: ${p.done} of ${p.total} values under the active key ${p.key} (${pct}%)\n`);
    }
  };
  const poll = async (): Promise<void> => {
    try {
      const status = await admin.getKeyStatus({}, { timeoutMs: 10_000 });
      if (stopped) return;
      last = figures(status);
      show(last, false);
    } catch {
      // The rotation call itself reports what went wrong.
    }
    if (!stopped) timer = setTimeout(() => void (inFlight = poll()), tty ? BAR_EVERY_MS : LINE_EVERY_MS);
  };
  inFlight = poll();

  return {
    async stop(remaining) {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      await inFlight;
      if (last !== undefined && remaining !== undefined) show({ ...last, done: last.total - remaining }, true);
      else if (last !== undefined && tty) writeErr("\n");
    },
  };
}

function figures(status: GetKeyStatusResponse): { done: number; total: number; key: string } {
  const active = status.keys.find((k) => k.active);
  const total = status.keys.reduce((n, k) => n + k.sealedValues, 0) + status.valuesUnderUnknownKeys;
  return { done: active?.sealedValues ?? 0, total, key: active?.keyId ?? "?" };
}
