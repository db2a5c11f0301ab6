/**
 * `createGraphSender`: the Microsoft Graph implementation of the MailSender port (S4, S5, S6).
 *
 * - A new message: `POST {user}/sendMail` with the shared MIME builder's bytes, base64, as
 *   `text/plain` (Bcc kept in the header; Exchange takes Bcc from it). Exchange keeps a MIME
 *   Message-ID, so the receipt reports the composed one. 202 carries no id.
 * - A reply to a message the mailbox holds (`replyToProvider.messageId`): Graph's JSON cannot set
 *   In-Reply-To or References (only `x-` headers), so `createReply` makes a draft in the
 *   parent's conversation with Exchange's threading headers, carrying recipients, body and the
 *   composed Message-ID in a string extended property; `POST .../send` sends it. The receipt
 *   reports the draft's `internetMessageId` (Exchange's own, kept when sent).
 * - `findSent`: `sentitems` filtered on `internetMessageId eq '<id>'`, then on the extended
 *   property (see docs/decisions.md, "Sending").
 * - Never retried inside the call (S4); 429 is `rate_limited` with Retry-After; 413 /
 *   `ErrorMessageSizeExceeded` and `ErrorInvalidRecipients` are `validation_failed`. The
 *   mailbox's {@link SendPacer} (30 messages a minute, 10,000 recipients a day) refuses a send
 *   over a limit before any request.
 */
import { ClientMailError, ValidationError } from "@clientmail/core";
import type {
  CallOptions,
  MailSender,
  OutgoingAddress,
  OutgoingMessage,
  SendReceipt,
  SentLookup,
} from "@clientmail/core/ports";
import {
  GRAPH_SEND_LIMITS,
  SendPacer,
  buildMime,
  outgoingHeaderIssues,
  providerClosedError,
} from "@clientmail/provider-utils";
import { createGraphHttp, type GraphHttp } from "./http.js";
import { resolveSettings, type GraphProviderSettings } from "./settings.js";

/**
 * The extended property holding the composed Message-ID of a reply (a named string property in
 * the PS_PUBLIC_STRINGS set).
 */
export const COMPOSED_ID_PROPERTY = "String {00020329-0000-0000-C000-000000000046} Name ClientmailMessageId";

/** Settings of {@link createGraphSender}: the provider's, plus the sending limits. */
export interface GraphSenderSettings extends GraphProviderSettings {
  /** The mailbox's sending pacer. Default: Exchange Online's limits. */
  sendPacer?: SendPacer | undefined;
  /** Messages larger than this (bytes, as built) are refused before any request. Default 35 MB. */
  maxMessageBytes?: number | undefined;
}

interface GraphMessage {
  id: string;
  internetMessageId?: string | null;
  sentDateTime?: string | null;
  conversationId?: string;
  from?: { emailAddress?: { address?: string } };
}

function recipients(list: readonly OutgoingAddress[]) {
  return list.map((address) => ({
    emailAddress: { address: address.address, ...(address.name ? { name: address.name } : {}) },
  }));
}

