import { randomBytes } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ImportLinkRequestSchema } from "../../gen/tokenbroker/v1/link_service_pb.js";
import type { ImportJob, ImportLinkInit, ImportResult } from "../protocol.js";
import { closeAll, openChannels, unaryRaw, waitReady } from "./channels.js";
import { ErrorCounter } from "./errors.js";
import { PATHS } from "./requests.js";

/** Token values shaped like a provider's (prefix + 32 base64url characters); random, never printed. */
export function syntheticToken(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString("base64url")}`;
}

/**
 * Seeds links through LinkService/ImportLink with `concurrency` calls in
 * flight over a few channels, and times it.
 */
export async function runImport(job: ImportJob): Promise<ImportResult> {
  const total = job.links?.length ?? job.synthetic?.count ?? 0;
  const linkAt = (i: number): ImportLinkInit => {
    const given = job.links?.[i];
    if (given !== undefined) return given;
    const s = job.synthetic!;
    return { userId: `${s.userPrefix}${s.from + i}`, accessToken: syntheticToken("bench_at"), refreshToken: syntheticToken("bench_rt"), expiresAtMs: s.expiresAtMs };
  };
  const clients = openChannels(job.address, job.channels);
  await waitReady(clients);
  const errors = new ErrorCounter();
  let next = 0;
  let imported = 0;
  const t0 = performance.now();
  const worker = async (w: number): Promise<void> => {
    for (let i = next++; i < total; i = next++) {
      const link = linkAt(i);
      const req = create(ImportLinkRequestSchema, {
        userId: link.userId,
        providerId: job.providerId,
        accessToken: link.accessToken,
        refreshToken: link.refreshToken,
        expiresAt: timestampFromMs(link.expiresAtMs),
        tokenType: "bearer",
      });
      try {
        await unaryRaw(clients[w % clients.length]!, PATHS.importLink, Buffer.from(toBinary(ImportLinkRequestSchema, req)), 60_000);
        imported++;
      } catch (err) {
        errors.add(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(job.concurrency, total)) }, (_, w) => worker(w)));
  const wallMs = performance.now() - t0;
  closeAll(clients);
  return { kind: "import", imported, wallMs, perSec: imported / (wallMs / 1000), ...errors.tally() };
}
