/**
 * The Pacing port: provider limits shared by every worker process, so N processes together stay
 * within what one mailbox may use (Gmail's per-user quota units per minute, Graph's 4 concurrent
 * requests per mailbox) instead of N times it.
 *
 * Two primitives, each keyed by (firm, key), the key naming a provider account (e.g.
 * `gmail:ann@firm.com`):
 * - a **rate budget**: {@link Pacing.take} waits until `units` fit in `budget.units` over any
 *   sliding `budget.windowMs`, then records them as spent;
 * - **concurrency slots**: {@link Pacing.acquire} waits until `weight` of `capacity` slots are
 *   free and holds them until released. A held slot expires `ttlMs` after it was taken or last
 *   renewed, so the slots of a process that died come back on their own.
 *
 * Implementations: `createMemoryPacing` (`@clientmail/memory`, one process) and
 * `createPostgresPacing` (`@clientmail/postgres`, every process sharing the database). Both pass
 * `pacingConformance` from `@clientmail/testkit`. Pacing only ever delays a call; a wait that is
 * aborted rejects with the signal's reason and spends nothing.
 */
import type { FirmId } from "../domain/model.js";

/** A rate budget: at most `units` over any sliding window of `windowMs`. */
export interface RateBudget {
  units: number;
  windowMs: number;
}

/** Concurrency slots held by one caller; see {@link Pacing.acquire}. */
export interface PacingSlot {
  /** Gives the slots back. Idempotent. */
  release(): Promise<void>;
  /** Extends the hold by the acquire's `ttlMs`; false when it had already expired (and was lost). */
  renew(): Promise<boolean>;
}

/** Shared pacing; see the module comment. */
export interface Pacing {
  /**
   * Waits until `units` fit in the budget of (`firmId`, `key`), then records them, atomically
   * with every other process's takes. A take larger than the whole budget waits for an empty
   * window and is then allowed.
   */
  take(firmId: FirmId, key: string, units: number, budget: RateBudget, signal?: AbortSignal): Promise<void>;
  /**
   * Waits until `weight` (capped at `capacity`) of the `capacity` slots of (`firmId`, `key`) are free,
   * then holds them until released or expired (`ttlMs` after the take or the last renewal).
   */
  acquire(
    firmId: FirmId,
    key: string,
    weight: number,
    options: { capacity: number; ttlMs: number },
    signal?: AbortSignal,
  ): Promise<PacingSlot>;
  /**
   * Holds all slots of a capacity-1 key without waiting: the slot, or `undefined` when another
   * caller holds it. A lease by another name (the worker's IDLE watchers use it).
   */
  tryAcquire(firmId: FirmId, key: string, ttlMs: number): Promise<PacingSlot | undefined>;
}

/**
 * One mailbox's share of a {@link Pacing}, bound to its firm and provider account: what the
 * worker hands the host's provider factory, and what the Gmail (`quota.shared`) and Graph
 * (`sharedRequests`) providers take, so every process's calls for the mailbox draw on one budget.
 */
export interface MailboxPacing {
  /** Spends `units` of the account's rate budget (Gmail quota units), waiting while it is spent. */
  take(units: number, budget: RateBudget, signal?: AbortSignal): Promise<void>;
  /** Holds `weight` of the mailbox's `capacity` concurrent requests (Graph: 4); call the result to release. */
  acquire(weight: number, capacity: number, signal?: AbortSignal): Promise<() => void>;
}
