/**
 * The Store port: where a firm's records, filed mail and sync bookkeeping live.
 *
 * Rules every implementation keeps (the conformance suite in `@clientmail/testkit` checks them):
 * - Every method but {@link Store.createFirm} and {@link Store.listFirmIds} takes the firm id
 *   first and never reads or changes another firm's rows. An id of another firm behaves exactly
 *   like an id that does not exist.
 * - "Not found" is `undefined` for getters, `false` for yes/no mutations, and a
 *   {@link NotFoundError} (code `not_found`) for mutations that must name their target.
 * - A duplicate of a unique key throws a {@link ClientMailError} with code `conflict`.
 * - Every method is atomic on its own; {@link Store.transaction} makes several atomic together.
 * - Records returned are copies: changing them changes nothing in the store.
 * - Text a store cannot hold (U+0000, lone surrogates) is refused with a `ValidationError` naming
 *   the field, before anything is written (R4): every store accepts and refuses the same values.
 */
import type { ProviderEnvelope, UnreadableReason } from "../domain/envelope.js";
import type {
  Account,
  AccountId,
  AccountKind,
  Contact,
  ContactId,
  Firm,
  FirmId,
  Invitation,
  Link,
  LinkId,
  LinkToggles,
  Mailbox,
  MailboxId,
  MailboxSettings,
  MailboxSyncState,
  MailboxVerification,
  MemberId,
  MemberRole,
  MessageRecordId,
  NewMailNotifyPreference,
  NotifyPreferences,
  ProviderKind,
  TeamMember,
  ThreadId,
} from "../domain/model.js";

// ---------------------------------------------------------------------------------------------
// Inputs and records
// ---------------------------------------------------------------------------------------------

export interface NewFirm {
  name: string;
  internalDomains: string[];
  deletionMode: Firm["deletionMode"];
}

export type FirmPatch = Partial<NewFirm>;

export interface NewTeamMember {
  name: string;
  /** Normalised address; unique per firm. */
  email: string;
  role: MemberRole;
  newMailNotifications: NewMailNotifyPreference;
  timeZone: string;
}

export type TeamMemberPatch = Partial<NewTeamMember>;

export interface NewMailbox {
  provider: ProviderKind;
  /** Normalised address; unique per firm. */
  address: string;
  displayName: string;
  /** Must be a member of the same firm; becomes the first connection. */
  ownerMemberId: MemberId;
  settings: MailboxSettings;
}

export interface NewAccount {
  name: string;
  kind: AccountKind;
}

export type AccountPatch = Partial<NewAccount>;

export interface NewContact {
  firstName: string;
  lastName: string;
}

export type ContactPatch = Partial<NewContact>;

export interface NewLink extends LinkToggles {
  accountId: AccountId;
  contactId: ContactId;
  /** Normalised address (T12). (firm, account, contact, email) is unique. */
  email: string;
  notifyPreferences: NotifyPreferences;
}

export type LinkPatch = Partial<LinkToggles> & {
  email?: string;
  notifyPreferences?: NotifyPreferences;
};

/** Filters for {@link Store.listLinks}; all given filters must match. */
export interface LinkFilter {
  accountId?: AccountId;
  contactId?: ContactId;
  /** Normalised address. */
  email?: string;
  emailSync?: boolean;
}

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
  /** An existing thread of the same firm (see {@link Store.createThread}). */
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

/** The outcome of {@link Store.removeSightings}. */
export interface SightingRemoval {
  /** Messages whose last sighting was removed by this call. */
  orphaned: MessageRecordId[];
  /** True when the firm's deletion mode removed the orphaned messages from its view. */
  hidden: boolean;
}

/** A thread as listed under an account (H5): its visible messages, oldest first. */
export interface ThreadView {
  threadId: ThreadId;
  /** The date of its newest visible message. */
  lastActivityAt: Date;
  messages: FiledMessage[];
}

