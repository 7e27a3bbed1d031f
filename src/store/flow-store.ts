/**
 * Pending link flows: an authorization-code flow waiting for its callback,
 * a device flow waiting for the user. Secrets (the PKCE verifier, the device
 * code) are sealed like link tokens; the state and the session id are
 * stored only as SHA-256 hashes, so a database reader cannot complete a
 * flow. All times are epoch milliseconds.
 */
export interface AuthFlow {
  stateHash: string;
  providerId: string;
  userId: string;
  /** null when the provider does not do PKCE. */
  codeVerifier: string | null;
  redirectAfter: string | null;
  createdAt: number;
  expiresAt: number;
}

export interface DeviceFlow {
  sessionHash: string;
  providerId: string;
  userId: string;
  deviceCode: string;
  intervalMs: number;
  /** The earliest time the provider may be polled again. */
  nextPollAt: number;
  createdAt: number;
  expiresAt: number;
}

export interface FlowStore {
  createAuthFlow(flow: AuthFlow): Promise<void>;
  /** Single use: removes and returns the flow; undefined when unknown or expired. */
  takeAuthFlow(stateHash: string, now: number): Promise<AuthFlow | undefined>;
  createDeviceFlow(flow: DeviceFlow): Promise<void>;
  getDeviceFlow(sessionHash: string): Promise<DeviceFlow | undefined>;
  /** Reserves the next poll: succeeds only if `now` is past nextPollAt (one poller at a time). */
  claimDevicePoll(sessionHash: string, now: number, intervalMs: number): Promise<DeviceFlow | undefined>;
  /** Sets the interval and the next allowed poll (after a slow_down). */
  setDevicePoll(sessionHash: string, intervalMs: number, nextPollAt: number): Promise<void>;
  deleteDeviceFlow(sessionHash: string): Promise<void>;
  /** Removes flows past their expiry; returns how many. */
  purgeExpiredFlows(now: number): Promise<number>;
}
