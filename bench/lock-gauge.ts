/**
 * The size of the daemon's per-key lock map (RefreshEngine.lockCount), read
 * from the web listener's Prometheus endpoint: `GET /metrics` (open, no
 * caller token) has the gauge
 *   tokenbroker_refresh_locks  <engine.lockCount>
 * A build without it answers { exposed: false } and the target reads "N/A".
 */
export const LOCK_GAUGE = "tokenbroker_refresh_locks";

export type LockGauge = { exposed: true; value: number } | { exposed: false; why: string };

export async function readLockGauge(httpBaseUrl: string): Promise<LockGauge> {
  let res: Response;
  try {
    res = await fetch(`${httpBaseUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
  } catch (err) {
    return { exposed: false, why: `GET /metrics failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  const body = await res.text();
  if (!res.ok) return { exposed: false, why: `GET /metrics answered HTTP ${res.status}` };
  const m = new RegExp(`^${LOCK_GAUGE}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)\\s*$`, "m").exec(body);
  if (m?.[1] === undefined) return { exposed: false, why: `/metrics has no ${LOCK_GAUGE} gauge` };
  return { exposed: true, value: Number(m[1]) };
}
