/**
 * `createGmailSender`: the Gmail API implementation of the MailSender port (S4, S5, S6).
 *
 * - `send`: the shared MIME builder's bytes (Bcc kept in the header; Gmail takes Bcc from it)
 *   go to `users.messages.send` as `raw`, with `threadId` when replying, once: never retried
 *   here (S4). Gmail replaces the Message-ID and sends a From that is not an accepted send-as
 *   alias from the primary address, so the sent copy is read back (`format=metadata`) and the
 *   receipt reports the Message-ID and From it really carries.
 * - `findSent`: `rfc822msgid:` with the composed id, then the Sent messages since `since`
 *   whose `X-Clientmail-Message-Id` carries it (see docs/decisions.md, "Sending").
 * - Limits: the mailbox's {@link SendPacer} (Gmail's per-user sending limits by default) refuses
 *   a send over a limit with `rate_limited` before any request. Gmail's own "(Mail sending)" 429
 *   is `rate_limited` with its "Retry after" time.
 * - Refusals: 413 or 400 "payload size" (too large) and 400 `invalidArgument` (a recipient or
 *   header Gmail rejects) are `validation_failed`: sending again cannot help.
 */
import { ClientMailError, ValidationError } from "@clientmail/core";
import type {
  CallOptions,
  MailSender,
  OutgoingMessage,
  SendReceipt,
  SentLookup,
} from "@clientmail/core/ports";
import {
  COMPOSED_ID_HEADER,
  GMAIL_SEND_LIMITS,
  SendPacer,
  buildMime,
  messageIdTokens,
  firstAddressOf,
  providerClosedError,
} from "@clientmail/provider-utils";
import { createGmailHttp, type GmailHttp } from "./http.js";
import { resolveSettings, type GmailProviderSettings } from "./settings.js";

/** Settings of {@link createGmailSender}: the provider's, plus the sending limits. */
export interface GmailSenderSettings extends GmailProviderSettings {
  /**
   * The mailbox's sending pacer, shared by everything that sends from it in this process.
   * Default: one over Gmail's Workspace limits (pass one with 500 messages a day for a consumer
   * account).
   */
  sendPacer?: SendPacer | undefined;
  /** Messages larger than this (bytes, as built) are refused before any request. Default 35 MB. */
  maxMessageBytes?: number | undefined;
  /** At most this many Sent messages are read when looking for one by its header. Default 200. */
  findSentScanLimit?: number | undefined;
}

interface MessageHeaders {
  id: string;
  threadId: string;
  payload?: { headers?: { name: string; value: string }[] };
}

interface ListPage {
  messages?: { id: string; threadId: string }[];
  nextPageToken?: string;
}

function headerOf(message: MessageHeaders, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return message.payload?.headers?.find((header) => header.name.toLowerCase() === wanted)?.value;
}

function sameId(a: string | undefined, b: string): boolean {
  return a !== undefined && messageIdTokens(a)[0]?.toLowerCase() === messageIdTokens(b)[0]?.toLowerCase();
}

function sendRefusal(error: ClientMailError, message: OutgoingMessage): ClientMailError {
  const status = error.details.status;
  const reason = error.details.reason;
  if (status === 413 || (status === 400 && reason === "badRequest"))
    return new ValidationError(
      [{ field: "message", value: message.messageId, expected: "a message within Gmail's size limit" }],
      { cause: error },
    );
  if (status === 400)
    return new ValidationError(
      [
        {
          field: "to",
          value: [...message.to, ...message.cc, ...message.bcc].map((address) => address.address),
          expected: `recipients and headers Gmail accepts (${typeof reason === "string" ? reason : "invalidArgument"})`,
        },
      ],
      { cause: error },
    );
  return error;
}

async function readHeaders(
  http: GmailHttp,
  id: string,
  signal: AbortSignal | undefined,
): Promise<MessageHeaders> {
  const query = new URLSearchParams({ format: "metadata" });
  for (const name of ["Message-ID", "From", COMPOSED_ID_HEADER]) query.append("metadataHeaders", name);
  return await http.json<MessageHeaders>(
    "users.messages.get",
    `/messages/${encodeURIComponent(id)}`,
    { query },
    signal,
  );
}