export interface ThreadListOptions {
  /** `inbox`: every thread; `sent`: threads with at least one outbound message (H5). */
  view: "inbox" | "sent";
  /** Default 50. */
  limit?: number;
}

/** A key that is already attached to another thread of the firm. */
export interface ThreadKeyConflict {
  key: string;
  threadId: ThreadId;
}

/**
 * One message's entry in the subject index of H1's third rule: one entry per (normalised subject,
 * external participant) key, with the message's date and whether its headers carry no
 * In-Reply-To/References (`open`). An open message may be linked by subject to any message with
 * the same key within the window; a message that is not open only to open ones.
 */
export interface SubjectEntry {
  key: string;
  at: Date;
  open: boolean;
}

/** Why a message is in quarantine (R2); the same reasons a provider reports, see `UnreadableMessage`. */
export type QuarantineReason = UnreadableReason;

/**
 * A client message set aside (R2): it failed on its own, on a healthy connection, and is retried
 * later with backoff. Keyed by (firm, mailbox, provider id). Holds no message content.
 */
export interface QuarantineEntry {
  mailboxId: MailboxId;
  providerId: string;
  reason: QuarantineReason;
  /** Log-safe: no content, addresses or credentials. */
  detail: string;
  /** Attempts so far, the first included. */
  attempts: number;
  firstAttemptAt: Date;
  lastAttemptAt: Date;
  /** When the engine tries it again. */
  nextAttemptAt: Date;
}

/** Filters of {@link Store.listQuarantine}; all given filters must match. */
export interface QuarantineFilter {
  mailboxId?: MailboxId;
  /** Only entries due at this time (`nextAttemptAt <= dueAt`). */
  dueAt?: Date;
  /** Default: all. */
  limit?: number;
}

export interface NewNotification {
  memberId: MemberId;
  /** What it is about, e.g. `new_mail`, `mailbox_sync_stopped`, `bulk_update_report`. */
  kind: string;
  /** Log-safe, JSON-serialisable facts the UI renders. */
  payload: Record<string, unknown>;
  /**
   * When given, at most one notification exists per (firm, member, dedupeKey): creating it again
   * returns the existing one unchanged.
   */
  dedupeKey?: string | undefined;
}

export interface Notification {
  id: string;
  firmId: FirmId;
  memberId: MemberId;
  kind: string;
  payload: Record<string, unknown>;
  dedupeKey: string | undefined;
  createdAt: Date;
  snoozedUntil: Date | undefined;
  dismissedAt: Date | undefined;
}

export interface NewAuditEntry {
  /** A member id, `system`, or an automation's name. */
  actor: string;
  action: string;
  /** The record acted on, e.g. `contact:…`. */
  subject: string | undefined;
  /** Log-safe facts only: no message content, no personal data beyond ids. */
  details: Record<string, unknown>;
}

export interface AuditEntry extends NewAuditEntry {
  id: string;
  firmId: FirmId;
  at: Date;
}

/** Who pressed send (P4). */
export type OutboxActor =
  { kind: "member"; memberId: MemberId } | { kind: "automation"; name: string; memberId: MemberId };

/** scheduled -> submitting -> sent; scheduled -> cancelled; submitting -> scheduled | failed. */
export type OutboxState = "scheduled" | "submitting" | "sent" | "failed" | "cancelled";

export interface NewOutboxMessage {
  mailboxId: MailboxId;
  actor: OutboxActor;
  accountIds: AccountId[];
  threadId: ThreadId | undefined;
  /** The composed message (recipients, subject, bodies, headers), JSON-serialisable. */
  draft: Record<string, unknown>;
  sendAt: Date;
}

export interface OutboxMessage extends NewOutboxMessage {
  id: string;
  firmId: FirmId;
  state: OutboxState;
  attempts: number;
  /** Set by {@link Store.claimOutbox}; identifies the worker submitting it. */
  claimedBy: string | undefined;
  sentAt: Date | undefined;
  /** The Message-ID the sent message carries (S5). */
  messageId: string | undefined;
  lastError: string | undefined;
  createdAt: Date;
}

