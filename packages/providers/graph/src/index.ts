/**
 * `@clientmail/graph`: the clientmail mail provider for Microsoft 365 / Outlook mailboxes,
 * over Microsoft Graph.
 *
 * @example
 * ```ts
 * import { createGraphProvider } from "@clientmail/graph";
 *
 * const provider = createGraphProvider({
 *   mailbox: "ann@firm.com",
 *   getAccessToken: async ({ forceRefresh }) => tokens.get("ann@firm.com", { forceRefresh }),
 *   folders: ["inbox", "sentitems"],
 *   push: { notificationUrl: "https://app.example.com/hooks/graph", lifecycleNotificationUrl: "https://app.example.com/hooks/graph" },
 * });
 * app.post("/hooks/graph", (req) => provider.handleWebhook(req));
 * for await (const page of provider.changes(undefined)) console.log(page.added.length);
 * ```
 *
 * @module
 */
export { createGraphProvider } from "./provider.js";
export type { GraphProvider } from "./provider.js";
export type { GraphProviderSettings, GraphPushSettings, Timers } from "./settings.js";
export type { RetryPolicy } from "./http.js";
export { clientStateMatches } from "./subscriptions.js";
