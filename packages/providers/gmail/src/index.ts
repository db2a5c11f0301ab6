/**
 * `@clientmail/gmail`: the Gmail API mail provider for clientmail — history-based incremental
 * sync, targeted `q` backfill, metadata-first envelopes, quota-unit pacing per user, OAuth
 * refresh and `users.watch` push with a polling fallback. Plain `fetch`, no Google client library.
 *
 * @example
 * ```ts
 * import { createGmailProvider } from "@clientmail/gmail";
 *
 * const provider = createGmailProvider({
 *   credentials: { clientId, clientSecret, refreshToken },
 *   emailAddress: "ann@firm.com",
 * });
 * for await (const page of provider.changes(undefined)) console.log(page.added.length, page.cursor);
 * ```
 *
 * @module
 */
export { createGmailProvider } from "./gmail-provider.js";
export type { GmailProvider } from "./gmail-provider.js";
export type { GmailProviderSettings } from "./settings.js";
export type { GmailOAuthCredentials, AccessTokenSource, RefreshedTokens } from "./oauth.js";
export { QuotaPacer } from "./quota-pacer.js";
export type { RetryPolicy, Sleep } from "@clientmail/provider-utils";
export { defaultGmailCosts } from "./http.js";
export type { GmailApiMethod, GmailHttpStats } from "./http.js";
export { buildParticipantQueries } from "./search.js";
export { createGmailSender } from "./send.js";
export type { GmailSenderSettings } from "./send.js";