export interface OutboxFilter {
  state?: OutboxState;
  accountId?: AccountId;
  mailboxId?: MailboxId;
}

export interface MailboxCredential {
  mailboxId: MailboxId;
  /** Keyring ciphertext. */
  ciphertext: string;
}

// ---------------------------------------------------------------------------------------------
// The port
// ---------------------------------------------------------------------------------------------

/**
 * Persistent state of clientmail. Implementations: `@clientmail/memory` (reference) and
 * `@clientmail/postgres`. Both must pass `storeConformance` from `@clientmail/testkit`.
 */
export interface Store {
  /**
   * Runs `fn` in one transaction: every write made through `tx` (or through this store from
   * inside `fn`) commits together when `fn` resolves and is rolled back when it throws (the
   * error is rethrown). Calling `transaction` again inside `fn` joins the same transaction; if
   * the inner function throws, only its writes are rolled back (a savepoint).
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;

  // Firms ---------------------------------------------------------------------------------

  /** Creates a firm with a new id. */
  createFirm(input: NewFirm): Promise<Firm>;
  /** The firm, or `undefined`. */
  getFirm(firmId: FirmId): Promise<Firm | undefined>;
  /** Throws `not_found` for an unknown firm. */
  updateFirm(firmId: FirmId, patch: FirmPatch): Promise<Firm>;
  /** Every firm's id, for workers that iterate over firms (the one cross-firm read). */
  listFirmIds(): Promise<FirmId[]>;

  // Team members ----------------------------------------------------------------------------

  /** Throws `conflict` when the firm already has a member with this email. */
  createMember(firmId: FirmId, input: NewTeamMember): Promise<TeamMember>;
  getMember(firmId: FirmId, memberId: MemberId): Promise<TeamMember | undefined>;
  /** Ordered by name. */
  listMembers(firmId: FirmId): Promise<TeamMember[]>;
  /** Throws `not_found`, or `conflict` for a duplicate email. */
  updateMember(firmId: FirmId, memberId: MemberId, patch: TeamMemberPatch): Promise<TeamMember>;

  // Mailboxes -------------------------------------------------------------------------------

  /**
   * Creates a mailbox in state `connecting`, connected by its owner. Throws `not_found` when the
   * owner is not a member of the firm, `conflict` when the address is already connected.
   */
  createMailbox(firmId: FirmId, input: NewMailbox, at: Date): Promise<Mailbox>;
  getMailbox(firmId: FirmId, mailboxId: MailboxId): Promise<Mailbox | undefined>;
  /** Ordered by address. */
  listMailboxes(firmId: FirmId): Promise<Mailbox[]>;
  /** Throws `not_found`. */
  updateMailboxSettings(
    firmId: FirmId,
    mailboxId: MailboxId,
    patch: Partial<MailboxSettings>,
  ): Promise<Mailbox>;
  /** Throws `not_found`. `lastSyncedAt` is left unchanged when omitted. */
  setMailboxState(
    firmId: FirmId,
    mailboxId: MailboxId,
    state: MailboxSyncState,
    lastSyncedAt?: Date,
  ): Promise<Mailbox>;
  /** Records the latest completeness audit (see `MailboxVerification`). Throws `not_found`. */
  setMailboxVerification(
    firmId: FirmId,
    mailboxId: MailboxId,
    verification: MailboxVerification,
  ): Promise<Mailbox>;
  /** Idempotent: connecting again keeps the first `connectedAt`. Throws `not_found`. */
  addMailboxConnection(firmId: FirmId, mailboxId: MailboxId, memberId: MemberId, at: Date): Promise<Mailbox>;
  /** Returns false when there was no such connection. */
  removeMailboxConnection(firmId: FirmId, mailboxId: MailboxId, memberId: MemberId): Promise<boolean>;
  /**
   * Stores Keyring ciphertext (never plaintext) as the mailbox's credentials; `undefined` deletes
   * them (Y4). Throws `not_found`.
   */
  setMailboxCredentials(firmId: FirmId, mailboxId: MailboxId, ciphertext: string | undefined): Promise<void>;
  /** The ciphertext, or `undefined` when none is stored or the mailbox is unknown. */
  getMailboxCredentials(firmId: FirmId, mailboxId: MailboxId): Promise<string | undefined>;
  /** Every stored credential of the firm (for key rotation). */
  listMailboxCredentials(firmId: FirmId): Promise<MailboxCredential[]>;

