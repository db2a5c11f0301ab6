/**
 * What a provider reports about a message before its content is fetched: cheap to list, enough
 * to decide filing (F1) and threading (H1). Nothing in an envelope of a message that is not
 * filed is ever stored.
 */
import type { MailboxId } from "./model.js";

/** A mailbox address with an optional display name, as it appeared in a header. */
export interface EmailAddress {
  name?: string | undefined;
  /** Normalised (T12). */
  address: string;
}

/** An envelope as a provider reports it; the engine adds the mailbox it came from. */
export interface ProviderEnvelope {
  /** The provider's id of this copy (Gmail message id, Graph id, IMAP `folder:uidvalidity:uid`). */
  providerId: string;
  folder: string;
  /** Gmail threadId or Graph conversationId; scoped to the mailbox (H1). */
  providerThreadId: string | undefined;
  /** Raw Message-ID header value, if any. */
  messageId: string | undefined;
  inReplyTo: string[];
  references: string[];
  from: EmailAddress[];
  sender: EmailAddress[];
  replyTo: EmailAddress[];
  to: EmailAddress[];
  cc: EmailAddress[];
  /** Known only for mail this mailbox sent. */
  bcc: EmailAddress[];
  subject: string;
  /** The Date header, else the provider's received time. */
  date: Date;
  size: number;
  flags: string[];
}

/** An envelope seen in one of the firm's mailboxes. */
export interface Envelope extends ProviderEnvelope {
  mailboxId: MailboxId;
}

/**
 * An attachment of a fetched message. Content is read lazily; it is never buffered whole by core,
 * and is readable until the provider's `fetch` iteration that produced it ends (R7).
 */
export interface AttachmentContent {
  filename: string;
  contentType: string;
  size: number;
  /** Hex SHA-256 of the content; the unit of F9's "same file once per account". */
  contentHash: string;
  /** The part's Content-ID without angle brackets, for `cid:` images in the HTML body. */
  contentId?: string | undefined;
  /** Content as a stream of chunks. */
  content: () => AsyncIterable<Uint8Array>;
}

/** A fully fetched and parsed message, produced only for messages that are filed. */
export interface FetchedMessage {
  envelope: ProviderEnvelope;
  text: string | undefined;
  html: string | undefined;
  attachments: AttachmentContent[];
  /**
   * The original RFC 5322 source, byte for byte, readable again on each call (R11) until the
   * `fetch` iteration that produced it ends (R7). Kept in the BlobStore for every filed message,
   * so it can be re-read and exported as `.eml`.
   */
  source?: (() => AsyncIterable<Uint8Array>) | undefined;
  /**
   * R11: the MIME structure was broken and the text was recovered from the raw body (a tolerant
   * reading). The message is filed and flagged; its source stays the reference.
   */
  degraded?: boolean | undefined;
}

/**
 * Why one message could not be delivered although the connection was healthy (R1, R2):
 * - `unparseable`: its content could not be read at all;
 * - `too_large`: it is over the configured size limit (R7) and was not downloaded;
 * - `server_refused`: the server answered for this message alone with an error (IMAP `NO`, a
 *   per-part HTTP error in a batch), while other messages were delivered;
 * - `unstorable`: the store refused it even after it was made storable (R4).
 */
export type UnreadableReason = "unparseable" | "too_large" | "server_refused" | "unstorable";

/**
 * A message that failed on its own, on a healthy connection: the engine quarantines it (R2) and
 * moves on. Anything that concerns the connection or the mailbox is thrown instead, and then no
 * message is marked (R1).
 */
export interface UnreadableMessage {
  providerId: string;
  unreadable: {
    reason: UnreadableReason;
    /** Log-safe: no message content, no addresses, no credentials. */
    detail: string;
  };
}

/** What {@link MailProvider.fetch} yields per id. */
export type FetchResult = FetchedMessage | UnreadableMessage;

/** True for a message the provider could not deliver (see {@link UnreadableMessage}). */
export function isUnreadable(result: FetchResult): result is UnreadableMessage {
  return "unreadable" in result;
}
