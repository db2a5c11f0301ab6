/**
 * The filing role of the Store: filed messages with their filings and sightings, the identity
 * lookups that find what the firm already has (F5, R5), the removal of copies that vanished
 * (F8), erasure, and the record of attachments saved into accounts (F9). The page filer
 * writes it; reads of one message (its source, R11) come from it too.
 *
 * It keeps the rules of every Store role (see {@link Store}).
 */
import type { ProviderEnvelope } from "../../domain/envelope.js";
import type { AccountId, FirmId, LinkId, MailboxId, MessageRecordId, ThreadId } from "../../domain/model.js";

export type MessageDirection = "inbound" | "outbound";

/** Where a filed message was seen: one copy in one mailbox (F5). */
export interface Sighting {
  mailboxId: MailboxId;
  /** The provider's id of this copy; unique per (firm, mailbox). */
  providerId: string;
  folder: string;
}

/** Metadata of an attachment of a filed message; content goes to the DocumentSink (F9). */
export interface AttachmentMeta {
  filename: string;
  contentType: string;
  size: number;
  /** Hex SHA-256 of the content. */
  contentHash: string;
  /**
   * The part's Content-ID without angle brackets, when it has one: what an HTML body's `cid:`
   * image sources name (see `renderableBody`).
   */
  contentId?: string | undefined;
}

/** An account a message is filed in, with the links that matched (F4, F7). */
export interface Filing {
  accountId: AccountId;
  linkIds: LinkId[];
}

/**
 * A message the domain decided to file: its envelope's participants, subject and date, with
 * normalised ids and what filing decided.
 */
export interface MessageToFile extends Pick<
  ProviderEnvelope,
  "from" | "sender" | "replyTo" | "to" | "cc" | "bcc" | "subject" | "date"
> {
  /** Identity within the firm (F5): the normalised Message-ID, else the fallback hash. */
  dedupeKey: string;
  /** Normalised Message-ID, when the message had one. */
  messageId: string | undefined;
  /** Normalised ids, without angle brackets. */
  inReplyTo: string[];
  references: string[];
  direction: MessageDirection;
  text: string | undefined;
  html: string | undefined;
  attachments: AttachmentMeta[];
  /** Where the original source is kept in the BlobStore (R11), when it is. */
  sourceKey: string | undefined;
  /**
   * R11: true when the MIME structure was broken and the text was recovered from the raw body;
   * the source is then the reference.
   */
  degraded: boolean;
  /** An existing thread of the same firm (see {@link ThreadStore.createThread}). */
  threadId: ThreadId;
  filings: Filing[];
  /** The copies this batch saw; usually one. */
  sightings: Sighting[];
}

/** A message as stored. */
export interface FiledMessage extends Omit<MessageToFile, "sightings" | "filings"> {
  id: MessageRecordId;
  firmId: FirmId;
  filings: Filing[];
  sightings: Sighting[];
  /** Set when the message left the firm's view (F8 `mirror`); such messages are not listed. */
  removedAt: Date | undefined;
  filedAt: Date;
}

/** The outcome of filing one message of a batch, in the batch's order. */
export interface FileOutcome {
  dedupeKey: string;
  id: MessageRecordId;
  /** True when this call created the message; false when it was already filed. */
  created: boolean;
}

/** The outcome of {@link FilingStore.removeSightings}. */
export interface SightingRemoval {
  /** Messages whose last sighting was removed by this call. */
  orphaned: MessageRecordId[];
  /** True when the firm's deletion mode removed the orphaned messages from its view. */
  hidden: boolean;
}

/**
 * Filed messages (F4, F5), their identity lookups (R5), sightings and their removal (F8),
 * erasure, and saved-attachment records (F9). Listing a thread's or an account's messages is
 * {@link ThreadStore}'s.
 */
export interface FilingStore {
  // Filed messages --------------------------------------------------------------------------

  /**
   * Files a batch atomically and idempotently (F4, F5). A message whose dedupe key the firm
   * already has is not stored again: its new sightings and filings are added, nothing else
   * changes (and a message hidden by F8 becomes visible again when it is seen again). Replaying
   * a batch changes nothing. Throws `not_found` for a thread, mailbox, account or link that is
   * not in the firm.
   */
  fileMessages(firmId: FirmId, messages: readonly MessageToFile[], at: Date): Promise<FileOutcome[]>;
  /** The message (visible or not), or `undefined`. */
  getMessage(firmId: FirmId, messageId: MessageRecordId): Promise<FiledMessage | undefined>;
  /**
   * The messages (visible or not) with these record ids, in one read; ids the firm does not have
   * are left out. Order unspecified.
   */
  getMessages(firmId: FirmId, messageIds: readonly MessageRecordId[]): Promise<FiledMessage[]>;
  /** The record id of each dedupe key already filed; others are absent. */
  findMessagesByDedupeKeys(firmId: FirmId, keys: readonly string[]): Promise<Map<string, MessageRecordId>>;
  /**
   * Every filed message (visible or not) whose normalised Message-ID is one of `messageIds`, in
   * one read. Several messages may share a Message-ID (R5): all are returned. Order unspecified.
   */
  findMessagesByMessageIds(firmId: FirmId, messageIds: readonly string[]): Promise<FiledMessage[]>;
  /**
   * The provider ids of every copy the firm has seen in the mailbox (F5, F8), sorted. Lets a full
   * relisting find the copies that vanished while the cursor was invalid. Unknown mailbox: `[]`.
   */
  listSightings(firmId: FirmId, mailboxId: MailboxId): Promise<string[]>;
  /**
   * Removes the sightings (mailbox, provider ids) (F8). Messages left with no sighting are
   * reported; in `mirror` mode they leave the firm's view, in `retain` mode they stay. Unknown
   * ids are ignored; idempotent.
   */
  removeSightings(
    firmId: FirmId,
    mailboxId: MailboxId,
    providerIds: readonly string[],
    at: Date,
  ): Promise<SightingRemoval>;

  /**
   * Permanently deletes the messages with their sightings and filings (F8: a privacy request to
   * erase what was filed for a contact; the caller audits it). Their dedupe keys are freed, so a
   * copy synced again later would be filed again: the caller stops filing the address first.
   * Returns how many were deleted; unknown ids are ignored. Atomic.
   */
  eraseMessages(firmId: FirmId, messageIds: readonly MessageRecordId[]): Promise<number>;
  /**
   * R10: every message (visible or not) filed through one of `linkIds`, or with one of
   * `addresses` (normalised) among its participants (From, Sender, Reply-To, To, Cc, Bcc), sorted
   * by id. Empty lists match nothing.
   */
  findMessagesInvolving(
    firmId: FirmId,
    involving: { linkIds: readonly LinkId[]; addresses: readonly string[] },
  ): Promise<FiledMessage[]>;

  // Attachments -----------------------------------------------------------------------------

  /**
   * Records that a file was saved into an account's documents (F9): true the first time for
   * (firm, account, content hash), false ever after, even under concurrent calls. Throws
   * `not_found` for an account that is not in the firm.
   */
  claimAttachment(firmId: FirmId, accountId: AccountId, contentHash: string): Promise<boolean>;
  /** True when the file was recorded as saved into the account (see {@link FilingStore.claimAttachment}). */
  isAttachmentSaved(firmId: FirmId, accountId: AccountId, contentHash: string): Promise<boolean>;
}
