import { expect } from "vitest";
import { startCaptureServer, type CaptureServer, type ScriptedReply } from "./fake-capture.js";
import { startFakeProvider, type FakeProvider, type FakeProviderOptions } from "./fake-provider.js";
import { atScopeEnd } from "./scope-cleanup.js";

/**
 * A fake provider for the caller's scope (the running test, else the test
 * file). When the scope ends it must have met no error in its own handlers
 * (a request it could not make sense of is the test's bug), and it is closed.
 */
export async function useFakeProvider(opts: FakeProviderOptions = {}): Promise<FakeProvider> {
  const fake = await startFakeProvider(opts);
  atScopeEnd(async () => {
    try {
      expect(fake.errors).toEqual([]);
    } finally {
      await fake.close();
    }
  });
  return fake;
}

/** A capture server for the caller's scope, closed when it ends. */
export async function useCaptureServer(fallback?: ScriptedReply): Promise<CaptureServer> {
  const server = await startCaptureServer(fallback);
  atScopeEnd(() => server.close());
  return server;
}
