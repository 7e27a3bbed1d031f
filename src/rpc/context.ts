import { createContextKey } from "@connectrpc/connect";

/**
 * Which kind of listener a call arrived on. The default is "tcp", the
 * stricter one: a call whose transport is unknown must authenticate.
 */
export const listenerKindKey = createContextKey<"unix" | "tcp">("tcp", { description: "listener kind" });

/** The authenticated caller's name, when it presented a token. */
export const callerKey = createContextKey<string | undefined>(undefined, { description: "caller name" });
