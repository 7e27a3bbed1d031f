import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FaultRig, type DaemonOptions, type RigDaemon } from "../../faults/support/rig.js";
import type { FakeProviderOptions } from "../../support/fake-provider.js";
import type { PgServer } from "../../support/postgres.js";

/** The preload that makes one daemon another host with a clock 10 minutes fast. */
export const SKEWED_HOST = join(import.meta.dirname, "skewed-host.mjs");

/**
 * A fault rig whose daemons share one fresh PostgreSQL database (the URL in
 * a file, as operators configure it) instead of a SQLite file.
 */
export class Fleet {
  private constructor(
    readonly rig: FaultRig,
    readonly url: string,
    readonly urlFile: string,
  ) {}

  static async start(server: PgServer, fakeOpts: FakeProviderOptions = {}): Promise<Fleet> {
    const rig = await FaultRig.start(fakeOpts);
    const url = await server.freshDatabase();
    const urlFile = join(rig.dir, "pg-url");
    writeFileSync(urlFile, `${url}\n`, { mode: 0o600 });
    return new Fleet(rig, url, urlFile);
  }

  get fake() {
    return this.rig.fake;
  }

  store(over: Record<string, unknown> = {}): Record<string, unknown> {
    return { postgres: { url_file: this.urlFile, pool_size: 10, statement_timeout: "2s", lock_timeout: "1s", ...over } };
  }

  daemon(opts: DaemonOptions & { postgres?: Record<string, unknown> } = {}): Promise<RigDaemon> {
    const { postgres, ...rest } = opts;
    return this.rig.daemon({ ...rest, store: this.store(postgres) });
  }

  async daemons(n: number, opts: DaemonOptions = {}): Promise<RigDaemon[]> {
    // One at a time is slower but proves nothing less; at once proves the migration lock.
    return Promise.all(Array.from({ length: n }, () => this.daemon(opts)));
  }

  close(): Promise<void> {
    return this.rig.close();
  }
}