  // Leases and cursors ----------------------------------------------------------------------

  /**
   * Takes the mailbox's sync lease for `holder` until now + `ttlMs` (the database's clock).
   * Returns the fencing token: a number that grows every time the lease changes hands. Returns
   * `undefined` when another holder's lease is still live. A holder that already holds the live
   * lease gets its token back and its lease extended. Unknown mailbox: `undefined`.
   */
  acquireLease(
    firmId: FirmId,
    mailboxId: MailboxId,
    holder: string,
    ttlMs: number,
  ): Promise<number | undefined>;
  /** Extends the lease if `token` is still current and unexpired; false otherwise. */
  renewLease(firmId: FirmId, mailboxId: MailboxId, token: number, ttlMs: number): Promise<boolean>;
  /** Ends the lease if `token` is current; a no-op otherwise. The token stays monotonic. */
  releaseLease(firmId: FirmId, mailboxId: MailboxId, token: number): Promise<void>;
  /** The mailbox's sync cursor, or `undefined` before the first page or for an unknown mailbox. */
  getCursor(firmId: FirmId, mailboxId: MailboxId): Promise<string | undefined>;
  /**
   * Saves the cursor, fenced: throws a `lease_lost` error (and changes nothing) unless `token`
   * is the mailbox's current lease token. Inside a transaction, the throw rolls back the
   * transaction's filing too, so a stale worker's page is never half-applied.
   */
  setCursor(firmId: FirmId, mailboxId: MailboxId, token: number, cursor: string | undefined): Promise<void>;

  // Accounts, contacts, links ---------------------------------------------------------------

  createAccount(firmId: FirmId, input: NewAccount, at: Date): Promise<Account>;
  getAccount(firmId: FirmId, accountId: AccountId): Promise<Account | undefined>;
  /** Ordered by name. */
  listAccounts(firmId: FirmId): Promise<Account[]>;
  /** Throws `not_found`. */
  updateAccount(firmId: FirmId, accountId: AccountId, patch: AccountPatch): Promise<Account>;
  /** Deletes the account and its links; filed messages stay. False when not found. */
  deleteAccount(firmId: FirmId, accountId: AccountId): Promise<boolean>;

  createContact(firmId: FirmId, input: NewContact): Promise<Contact>;
  getContact(firmId: FirmId, contactId: ContactId): Promise<Contact | undefined>;
  /** Ordered by last name, first name. */
  listContacts(firmId: FirmId): Promise<Contact[]>;
  /** Throws `not_found`. */
  updateContact(firmId: FirmId, contactId: ContactId, patch: ContactPatch): Promise<Contact>;

  /**
   * Throws `not_found` when the account or contact is not in the firm, `conflict` when the
   * (account, contact, email) triple already exists.
   */
  createLink(firmId: FirmId, input: NewLink): Promise<Link>;
  getLink(firmId: FirmId, linkId: LinkId): Promise<Link | undefined>;
  /** Ordered by email. */
  listLinks(firmId: FirmId, filter?: LinkFilter): Promise<Link[]>;
  /** Throws `not_found`, or `conflict` when the new email duplicates a link. */
  updateLink(firmId: FirmId, linkId: LinkId, patch: LinkPatch): Promise<Link>;
  /** False when not found. */
  deleteLink(firmId: FirmId, linkId: LinkId): Promise<boolean>;
  /** Replaces the link's invitation (`undefined` clears it). Throws `not_found`. */
  setInvitation(firmId: FirmId, linkId: LinkId, invitation: Invitation | undefined): Promise<Link>;
  /** The link whose current invitation has this token, or `undefined`. */
  findLinkByInvitationToken(firmId: FirmId, token: string): Promise<Link | undefined>;

