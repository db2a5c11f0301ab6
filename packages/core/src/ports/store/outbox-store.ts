/**
 * The outbox role of the Store: messages members and automations send, now or at a scheduled
 * time (S4), and the compare-and-set claim that lets exactly one worker submit each.
 *
 * It keeps the rules of every Store role (see {@link Store}).
 */
import type { AccountId, FirmId, MailboxId, MemberId, ThreadId } from "../../domain/model.js";

/** Who pressed send (P4). */
export type OutboxActor =
  { kind: "member"; memberId: MemberId } | { kind: "automation"; name: string; memberId: MemberId };

/** scheduled -> submitting -> sent; scheduled -> cancelled; submitting -> scheduled | failed; failed -> scheduled | sent (a person's release). */
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
  /** Set by {@link OutboxStore.claimOutbox}; identifies the worker submitting it. */
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

/** Outgoing messages and their state machine (S4). */
export interface OutboxStore {
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
  /**
   * Compare-and-set `submitting` (by `fromClaimedBy`) -> `submitting` (by `toClaimedBy`) (S4): the
   * worker that finds a message left `submitting` by a run that died takes the claim over, so it
   * can record what it decides after looking the message up. Exactly one of any number of
   * concurrent callers gets true; false when the message is not `submitting` by `fromClaimedBy`.
   * Counts an attempt.
   */
  reclaimOutbox(
    firmId: FirmId,
    outboxId: string,
    fromClaimedBy: string,
    toClaimedBy: string,
  ): Promise<boolean>;
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
  /**
   * A person's decision on a `failed` message (S4: one held after a crash): compare-and-set
   * `failed` -> `scheduled` at `sendAt` (send it again), or `failed` -> `sent` at `sentAt` (it did
   * go out). Clears the error and the claim. False when the message is not `failed` (or not found).
   */
  releaseFailedOutbox(
    firmId: FirmId,
    outboxId: string,
    release: { sendAt: Date } | { sentAt: Date; messageId: string },
  ): Promise<boolean>;
}
