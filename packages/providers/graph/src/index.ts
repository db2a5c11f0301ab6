/**
 * `@clientmail/graph`: the clientmail mail provider for Microsoft 365 / Outlook mailboxes,
 * over Microsoft Graph.
 *
 * @example
 * ```ts
 * import { ConcurrencyLimiter, createGraphProvider } from "@clientmail/graph";
 *
 * const provider = createGraphProvider({
 *   mailbox: "ann@firm.com",
 *   getAccessToken: async ({ forceRefresh }) => tokens.get("ann@firm.com", { forceRefresh }),
 *   folders: ["inbox", "sentitems"],
 *   limiter: limiters.for("ann@firm.com"), // one ConcurrencyLimiter per mailbox, shared by its providers
 *   push: { notificationUrl: "https://app.example.com/hooks/graph", lifecycleNotificationUrl: "https://app.example.com/hooks/graph" },
 * });
 * app.post("/hooks/graph", (req) => provider.handleWebhook(req));
 * for await (const page of provider.changes(undefined)) console.log(page.added.length);
 * ```
 *
 * @module
 */
export { createGraphProvider } from "./graph-provider.js";
export type { GraphProvider } from "./graph-provider.js";
export type { GraphProviderSettings, GraphPushSettings, Timers } from "./settings.js";
export { ConcurrencyLimiter } from "./limiter.js";
export type { RetryPolicy } from "@clientmail/provider-utils";
export { SEARCH_RESULT_CAP } from "./search.js";
export { clientStateMatches } from "./watch.js";
export { COMPOSED_ID_PROPERTY, createGraphSender } from "./send.js";
export type { GraphSenderSettings } from "./send.js";
