/**
 * The thread role of the Store: threads and what finds them (exact thread keys, the subject
 * index of H1), the firm's threading lock, merges (H3), the listings an account shows (H4, H5)
 * and per-member mutes. The engine threads a page through it inside the page's transaction; the
 * facade lists and mutes through it.
 *
 * It keeps the rules of every Store role (see {@link Store}).
 */
import type { AccountId, FirmId, MemberId, ThreadId } from "../../domain/model.js";
import type { FiledMessage } from "./filing-store.js";

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

/**
 * Threads (H1–H3): creation, thread keys, the subject index, merges and the threading lock; the
 * thread listings of an account (H4, H5); mutes (H4).
 */
export interface ThreadStore {
  // Threading (H1–H3) -------------------------------------------------------------------------

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
   * Indexes a message's subject entries under its thread; {@link ThreadStore.mergeThreads} moves
   * them with the thread. Throws `not_found` for an unknown thread.
   */
  addSubjectEntries(firmId: FirmId, threadId: ThreadId, entries: readonly SubjectEntry[]): Promise<void>;

  // Listings and mutes (H4, H5) -----------------------------------------------------------------

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
}
