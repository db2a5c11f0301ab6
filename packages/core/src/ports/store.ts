/**
 * The Store port: where a firm's records, filed mail and sync bookkeeping live. It is cut into
 * roles, one interface per file under `store/`, by what callers use together:
 *
 * - {@link DirectoryStore}: firms, members, mailboxes (settings, connections, credentials),
 *   accounts, contacts, links and invitations;
 * - {@link SyncStateStore}: leases and cursors, a mailbox's sync state and verification, the
 *   quarantine;
 * - {@link FilingStore}: filed messages, identity lookups, sightings, erasure, saved attachments;
 * - {@link ThreadStore}: threads, thread keys, the subject index, the threading lock, an
 *   account's thread listings, mutes;
 * - {@link NotificationStore}: members' notifications;
 * - {@link OutboxStore}: outgoing messages and their claims;
 * - {@link AuditStore}: the audit trail;
 * - {@link PushStore}: push registrations at the providers (Gmail watch, Graph subscriptions).
 *
 * {@link Store} is all of them plus {@link Store.transaction}; an adapter is one object that
 * implements `Store`. Code that needs only some roles takes only those.
 *
 * Rules every role keeps (the conformance suite in `@clientmail/testkit` checks them):
 * - Every method but {@link DirectoryStore.createFirm} and {@link DirectoryStore.listFirmIds}
 *   takes the firm id first and never reads or changes another firm's rows. An id of another
 *   firm behaves exactly like an id that does not exist.
 * - "Not found" is `undefined` for getters, `false` for yes/no mutations, and a
 *   {@link NotFoundError} (code `not_found`) for mutations that must name their target.
 * - A duplicate of a unique key throws a {@link ClientMailError} with code `conflict`.
 * - Every method is atomic on its own; {@link Store.transaction} makes several atomic together,
 *   across roles.
 * - Records returned are copies: changing them changes nothing in the store.
 * - Text a store cannot hold (U+0000, lone surrogates) is refused with a `ValidationError` naming
 *   the field, before anything is written (R4): every store accepts and refuses the same values.
 */
import type { AuditStore } from "./store/audit-store.js";
import type { DirectoryStore } from "./store/directory-store.js";
import type { FilingStore } from "./store/filing-store.js";
import type { NotificationStore } from "./store/notification-store.js";
import type { OutboxStore } from "./store/outbox-store.js";
import type { SyncStateStore } from "./store/sync-state-store.js";
import type { ThreadStore } from "./store/thread-store.js";
import type { PushStore } from "./store/push-store.js";

export type {
  DirectoryStore,
  NewFirm,
  FirmPatch,
  NewTeamMember,
  TeamMemberPatch,
  NewMailbox,
  MailboxCredential,
  NewAccount,
  AccountPatch,
  NewContact,
  ContactPatch,
  NewLink,
  LinkPatch,
  LinkFilter,
} from "./store/directory-store.js";
export type {
  SyncStateStore,
  QuarantineReason,
  QuarantineEntry,
  QuarantineFilter,
} from "./store/sync-state-store.js";
export type {
  FilingStore,
  MessageDirection,
  Sighting,
  AttachmentMeta,
  Filing,
  MessageToFile,
  FiledMessage,
  FileOutcome,
  SightingRemoval,
} from "./store/filing-store.js";
export type {
  ThreadStore,
  ThreadView,
  ThreadListOptions,
  ThreadKeyConflict,
  SubjectEntry,
  ThreadKeysEntry,
  ThreadSubjectEntries,
  ThreadPosition,
  ThreadTraces,
  ThreadTracesRemoved,
} from "./store/thread-store.js";
export type { NotificationStore, NewNotification, Notification } from "./store/notification-store.js";
export type {
  OutboxStore,
  OutboxActor,
  OutboxState,
  NewOutboxMessage,
  OutboxMessage,
  OutboxFilter,
} from "./store/outbox-store.js";
export type { AuditStore, NewAuditEntry, AuditEntry } from "./store/audit-store.js";

/**
 * Persistent state of clientmail: every role, and transactions across them. Implementations:
 * `@clientmail/memory` (reference) and `@clientmail/postgres`. Both must pass `storeConformance`
 * from `@clientmail/testkit`.
 */
export interface Store
  extends
    DirectoryStore,
    SyncStateStore,
    FilingStore,
    ThreadStore,
    NotificationStore,
    OutboxStore,
    AuditStore,
    PushStore {
  /**
   * Runs `fn` in one transaction: every write made through `tx` commits together when `fn`
   * resolves and is rolled back when it throws (the error is rethrown). Only calls on `tx` are
   * part of the transaction: callers use `tx` inside `fn`, never the store they called
   * `transaction` on (an adapter may run such a call outside the transaction, on a connection of
   * its own, or join it: the PostgreSQL store binds `tx` to its connection, the memory store
   * joins). Calling `tx.transaction` inside `fn` opens a nested transaction; if its function
   * throws, only its writes are rolled back (a savepoint).
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
}

export type { PushStore, PushRegistrationRecord } from "./store/push-store.js";
