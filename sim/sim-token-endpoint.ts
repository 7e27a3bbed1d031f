/**
 * The engine's token-endpoint port for one simulated process: requests and
 * answers travel over virtual time, the provider model decides, and faults
 * (a cut-off process, slow or lost answers, a pause) shape what arrives.
 * Like the HTTP adapter, a request whose answer does not come within its
 * bound fails with `sent: "unknown"`, and an answer that arrived while the
 * process was paused is still used (docs/design.md §3 invariant 15).
 */
import { OAuthError, judgeTokenAnswer, type TokenExchange, type TokenSet } from "../src/oauth/index.js";
import type { RefreshRequest, TokenEndpoint } from "../src/broker/token-endpoint.js";
import type { ProviderEntry } from "../src/providers/registry.js";
import type { AnswerMode, ProviderModel, RawAnswer } from "./provider-model.js";
import type { Rng } from "./rng.js";
import type { SimProcess, VirtualTime } from "./virtual-time.js";

/** One request as the simulation saw it; the checks read these. */
export interface Flight {
  proc: SimProcess;
  link: string;
  presented: string;
  /** pending: no result yet; definitive: tokens or an answered error; unknown: the engine cannot know what happened. */
  result: "pending" | "definitive" | "unknown";
}

export class SimTokenEndpoint implements TokenEndpoint {
  /** Cut off from the provider: requests are written and vanish. */
  cut = false;
  /** Called when the provider has processed a request of this process (a fault point: freeze it right then). */
  onProcessed: () => void = () => undefined;

  constructor(
    private readonly time: VirtualTime,
    private readonly proc: SimProcess,
    private readonly provider: ProviderModel,
    private readonly rng: Rng,
    private readonly flights: Flight[],
  ) {}

  refresh(entry: ProviderEntry, refreshToken: string, req: RefreshRequest): Promise<TokenSet> {
    const time = this.time;
    const proc = this.proc;
    const link = this.provider.linkOf(refreshToken) ?? "?";
    const blackhole = this.cut;
    const mode: AnswerMode = blackhole ? { kind: "lost" } : this.provider.nextMode();
    const start = time.now;
    const flight: Flight = { proc, link, presented: refreshToken, result: "pending" };
    this.flights.push(flight);
    return new Promise<TokenSet>((resolve, reject) => {
      let answer: { at: number; result: TokenSet | OAuthError } | undefined;
      const finish = (result: TokenSet | OAuthError): void => {
        if (flight.result !== "pending") return;
        cancelTimeout();
        flight.result = result instanceof OAuthError && result.sent === "unknown" ? "unknown" : "definitive";
        if (result instanceof OAuthError) {
          reject(result);
        } else {
          this.provider.delivered(link, result, proc.name);
          resolve(result);
        }
      };
      if (mode.kind === "refused") {
        flight.result = "definitive";
        time.at(start + 1, proc, () => reject(new OAuthError({ kind: "transient", sent: "not_sent", message: "connection refused" })));
        return;
      }
      // The bound on waiting; an answer that came in while the process was paused wins (invariant 15).
      const cancelTimeout = time.at(start + req.timeoutMs, proc, () => {
        if (answer !== undefined && answer.at <= time.now) finish(answer.result);
        else finish(new OAuthError({ kind: "transient", sent: "unknown", message: "the provider did not answer in time" }));
      });
      if (blackhole) return; // written, and nothing reaches the provider
      time.at(start + this.rng.between(1, 10), null, () => {
        const raw = this.provider.process(link, refreshToken, time.now, mode, proc.name);
        this.onProcessed();
        if (mode.kind === "lost") return; // processed; the answer never comes back
        const at = time.now + (mode.kind === "slow" ? mode.ms : this.rng.between(1, 10));
        // Judged by the daemon's own code, as the HTTP adapter does (oauth/token-grant.ts).
        const outcome = judgeTokenAnswer(exchangeOf(raw), entry.config, [refreshToken], req.now());
        time.at(at, null, () => {
          answer = { at, result: outcome };
        });
        time.at(at, proc, () => finish(outcome));
      });
    });
  }

  revoke(): Promise<{ revoked: boolean }> {
    return Promise.resolve({ revoked: false });
  }
}

function exchangeOf(raw: RawAnswer): TokenExchange {
  const x: TokenExchange = { status: raw.status, headers: new Headers(raw.headers), nonJson: false };
  if (raw.json !== undefined) x.json = raw.json;
  return x;
}
