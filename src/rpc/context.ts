import { createContextKey } from "@connectrpc/connect";

/**
 * Which kind of listener a call arrived on. The default is "tcp", the
 * stricter one: a call whose transport is unknown must authenticate.
 */
export const listenerKindKey = createContextKey<"unix" | "tcp">("tcp", { description: "listener kind" });

/** The authenticated caller's name, when it presented a token. */
export const callerKey = createContextKey<string | undefined>(undefined, { description: "caller name" });

/**
 * The `authorization` header when the transport can read it without
 * materializing every header (grpc-js metadata); undefined means "read
 * ctx.requestHeader".
 */
export const authorizationKey = createContextKey<string | null | undefined>(undefined, { description: "authorization header" });
