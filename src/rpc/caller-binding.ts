import { BrokerError, userNotAllowed } from "../errors/index.js";
import type { CallerIdentity } from "./context.js";

/**
 * A caller bound to users (a job token, a configured caller with `users`)
 * acts only for them, and a job token with providers only for those
 * (docs/design.md §6). Judged on the request's `user_id`, `provider_id` and
 * `provider_ids` before the handler runs, so a refused call changes nothing.
 * An empty `user_id` from a caller bound to exactly one user means that
 * user (the git credential helper asks for "the job token's own user").
 */
export function enforceBinding(caller: CallerIdentity, input: unknown): void {
  if (typeof input !== "object" || input === null) return;
  const req = input as { userId?: unknown; providerId?: unknown; providerIds?: unknown };
  const users = caller.users;
  if (users !== undefined && typeof req.userId === "string") {
    if (req.userId === "") {
      if (users.length === 1) req.userId = users[0];
      else throw BrokerError.invalidArgument("user_id", `must be set: caller ${caller.name} acts for several users`);
    } else if (!users.includes(req.userId)) {
      throw userNotAllowed(caller.name, { userId: req.userId });
    }
  }
  const providers = caller.providers;
  if (providers === undefined || providers.length === 0) return;
  if (typeof req.providerId === "string" && req.providerId !== "" && !providers.includes(req.providerId)) {
    throw userNotAllowed(caller.name, { providerId: req.providerId });
  }
  if (Array.isArray(req.providerIds)) {
    for (const p of req.providerIds) if (typeof p === "string" && !providers.includes(p)) throw userNotAllowed(caller.name, { providerId: p });
  }
}
