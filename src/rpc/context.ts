import { createContextKey } from "@connectrpc/connect";

/**
 * Which kind of listener a call arrived on. The default is "tcp", the
 * stricter one: a call whose transport is unknown must authenticate.
 */
export const listenerKindKey = createContextKey<"unix" | "tcp">("tcp", { description: "listener kind" });

/**
 * The `authorization` header when the transport can read it without
 * materializing every header (grpc-js metadata); undefined means "read
 * ctx.requestHeader".
 */
export const authorizationKey = createContextKey<string | null | undefined>(undefined, { description: "authorization header" });
