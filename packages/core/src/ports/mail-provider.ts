import type { FetchResult, ProviderEnvelope, UnreadableMessage } from "../domain/envelope.js";
import type { ProviderKind } from "../domain/model.js";

/**
 * One page of changes. The engine applies `added` and `removed` and saves `cursor` in the same
 * transaction, so a crash replays the page and never skips it.
 */
export interface ChangePage {
  /** Messages that appeared (or whose envelope changed) since the previous cursor. */
  added: ProviderEnvelope[];
  /** Provider ids of copies that no longer exist in the mailbox (F8). */
  removed: string[];
  /**
   * Opaque cursor that resumes right after this page. Serialised by the provider (Gmail
   * historyId, Graph delta links per folder, IMAP UIDVALIDITY + UID/MODSEQ per folder).
   */
  cursor: string;
  /** True on the last page of this pass: the mailbox is now in sync up to `cursor`. */
  done: boolean;
  /** Estimated number of messages in a full listing, when the provider knows it. */
  estimatedTotal?: number | undefined;
  /**
   * Messages whose envelope the provider could not read on its own, on a healthy connection (a
   * Gmail metadata part or a Graph item refused alone). The engine quarantines them with the page
   * (R2) — their ids only, nothing of their content — and learns on a later attempt, from the
   * fetched message, whether they are client mail at all.
   */
  unreadable?: UnreadableMessage[] | undefined;
}

/** A server-side search for the history with some addresses (Y5). */
export interface ParticipantSearch {
  /** Normalised addresses; a message matches when any of them is a participant. */
  addresses: string[];
  since?: Date | undefined;
  before?: Date | undefined;
}

/**
 * Options every long-running provider call takes. When `signal` aborts, the call stops promptly
 * (within about a second, whatever the server is doing: a half-open or trickling connection is
 * closed) and rejects with the signal's reason when it is a `ClientMailError`, else `transient`.
 */
export interface CallOptions {
  signal?: AbortSignal | undefined;
}

/** A live push subscription; `stop` releases it. */
export interface PushSubscription {
  stop(): Promise<void>;
}

/**
 * The port every mail provider (Gmail, Graph, IMAP) implements for one connected mailbox.
 *
 * Failures are thrown as `ClientMailError`s with these codes, never as native errors:
 * `cursor_expired` (the cursor is no longer accepted: run a full listing), `rate_limited`
 * (`RateLimitedError`, with `retryAfterMs` when the provider said), `auth_revoked`
 * (credentials no longer work: stop and notify), `transient` (network, 5xx, server restart, an
 * operation past its deadline: retry with backoff), `not_found` (the message or folder is gone).
 * A thrown failure always concerns the connection or the mailbox, never one message: a message
 * that fails on its own is yielded by {@link MailProvider.fetch} as an `UnreadableMessage` (R1).
 *
 * Deadlines (R3): every network operation has its own deadline (a provider setting with a sane
 * default), so a silent or trickling server fails the operation as `transient` instead of hanging.
 */
export interface MailProvider {
  readonly kind: ProviderKind;

  /**
   * Lists envelopes changed since `cursor`; with no cursor, every message of the synced folders
   * (the backfill). Pages are yielded in order; each carries the cursor that resumes after it.
   * Cheap: no bodies are fetched. Throws `cursor_expired` when the cursor is too old or cannot
   * be read at all (a corrupt or foreign value): either way only a full listing can follow.
   */
  changes(cursor: string | undefined, options?: CallOptions): AsyncIterable<ChangePage>;

  /**
   * Server-side search for messages with any of the given participants (Y5), in every synced
   * folder. Yields batches of envelopes.
   */
  search(query: ParticipantSearch, options?: CallOptions): AsyncIterable<ProviderEnvelope[]>;

  /**
   * Fetches and parses full content for the given provider ids only (F1: called only for
   * messages that are filed). Yields one result per id that still exists, in any order; ids
   * that no longer exist are skipped.
   *
   * R7: memory is bounded by bytes. A message's `source` and its attachments' `content` are
   * streamed, and readable until the iteration ends (however it ends): the provider may keep
   * them in temporary files that it removes then, so a caller reads or copies them while it
   * iterates. A message over the provider's size limit (`maxMessageBytes`) is not downloaded,
   * or not kept when its size was under-reported: it is yielded as `too_large`, never in part.
   *
   * A message that fails on its own while the connection is healthy (it cannot be parsed at all,
   * it is over the size limit, the server refuses that message alone) is yielded as an
   * `UnreadableMessage`, and the other ids are still delivered. Any thrown error means the call as
   * a whole failed (connection lost, deadline passed, throttled): the caller retries the batch
   * later and marks no message (R1).
   */
  fetch(providerIds: readonly string[], options?: CallOptions): AsyncIterable<FetchResult>;

  /**
   * Subscribes to change hints. `onChange` is called (possibly spuriously, possibly coalesced)
   * when the mailbox may have changed; the engine then runs `changes`. Resolves once the
   * subscription is active.
   */
  watch(onChange: () => void, options?: CallOptions): Promise<PushSubscription>;

  /**
   * Push registrations that outlive this process (Gmail `users.watch`, Graph subscriptions),
   * created and renewed by the worker's jobs and recorded in the store. Absent when the provider
   * has no webhook push or it is not configured (IMAP pushes through {@link MailProvider.watch}).
   */
  readonly push?: PushRegistrar | undefined;

  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}

/** A push registration at the provider, as {@link PushRegistrar} returns it. */
export interface PushRegistration {
  /** The provider's id (Graph subscription id; `gmail:<address>` for Gmail's one watch per user). */
  id: string;
  /** What is watched (a Graph folder, a Pub/Sub topic). */
  resource: string;
  /** When notifications stop unless renewed (Gmail: ≤ 7 days; Graph mail: ≤ 10,070 minutes). */
  expiresAt: Date;
  /**
   * The secret the provider echoes with each notification (Graph `clientState`), returned by
   * `subscribe` only; the worker keeps its hash, never the value.
   */
  secret?: string | undefined;
}

/**
 * Creates, renews and removes a mailbox's push registrations. Failures are `ClientMailError`s
 * as for every provider call; `renew` throws `not_found` when the provider no longer knows the
 * registration (it must then be created again).
 */
export interface PushRegistrar {
  /** Registers for push (one registration per watched folder or topic). */
  subscribe(options?: CallOptions): Promise<PushRegistration[]>;
  /** Extends a registration as far as the provider allows. */
  renew(
    registration: Pick<PushRegistration, "id" | "resource">,
    options?: CallOptions,
  ): Promise<PushRegistration>;
  /** Removes a registration; one already gone is not an error. */
  unsubscribe(registration: Pick<PushRegistration, "id" | "resource">, options?: CallOptions): Promise<void>;
}
