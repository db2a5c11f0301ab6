/**
 * The fault suite's view of the job queue (R8): what "in sync" means now that durable work runs as
 * jobs, and a wrapper that lets the suite see jobs being added and run without touching the
 * engine or the queue adapter.
 *
 * A firm is in sync when every mailbox completed a pass and its queue is **idle**: no job running
 * and none waiting that is due before the next polls. Each case's firm has a database of its own,
 * so the whole queue is the firm's.
 */
import type pg from "pg";
import { ClientMailError } from "@clientmail/core";
import { workerJobs } from "@clientmail/core/internal";
import type { Job, JobHandler, JobQueue, NewJob, Store } from "@clientmail/core/ports";

/**
 * How often the suite's workers poll a synced mailbox (the safety net). Far beyond a trial: a
 * waiting job due later than {@link idleHorizonMs} is such a poll, not work left to do.
 */
export const pollIntervalMs = 60 * 60_000;

/** Jobs due within this time count as work still to do. */
export const idleHorizonMs = 10 * 60_000;

/** The queue's jobs now, read from graphile-worker's `jobs` view. */
export interface QueueLoad {
  running: number;
  /** Waiting and due before the idle horizon. */
  due: number;
  /** Waiting and due now. */
  dueNow: number;
  /** Spent their attempts: dead letters. */
  failed: number;
  /** Real time of the earliest waiting job, when there is one. */
  nextRunAt: Date | undefined;
}

export async function queueLoad(pool: pg.Pool): Promise<QueueLoad> {
  const { rows } = await pool.query<{
    running: number;
    due: number;
    due_now: number;
    failed: number;
    next: Date | null;
  }>(
    `SELECT count(*) FILTER (WHERE locked_at IS NOT NULL)::int AS running,
            count(*) FILTER (WHERE locked_at IS NULL AND attempts < max_attempts
                               AND run_at < now() + $1 * interval '1 millisecond')::int AS due,
            count(*) FILTER (WHERE locked_at IS NULL AND attempts < max_attempts
                               AND run_at <= now())::int AS due_now,
            count(*) FILTER (WHERE locked_at IS NULL AND attempts >= max_attempts)::int AS failed,
            min(run_at) FILTER (WHERE locked_at IS NULL AND attempts < max_attempts) AS next
     FROM graphile_worker.jobs`,
    [idleHorizonMs],
  );
  const row = rows[0]!;
  return {
    running: row.running,
    due: row.due,
    dueNow: row.due_now,
    failed: row.failed,
    nextRunAt: row.next ?? undefined,
  };
}

export function isIdle(load: QueueLoad): boolean {
  return load.running === 0 && load.due === 0;
}

/** What {@link watchQueue} tells its caller. */
export interface QueueHooks {
  /** Jobs were enqueued (inside the caller's transaction, when there is one). */
  onEnqueued?: ((jobs: readonly NewJob[]) => Promise<void> | void) | undefined;
  /** Maps a job's run-at before it reaches the queue (a virtual clock's time to the database's). */
  runAt?: ((runAt: Date) => Date) | undefined;
  /** Wraps each handler the worker registers. */
  handler?: ((name: string, inner: JobHandler) => JobHandler) | undefined;
}

/** Wrappers the suite put around stores, to the store each wraps. */
const wrapped = new WeakMap<object, Store>();

/** Registers `wrapper` as a wrapper of `inner` (a store or a transaction's `tx`), and returns it. */
export function wraps<T extends Store>(wrapper: T, inner: Store): T {
  wrapped.set(wrapper, inner);
  return wrapper;
}

/**
 * The queue as the worker sees it. The engine enqueues with the store (or the transaction's `tx`)
 * it was given, here a wrapper the suite instruments; the PostgreSQL queue joins only its own
 * store's transactions, so enqueues are passed on with the store that wrapper wraps (registered
 * with {@link wraps}).
 */