  // Threads ---------------------------------------------------------------------------------

  /** Creates an empty thread. */
  createThread(firmId: FirmId): Promise<ThreadId>;
  /** The thread of each key that has one; keys without a thread are absent. */
  findThreadsByKeys(firmId: FirmId, keys: readonly string[]): Promise<Map<string, ThreadId>>;
  /**
   * Attaches keys to the thread. Idempotent. A key already attached to another thread is left
   * there and reported, so the caller can merge (H3). Throws `not_found` for an unknown thread.
   */
  attachThreadKeys(firmId: FirmId, threadId: ThreadId, keys: readonly string[]): Promise<ThreadKeyConflict[]>;
  /**
   * Moves the messages and keys of `mergedIds` into `survivorId` and deletes the merged threads.
   * Idempotent; unknown merged ids are ignored. Throws `not_found` for an unknown survivor.
   */
  mergeThreads(firmId: FirmId, survivorId: ThreadId, mergedIds: readonly ThreadId[]): Promise<void>;
  /** Visible messages of the thread, oldest first; empty for an unknown thread. */
  listThreadMessages(firmId: FirmId, threadId: ThreadId): Promise<FiledMessage[]>;
  /**
   * The account's threads, newest activity first (H4, H5): a thread is listed when one of its
   * visible messages is filed in the account through a link that still has email sync on (F7).
   */
  listAccountThreads(firmId: FirmId, accountId: AccountId, options: ThreadListOptions): Promise<ThreadView[]>;
  /** Mutes or unmutes the thread for one member (H4). Idempotent. */
  setThreadMuted(firmId: FirmId, threadId: ThreadId, memberId: MemberId, muted: boolean): Promise<void>;
  /** Members who muted the thread. */
  listThreadMutes(firmId: FirmId, threadId: ThreadId): Promise<MemberId[]>;
  /**
   * Serialises threading within one firm (H3): inside a transaction, waits until no other
   * transaction holds the firm's threading lock and holds it until this transaction ends. Two
   * workers threading linked messages at once would otherwise each start a thread. Outside a
   * transaction it has no lasting effect.
   */
  lockThreads(firmId: FirmId): Promise<void>;
  /**
   * H1's subject rule: for each probe, the threads of the indexed entries `e` with
   * `e.key === probe.key`, `|e.at - probe.at| <= windowMs` (inclusive) and `probe.open || e.open`.
   * The result is aligned with `probes`; each list is distinct and sorted.
   */
  findSubjectThreads(
    firmId: FirmId,
    probes: readonly SubjectEntry[],
    windowMs: number,
  ): Promise<ThreadId[][]>;
  /**
   * Indexes a message's subject entries under its thread; {@link Store.mergeThreads} moves them with
   * the thread. Throws `not_found` for an unknown thread.
   */
  addSubjectEntries(firmId: FirmId, threadId: ThreadId, entries: readonly SubjectEntry[]): Promise<void>;

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

  // Quarantine (R2) ---------------------------------------------------------------------------

  /**
   * Inserts or replaces entries, keyed by (mailbox, provider id). Throws `not_found` for a mailbox
   * that is not in the firm.
   */
  putQuarantine(firmId: FirmId, entries: readonly QuarantineEntry[]): Promise<void>;
  /** Entries matching the filter, soonest `nextAttemptAt` first (then mailbox, provider id). */
  listQuarantine(firmId: FirmId, filter?: QuarantineFilter): Promise<QuarantineEntry[]>;
  /** Removes entries; unknown ids are ignored. Returns how many were removed. */
  removeQuarantine(firmId: FirmId, mailboxId: MailboxId, providerIds: readonly string[]): Promise<number>;

