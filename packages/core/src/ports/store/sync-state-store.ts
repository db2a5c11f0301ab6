/**
 * The sync-state role of the Store: what the engine keeps about its own progress on a mailbox —
 * the sync lease and its fencing token, the cursor, the mailbox's sync state and latest
 * completeness audit, and the quarantine of messages that failed on their own (R2). A pass
 * holds the lease, reads and moves the cursor, and reports its state through it.
 *
 * It keeps the rules of every Store role (see {@link Store}).
 */
import type { UnreadableReason } from "../../domain/envelope.js";
import type {
  FirmId,
  Mailbox,
  MailboxId,
  MailboxSyncState,
  MailboxVerification,
} from "../../domain/model.js";

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

/** Filters of {@link SyncStateStore.listQuarantine}; all given filters must match. */
export interface QuarantineFilter {
  mailboxId?: MailboxId;
  /** Only entries due at this time (`nextAttemptAt <= dueAt`). */
  dueAt?: Date;
  /** Default: all. */
  limit?: number;
}

/**
 * Leases and cursors (Y6), the mailbox's sync state and verification (N5, R1, R2), and the
 * quarantine (R2).
 */
export interface SyncStateStore {
  // Mailbox state ---------------------------------------------------------------------------

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
  /**
   * How long the mailbox's live lease still runs, in ms on the store's clock (the database's):
   * `undefined` when no lease is live (released, expired, never taken, unknown mailbox). A
   * worker that found the lease held looks again when it expires (R8, Y2): a dead holder's
   * mailbox is then taken as soon as its lease runs out, whatever the clocks of the processes.
   */
  leaseRemainingMs(firmId: FirmId, mailboxId: MailboxId): Promise<number | undefined>;
  /** The mailbox's sync cursor, or `undefined` before the first page or for an unknown mailbox. */
  getCursor(firmId: FirmId, mailboxId: MailboxId): Promise<string | undefined>;
  /**
   * Saves the cursor, fenced: throws a `lease_lost` error (and changes nothing) unless `token`
   * is the mailbox's current lease token. Inside a transaction, the throw rolls back the
   * transaction's filing too, so a stale worker's page is never half-applied.
   */
  setCursor(firmId: FirmId, mailboxId: MailboxId, token: number, cursor: string | undefined): Promise<void>;

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
}