export function watchQueue(inner: JobQueue, hooks: QueueHooks): JobQueue {
  return {
    async enqueue(store, jobs) {
      const mapped = hooks.runAt
        ? jobs.map((job) => (job.runAt ? { ...job, runAt: hooks.runAt!(job.runAt) } : job))
        : jobs;
      await inner.enqueue(wrapped.get(store) ?? store, mapped);
      await hooks.onEnqueued?.(jobs);
    },
    work(handlers, options) {
      const wrap = hooks.handler;
      if (!wrap) return inner.work(handlers, options);
      return inner.work(
        Object.fromEntries(Object.entries(handlers).map(([name, handler]) => [name, wrap(name, handler)])),
        options,
      );
    },
    listFailed: (options) => inner.listFailed(options),
    retryFailed: (jobId) => inner.retryFailed(jobId),
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
}

/** The mailbox a `sync.mailbox` job is for (undefined for other jobs). */
export function syncedMailboxOf(job: Job): string | undefined {
  if (job.name !== workerJobs.sync) return undefined;
  const mailboxId = job.payload.mailboxId;
  return typeof mailboxId === "string" ? mailboxId : undefined;
}

export function codeOf(error: unknown): string {
  if (ClientMailError.isInstance(error)) return error.code;
  return error instanceof Error ? error.name : "unknown";
}

/** How one `sync.mailbox` job's pass ended. */
export interface PassReport {
  mailboxId: string;
  /**
   * `ok`: the pass completed (the mailbox was marked synced); `not-ran`: another process held the
   * mailbox's lease; `error`: the pass failed (`code`); `throttled`, `stopped`: the failure policy
   * put the mailbox there.
   */
  outcome: "ok" | "stopped" | "throttled" | "error" | "not-ran";
  code?: string | undefined;
  ms: number;
}

/**
 * Watches the passes the worker's `sync.mailbox` jobs run, from the outside: whether the job took
 * the mailbox's lease (the store's `acquireLease`, reported through {@link noteLease}) and what
 * state the job left the mailbox in.
 */
export class PassWatch {
  private readonly leased = new Set<string>();
  /** Mailboxes with a completed pass since this watch began. */
  readonly synced = new Set<string>();
  /** Mailboxes with at least one reported pass. */
  readonly reported = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly firmId: string,
    private readonly now: () => Date,
    private readonly onPass: (report: PassReport) => void,
  ) {}

  noteLease(mailboxId: string): void {
    this.leased.add(mailboxId);
  }

  /** Runs a job's handler; for a `sync.mailbox` job, reports how its pass ended. */
  async run(job: Job, handler: () => Promise<void>): Promise<void> {
    const mailboxId = syncedMailboxOf(job);
    if (!mailboxId) return handler();
    this.leased.delete(mailboxId);
    const started = Date.now();
    const since = this.now().getTime();
    const report = (outcome: PassReport["outcome"], code?: string) => {
      if (outcome === "ok") this.synced.add(mailboxId);
      if (outcome !== "not-ran") this.reported.add(mailboxId);
      this.onPass({ mailboxId, outcome, code, ms: Date.now() - started });
    };
    try {
      await handler();
    } catch (error) {
      report("error", codeOf(error));
      throw error;
    }
    if (!this.leased.has(mailboxId)) return report("not-ran");
    const mailbox = await this.store.getMailbox(this.firmId, mailboxId);
    const state = mailbox?.state;
    if (mailbox?.lastSyncedAt && mailbox.lastSyncedAt.getTime() >= since) report("ok");
    else if (state?.status === "retrying") report("error", state.lastError);
    else if (state?.status === "throttled") report("throttled", "rate_limited");
    else if (state?.status === "stopped") report("stopped", state.reason);
    // The failure policy resumes at once after a pass that reached its deadline having committed
    // pages: no state is written, and the error was transient.
    else report("error", "transient");
  }
}
