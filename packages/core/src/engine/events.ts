import type {
  AccountId,
  FirmId,
  MailboxId,
  MailboxSyncState,
  MailboxVerification,
  MessageRecordId,
  ThreadId,
} from "../domain/model.js";
import type { QuarantineReason } from "../ports/store.js";

/** The events the sync engine emits (typed for eventemitter3). */
export interface SyncEvents {
  /** A message was filed for the first time (F1), or seen again through another mailbox (`created: false`). */
  "message.filed": [
    {
      firmId: FirmId;
      mailboxId: MailboxId;
      messageRecordId: MessageRecordId;
      threadId: ThreadId;
      accountIds: AccountId[];
      direction: "inbound" | "outbound";
      created: boolean;
    },
  ];
  /** Threads were merged because a late message linked them (H3). */
  "thread.merged": [{ firmId: FirmId; survivorId: ThreadId; mergedIds: ThreadId[] }];
  /** Messages left the firm's view because every mailbox deleted them (F8). */
  "message.removed": [{ firmId: FirmId; mailboxId: MailboxId; messageRecordIds: MessageRecordId[] }];
  /** Backfill progress. */
  "sync.progress": [{ firmId: FirmId; mailboxId: MailboxId; done: number; estimated: number | undefined }];
  /** The mailbox's sync state changed (N5). */
  "sync.state": [{ firmId: FirmId; mailboxId: MailboxId; state: MailboxSyncState }];
  /** The completeness audit ran (R1, R2): complete, or what was missing and repaired. */
  "sync.verified": [{ firmId: FirmId; mailboxId: MailboxId; verification: MailboxVerification }];
  /** The cursor was no longer accepted; a full listing runs (Y6). */
  "sync.resync": [{ firmId: FirmId; mailboxId: MailboxId }];
  /**
   * A client message failed on its own (on a healthy connection) and is in quarantine (R2): it is
   * retried later with backoff and listed for owners and admins.
   */
  "message.quarantined": [
    { firmId: FirmId; mailboxId: MailboxId; providerId: string; reason: QuarantineReason; attempts: number },
  ];
  /** An attachment was saved to an account's documents (F9). */
  "attachment.saved": [{ firmId: FirmId; accountId: AccountId; documentId: string; contentHash: string }];
}
