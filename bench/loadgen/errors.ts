import { status, type ServiceError } from "@grpc/grpc-js";
import { ConnectError, Code } from "@connectrpc/connect";
import type { ErrorTally } from "../protocol.js";

const MAX_SAMPLES = 5;

/** Counts failed calls by status; keeps a few messages (the daemon's never hold secrets). */
export class ErrorCounter {
  errors = 0;
  readonly byCode: Record<string, number> = {};
  readonly samples: string[] = [];

  add(err: unknown): void {
    this.errors++;
    let code: string;
    let message: string;
    if (err instanceof ConnectError) {
      code = `connect:${Code[err.code]}`;
      message = err.rawMessage;
    } else if (typeof err === "object" && err !== null && typeof (err as ServiceError).code === "number") {
      const e = err as ServiceError;
      code = status[e.code] ?? String(e.code);
      message = e.details;
    } else {
      code = "client";
      message = err instanceof Error ? err.message : String(err);
    }
    this.byCode[code] = (this.byCode[code] ?? 0) + 1;
    if (this.samples.length < MAX_SAMPLES) this.samples.push(`${code}: ${message.slice(0, 200)}`);
  }

  tally(): ErrorTally {
    return { errors: this.errors, byCode: this.byCode, samples: this.samples };
  }
}