/**
 * Creates the Gmail sender of one connected mailbox (see the module description). Throws a
 * ValidationError naming every invalid setting.
 */
export function createGmailSender(settings: GmailSenderSettings): MailSender {
  const config = resolveSettings(settings);
  const { http } = createGmailHttp(config);
  const pacer = settings.sendPacer ?? new SendPacer(GMAIL_SEND_LIMITS, config.clock);
  const maxBytes = settings.maxMessageBytes ?? 35 * 1024 * 1024;
  const scanLimit = settings.findSentScanLimit ?? 200;
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw providerClosedError("gmail");
  };

  return {
    async send(message: OutgoingMessage, options: CallOptions = {}): Promise<SendReceipt> {
      ensureOpen();
      const built = await buildMime(message, { bccHeader: true });
      if (built.raw.length > maxBytes)
        throw new ValidationError([
          { field: "message", value: built.raw.length, expected: `at most ${maxBytes} bytes` },
        ]);
      const reservation = pacer.reserve(built.envelope.to.length);
      const threadId = message.replyToProvider?.threadId;
      let sent: { id: string; threadId: string };
      try {
        sent = await http.jsonOnce<{ id: string; threadId: string }>(
          "users.messages.send",
          "/messages/send",
          {
            httpMethod: "POST",
            body: { raw: built.raw.toString("base64url"), ...(threadId !== undefined ? { threadId } : {}) },
          },
          options.signal,
        );
      } catch (error) {
        if (!ClientMailError.isInstance(error)) throw error;
        const refused = sendRefusal(error, message);
        // Refused before sending: it does not count against the mailbox's limits.
        if (refused.code === "validation_failed") reservation.release();
        throw refused;
      }
      // The message is sent; reading the copy back only improves the receipt.
      let copy: MessageHeaders | undefined;
      try {
        copy = await readHeaders(http, sent.id, options.signal);
      } catch (error) {
        config.logger.warn("gmail sent copy not readable", {
          code: ClientMailError.isInstance(error) ? error.code : "internal",
        });
      }
      const sentFrom = firstAddressOf(copy ? headerOf(copy, "From") : undefined);
      return {
        messageId: messageIdTokens(copy ? headerOf(copy, "Message-ID") : undefined)[0] ?? message.messageId,
        providerId: sent.id,
        providerThreadId: sent.threadId,
        from: sentFrom ?? message.from.address,
      };
    },

    async findSent(
      messageId: string,
      options: CallOptions & { since?: Date | undefined } = {},
    ): Promise<SentLookup> {
      ensureOpen();
      const since = options.since ? ` after:${Math.floor(options.since.getTime() / 1000) - 300}` : "";
      const list = async (q: string, pageToken: string | undefined): Promise<ListPage> => {
        const query = new URLSearchParams({ q, maxResults: "100", includeSpamTrash: "false" });
        if (pageToken !== undefined) query.set("pageToken", pageToken);
        return await http.json<ListPage>("users.messages.list", "/messages", { query }, options.signal);
      };
      const byId = await list(`rfc822msgid:${messageId.replace(/^<|>$/g, "")}`, undefined);
      for (const ref of byId.messages ?? []) {
        const copy = await readHeaders(http, ref.id, options.signal);
        if (sameId(headerOf(copy, "Message-ID"), messageId))
          return { found: true, providerId: copy.id, messageId: headerOf(copy, "Message-ID") ?? messageId };
      }
      // Gmail rewrote the Message-ID: look for the composed one in the header the builder wrote.
      let scanned = 0;
      let pageToken: string | undefined;
      do {
        const page = await list(`in:sent${since}`, pageToken);
        for (const ref of page.messages ?? []) {
          if (scanned >= scanLimit) return { found: false };
          scanned += 1;
          const copy = await readHeaders(http, ref.id, options.signal);
          if (sameId(headerOf(copy, COMPOSED_ID_HEADER), messageId)) {
            const sentId = messageIdTokens(headerOf(copy, "Message-ID"))[0] ?? messageId;
            return { found: true, providerId: copy.id, messageId: sentId };
          }
        }
        pageToken = page.nextPageToken;
      } while (pageToken !== undefined);
      return { found: false };
    },

    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}
