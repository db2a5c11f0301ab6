/**
 * The sending port (S1–S6): what a provider does to put one composed message on the wire from
 * one connected mailbox, and to find out afterwards whether it went (S4).
 *
 * The core composes and validates every message (recipients by T5, template shortcodes by S2,
 * the mailbox's signature by S3, reply headers by S6, permission by P1–P5) before it reaches a
 * sender; a sender only transmits. It never retries a submission on its own: a failure after
 * the server may have accepted the message must surface, so that the outbox worker can look the
 * message up with {@link MailSender.findSent} before it decides to send again.
 *
 * Failures are `ClientMailError`s with the codes of {@link MailProvider} plus
 * `validation_failed` (the provider refused this message itself: too large, an invalid
 * recipient; sending it again cannot help) and `rate_limited` (a sending limit; retry after
 * `retryAfterMs`).
 *
 * @module
 */
import type { CallOptions } from "./mail-provider.js";

/** One address on an outgoing message. Names and addresses never contain CR, LF or NUL. */
export interface OutgoingAddress {
  address: string;
  name?: string | undefined;
}

/** An attachment of an outgoing message, taken from the host's documents. */
export interface OutgoingAttachment {
  filename: string;
  contentType: string;
  content: Uint8Array;
}

/** A composed message, ready to transmit exactly as it is. */
export interface OutgoingMessage {
  /** Fixed at compose time, angle brackets included (S4, S5): the key of {@link MailSender.findSent}. */
  messageId: string;
  from: OutgoingAddress;
  to: OutgoingAddress[];
  cc: OutgoingAddress[];
  bcc: OutgoingAddress[];
  replyTo?: OutgoingAddress[] | undefined;
  subject: string;
  /** At least one of `text` and `html`. */
  text?: string | undefined;
  html?: string | undefined;
  /** RFC 5322 reply headers (S6), e.g. `<a@x>` and `<r@x> <a@x>`. */
  inReplyTo?: string | undefined;
  references?: string | undefined;
  /**
   * When replying: the provider's own ids of the parent, so the provider threads the reply too
   * (Gmail `threadId`; Graph the parent message's id for createReply).
   */
  replyToProvider?: { messageId?: string | undefined; threadId?: string | undefined } | undefined;
  attachments: OutgoingAttachment[];
  /** Sent at (the Date header). */
  date: Date;
}

/** What the provider reports after accepting a message. */
export interface SendReceipt {
  /** The Message-ID the message carries as sent; differs from the composed one when the provider rewrote it. */
  messageId: string;
  /** The provider's id of the sent copy when it tells (Gmail message id, Graph id, IMAP Sent UID). */
  providerId?: string | undefined;
  /** The provider's thread id of the sent copy when it tells. */
  providerThreadId?: string | undefined;
  /** The From address as the provider sent it (Gmail's sendAs may rewrite it). */
  from: string;
  /**
   * The Date the sent message carries when the provider set its own (Graph's createReply sends
   * Exchange's time, not the composed one). Undefined: the composed `date`.
   */
  date?: Date | undefined;
}

/** The result of looking for a message in the mailbox's sent mail by its Message-ID (S4). */
export type SentLookup =
  { found: true; providerId?: string | undefined; messageId: string } | { found: false };

/** Sends from one connected mailbox. */
export interface MailSender {
  /**
   * Transmits `message` once. Resolves when the provider accepted it (and, where the provider
   * does not keep a copy itself, after the copy was saved to the mailbox's sent folder).
   */
  send(message: OutgoingMessage, options?: CallOptions): Promise<SendReceipt>;

  /**
   * Looks in the mailbox's sent mail for a message carrying `messageId` (IMAP `UID SEARCH
   * HEADER Message-ID`, Gmail `rfc822msgid:`, Graph `internetMessageId eq`), sent at or after
   * `since`. Used after a crash left a message `submitting` (S4).
   */
  findSent(messageId: string, options?: CallOptions & { since?: Date | undefined }): Promise<SentLookup>;

  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}
