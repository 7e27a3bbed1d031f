import type { ServerResponse } from "node:http";
import { Code } from "@connectrpc/connect";
import { BrokerError, Reason } from "../errors/index.js";
import type { Logger } from "../log.js";
import type { LinkFlows } from "../link/link-flows.js";
import type { CallbackUrls } from "../providers/index.js";
import { grpcCode } from "../rpc/wire-error.js";
import type { WebRoute } from "../listeners/web-listener.js";

/**
 * GET {public_url}/oauth/{provider_id}/callback: the browser comes back from
 * the provider. The state is consumed (single use) before anything else; a
 * wrong, expired or replayed state, or a provider-reported error, gets a 400
 * page and stores nothing. The page never echoes the code or the state.
 */
export function oauthCallbackRoute(flows: LinkFlows, callbacks: CallbackUrls, log: Logger): WebRoute {
  return async (req, res, url) => {
    const providerId = callbacks.providerOf(url.pathname);
    if (providerId === undefined) return false;
    if (req.method !== "GET") {
      page(res, 405, "Method not allowed", "Use GET.");
      return true;
    }
    if (providerId === null) {
      page(res, 400, "Bad request", "Malformed provider in the callback path.");
      return true;
    }
    const state = url.searchParams.get("state") ?? "";
    const code = url.searchParams.get("code") ?? "";
    const providerError = url.searchParams.get("error");
    if (providerError !== null) {
      // Burn the state so the same flow cannot be completed later.
      await flows.complete(state, "", providerId).catch(() => undefined);
      log.info({ provider: providerId, error: providerError.slice(0, 64) }, "provider refused the link");
      page(res, 400, "Linking failed", `The provider answered: ${providerError.slice(0, 200)}. Nothing was stored; start again.`);
      return true;
    }
    try {
      const { redirectAfter } = await flows.complete(state, code, providerId);
      const location = redirectAfter === null ? undefined : flows.redirectLocation(redirectAfter);
      if (redirectAfter !== null && location === undefined) log.warn({ provider: providerId }, "stored redirect_after no longer allowed; showing the success page");
      if (location !== undefined) {
        res.writeHead(302, { location, "cache-control": "no-store", "referrer-policy": "no-referrer" }).end();
      } else {
        page(res, 200, "Linked", `Your ${providerId} account is linked. You can close this window.`);
      }
    } catch (err) {
      const status = !(err instanceof BrokerError) ? 500 : err.reason === Reason.INVALID_ARGUMENT ? 400 : grpcCode(err.reason) === Code.Unavailable ? 503 : 502;
      const message = err instanceof BrokerError ? err.message : "internal error";
      if (!(err instanceof BrokerError)) log.error({ provider: providerId }, "callback failed");
      page(res, status, "Linking failed", `${message}. Nothing was stored; start again.`);
    }
    return true;
  };
}

function page(res: ServerResponse, status: number, title: string, message: string): void {
  const body = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>\n`;
  res
    .writeHead(status, {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      // The callback URL holds the code: never leak it through Referer.
      "referrer-policy": "no-referrer",
      "content-security-policy": "default-src 'none'",
      "x-content-type-options": "nosniff",
    })
    .end(body);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