  // Attachments -----------------------------------------------------------------------------

  /**
   * Records that a file was saved into an account's documents (F9): true the first time for
   * (firm, account, content hash), false ever after, even under concurrent calls. Throws
   * `not_found` for an account that is not in the firm.
   */
  claimAttachment(firmId: FirmId, accountId: AccountId, contentHash: string): Promise<boolean>;
  /** True when the file was recorded as saved into the account (see {@link Store.claimAttachment}). */
  isAttachmentSaved(firmId: FirmId, accountId: AccountId, contentHash: string): Promise<boolean>;

  // Notifications ---------------------------------------------------------------------------

  /** Creates a notification; idempotent per dedupe key (see {@link NewNotification}). */
  createNotification(firmId: FirmId, input: NewNotification, at: Date): Promise<Notification>;
  /**
   * The member's notifications that are visible at `now`: not dismissed, not snoozed past `now`.
   * Newest first.
   */
  listNotifications(firmId: FirmId, memberId: MemberId, now: Date): Promise<Notification[]>;
  /** Hides it until `until` (N3). False when not found or dismissed. */
  snoozeNotification(firmId: FirmId, notificationId: string, until: Date): Promise<boolean>;
  /** Hides it forever (N3). Idempotent; false when not found. */
  dismissNotification(firmId: FirmId, notificationId: string, at: Date): Promise<boolean>;

  // Audit -----------------------------------------------------------------------------------

  appendAudit(firmId: FirmId, entry: NewAuditEntry, at: Date): Promise<AuditEntry>;
  /** Newest first. Default limit 100. */
  listAudit(firmId: FirmId, limit?: number): Promise<AuditEntry[]>;

  // Outbox ----------------------------------------------------------------------------------

  /** Creates a message in state `scheduled`. Throws `not_found` for a mailbox of another firm. */
  createOutbox(firmId: FirmId, input: NewOutboxMessage, at: Date): Promise<OutboxMessage>;
  getOutbox(firmId: FirmId, outboxId: string): Promise<OutboxMessage | undefined>;
  /** Ordered by `sendAt`. */
  listOutbox(firmId: FirmId, filter?: OutboxFilter): Promise<OutboxMessage[]>;
  /** Scheduled messages due at `now`, oldest first. */
  listDueOutbox(firmId: FirmId, now: Date, limit: number): Promise<OutboxMessage[]>;
  /**
   * Edits a message that is still `scheduled` (S4). Returns undefined when it is not found or no
   * longer scheduled (then nothing changes).
   */
  updateScheduledOutbox(
    firmId: FirmId,
    outboxId: string,
    patch: Partial<Pick<NewOutboxMessage, "draft" | "sendAt" | "accountIds">>,
  ): Promise<OutboxMessage | undefined>;
  /** `scheduled` -> `cancelled`; false when not scheduled (or not found). */
  cancelOutbox(firmId: FirmId, outboxId: string): Promise<boolean>;
  /**
   * Compare-and-set `scheduled` -> `submitting` for `claimedBy` (S4): exactly one of any number of
   * concurrent callers gets true. Counts an attempt.
   */
  claimOutbox(firmId: FirmId, outboxId: string, claimedBy: string): Promise<boolean>;
  /** `submitting` (by `claimedBy`) -> `sent`. False when the claim is not held. */
  markOutboxSent(
    firmId: FirmId,
    outboxId: string,
    claimedBy: string,
    sent: { at: Date; messageId: string },
  ): Promise<boolean>;
  /**
   * `submitting` (by `claimedBy`) -> `scheduled` at `retryAt` when given, else `failed`.
   * False when the claim is not held.
   */
  markOutboxFailed(
    firmId: FirmId,
    outboxId: string,
    claimedBy: string,
    failure: { error: string; retryAt: Date | undefined },
  ): Promise<boolean>;
}
