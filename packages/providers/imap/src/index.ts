/**
 * `@clientmail/imap`: the IMAP mail provider for clientmail, on imapflow and mailparser.
 *
 * @example
 * ```ts
 * import { createImapProvider } from "@clientmail/imap";
 *
 * const provider = createImapProvider({
 *   host: "imap.example.com",
 *   user: "ann@firm.com",
 *   password: process.env.IMAP_PASSWORD,
 * });
 * for await (const page of provider.changes(undefined)) {
 *   console.log(page.added.length, "envelopes; resume with", page.cursor);
 * }
 * await provider.close();
 * ```
 *
 * @module
 */
export { createImapProvider } from "./imap-provider.js";
export type { ImapProviderSettings, ImapSecurity } from "./settings.js";
export { translateImapError } from "./errors.js";
export type { ImapErrorContext } from "./errors.js";
export { createSmtpSender, testSmtpConnection } from "./send.js";
export type { SmtpSenderSettings } from "./send.js";