function quoted(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function sendRefusal(error: ClientMailError, message: OutgoingMessage): ClientMailError {
  const code = typeof error.details.graphCode === "string" ? error.details.graphCode : "";
  if (error.details.status === 413 || code === "errormessagesizeexceeded")
    return new ValidationError(
      [{ field: "message", value: message.messageId, expected: "a message within the mailbox's size limit" }],
      { cause: error },
    );
  if (code === "errorinvalidrecipients")
    return new ValidationError(
      [
        {
          field: "to",
          value: [...message.to, ...message.cc, ...message.bcc].map((address) => address.address),
          expected: "recipients Exchange accepts",
        },
      ],
      { cause: error },
    );
  return error;
}

/**
 * Creates the Graph sender of one connected mailbox (see the module description). Throws a
 * ValidationError naming every invalid setting.
 */
export function createGraphSender(settings: GraphSenderSettings): MailSender {
  const config = resolveSettings(settings);
  const http: GraphHttp = createGraphHttp(config);
  const { userPath } = config;
  const pacer = settings.sendPacer ?? new SendPacer(GRAPH_SEND_LIMITS, config.clock);
  const maxBytes = settings.maxMessageBytes ?? 35 * 1024 * 1024;
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw providerClosedError("graph");
  };

  async function sendMime(message: OutgoingMessage, signal: AbortSignal | undefined): Promise<SendReceipt> {
    const built = await buildMime(message, { bccHeader: true });
    if (built.raw.length > maxBytes)
      throw new ValidationError([
        { field: "message", value: built.raw.length, expected: `at most ${maxBytes} bytes` },
      ]);
    const reservation = pacer.reserve(built.envelope.to.length);
    try {
      await http.sendOnce({
        method: "POST",
        url: `${userPath}/sendMail`,
        headers: { "Content-Type": "text/plain" },
        body: built.raw.toString("base64"),
        signal,
      });
    } catch (error) {
      if (!ClientMailError.isInstance(error)) throw error;
      const refused = sendRefusal(error, message);
      if (refused.code === "validation_failed") reservation.release();
      throw refused;
    }
    return { messageId: message.messageId, from: message.from.address };
  }

  async function sendReply(
    message: OutgoingMessage,
    parentId: string,
    signal: AbortSignal | undefined,
  ): Promise<SendReceipt> {
    // The same checks as the MIME path, though no MIME is built: the fields still become headers.
    const issues = outgoingHeaderIssues(message);
    if (issues.length > 0) throw new ValidationError(issues);
    const size =
      Buffer.byteLength(message.html ?? message.text ?? "") +
      message.attachments.reduce((sum, attachment) => sum + attachment.content.length, 0);
    if (size > maxBytes)
      throw new ValidationError([{ field: "message", value: size, expected: `at most ${maxBytes} bytes` }]);
    const reservation = pacer.reserve(message.to.length + message.cc.length + message.bcc.length);
    let draft: GraphMessage;
    try {
      ({ body: draft } = await http.sendOnce<GraphMessage>({
        method: "POST",
        url: `${userPath}/messages/${encodeURIComponent(parentId)}/createReply`,
        body: {
          message: {
            subject: message.subject,
            toRecipients: recipients(message.to),
            ccRecipients: recipients(message.cc),
            bccRecipients: recipients(message.bcc),
            ...(message.replyTo ? { replyTo: recipients(message.replyTo) } : {}),
            body:
              message.html !== undefined
                ? { contentType: "html", content: message.html }
                : { contentType: "text", content: message.text ?? "" },
            attachments: message.attachments.map((attachment) => ({
              "@odata.type": "#microsoft.graph.fileAttachment",
              name: attachment.filename,
              contentType: attachment.contentType,
              contentBytes: Buffer.from(attachment.content).toString("base64"),
            })),
            singleValueExtendedProperties: [{ id: COMPOSED_ID_PROPERTY, value: message.messageId }],
          },
        },
        signal,
      }));
      await http.sendOnce({
        method: "POST",
        url: `${userPath}/messages/${encodeURIComponent(draft.id)}/send`,
        signal,
      });
    } catch (error) {
      if (!ClientMailError.isInstance(error)) throw error;
      const refused = sendRefusal(error, message);
      if (refused.code === "validation_failed") reservation.release();
      throw refused;
    }
    // Sent: Exchange gave the reply its own Date. Reading the sent copy back only improves the
    // receipt (S5: the copy sync brings back is then recognised by its Message-ID and Date).
    let sentCopy: GraphMessage | undefined;
    try {
      ({ body: sentCopy } = await http.send<GraphMessage>({
        method: "GET",
        url: `${userPath}/messages/${encodeURIComponent(draft.id)}?$select=id,internetMessageId,sentDateTime`,
        signal,
      }));
    } catch (error) {
      config.logger.warn("graph sent reply not readable", {
        code: ClientMailError.isInstance(error) ? error.code : "internal",
      });
    }
    const sentAt = sentCopy?.sentDateTime ?? draft.sentDateTime;
    return {
      messageId: sentCopy?.internetMessageId ?? draft.internetMessageId ?? message.messageId,
      ...(sentAt ? { date: new Date(sentAt) } : {}),
      providerId: draft.id,
      ...(draft.conversationId !== undefined ? { providerThreadId: draft.conversationId } : {}),
      from: draft.from?.emailAddress?.address?.toLowerCase() ?? message.from.address,
    };
  }

  async function firstSent(
    filter: string,
    signal: AbortSignal | undefined,
  ): Promise<GraphMessage | undefined> {
    const { body } = await http.send<{ value?: GraphMessage[] }>({
      method: "GET",
      url: `${userPath}/mailFolders/sentitems/messages?$filter=${encodeURIComponent(filter)}&$select=id,internetMessageId&$top=1`,
      signal,
    });
    return body.value?.[0];
  }

  return {
    async send(message: OutgoingMessage, options: CallOptions = {}): Promise<SendReceipt> {
      ensureOpen();
      const parentId = message.replyToProvider?.messageId;
      return parentId !== undefined
        ? await sendReply(message, parentId, options.signal)
        : await sendMime(message, options.signal);
    },

    async findSent(
      messageId: string,
      options: CallOptions & { since?: Date | undefined } = {},
    ): Promise<SentLookup> {
      ensureOpen();
      const byId = await firstSent(`internetMessageId eq ${quoted(messageId)}`, options.signal);
      if (byId) return { found: true, providerId: byId.id, messageId: byId.internetMessageId ?? messageId };
      const byProperty = await firstSent(
        `singleValueExtendedProperties/Any(ep: ep/id eq ${quoted(COMPOSED_ID_PROPERTY)} and ep/value eq ${quoted(messageId)})`,
        options.signal,
      );
      if (byProperty)
        return {
          found: true,
          providerId: byProperty.id,
          messageId: byProperty.internetMessageId ?? messageId,
        };
      return { found: false };
    },

    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}
