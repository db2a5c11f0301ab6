/**
 * The JobQueue port: durable work that follows committed data (R8), and the scheduling of every
 * mailbox's sync across worker processes.
 *
 * Rules every implementation keeps (the conformance suite in `@clientmail/testkit` checks them):
 * - **Transactional enqueue.** {@link JobQueue.enqueue} called with the `tx` a
 *   `store.transaction` callback was handed adds its jobs in that transaction: workers see them
 *   if and when it commits, never when it rolls back. Called with the store itself, the jobs are
 *   added at once.
 * - **At least once.** A job is handed to a handler until one run succeeds (or its attempts are
 *   spent); a worker that dies mid-run does not lose it (its lock expires and it runs again).
 *   Handlers are therefore idempotent.
 * - **Keys.** At most one job with a given `key` waits at a time: enqueueing a key that is
 *   already waiting keeps that one job, due at the earlier of the two run-at times (a push hint
 *   brings a scheduled poll forward; a later poll never delays a pending push). A job with a key
 *   that is running may be enqueued once more (a follow-up), and never runs at the same time as
 *   the running one.
 * - **Retries.** A handler that throws is retried with exponential backoff until `maxAttempts`;
 *   a `ClientMailError` that is not `retryable` fails the job at once. Failed jobs stay listed
 *   (dead letters) with their last error, until retried or deleted by an operator.
 * - **Fairness.** Among jobs due at the same time, a firm with many waiting jobs does not starve a
 *   firm with few: jobs are taken round-robin by `group` (the firm), then by run-at.
 */
import type { Store } from "./store.js";

/** JSON values only: payloads travel through a database. */
export type JobPayload = { readonly [key: string]: JobValue };
export type JobValue =
  string | number | boolean | null | readonly JobValue[] | { readonly [key: string]: JobValue };

/** A job to add. */
export interface NewJob {
  /** What to run: handlers are registered per name. */
  name: string;
  payload: JobPayload;
  /** Dedupe and serialisation key (see the port's rules), e.g. `sync:<firm>:<mailbox>`. */
  key?: string | undefined;
  /** Fairness group, normally the firm id. */
  group?: string | undefined;
  /** Not before this time. Default: now. */
  runAt?: Date | undefined;
  /** Default 10. */
  maxAttempts?: number | undefined;
}

/** A job handed to a handler. */
export interface Job {
  id: string;
  name: string;
  payload: JobPayload;
  key: string | undefined;
  group: string | undefined;
  /** 1 on the first run. */
  attempt: number;
  maxAttempts: number;
}

/**
 * Handles one job; throwing fails this attempt. `signal` aborts when the worker shuts down; the
 * handler may hand it to many operations at once, so it accepts any number of listeners.
 */
export type JobHandler = (job: Job, signal: AbortSignal) => Promise<void>;

/** A job that spent its attempts (or failed for good). */
export interface FailedJob {
  id: string;
  name: string;
  payload: JobPayload;
  key: string | undefined;
  group: string | undefined;
  attempts: number;
  /** Log-safe: the error's code and message. */
  lastError: string;
  failedAt: Date;
}

/** What is in the queue now, for health output. */
export interface QueueStats {
  waiting: number;
  running: number;
  failed: number;
  /** Run-at of the oldest job that is due and waiting. */
  oldestWaitingAt: Date | undefined;
}

/** A running worker. */
export interface JobWorker {
  /**
   * Stops taking jobs. Graceful: waits (up to `timeoutMs`, default 30 s) for running jobs to
   * finish; jobs still running then are aborted and released to run again elsewhere.
   */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

/** Options of {@link JobQueue.work}. */
export interface WorkOptions {
  /** Jobs run at once by this worker. Default 4. */
  concurrency?: number | undefined;
  /** How often an idle worker looks for due jobs (adapters may also be woken at once). Default 1 s. */
  pollIntervalMs?: number | undefined;
}

/** Durable jobs; see the module comment for the rules. */
export interface JobQueue {
  /** Adds jobs; in the transaction `store` is bound to when it is a transaction's `tx`. */
  enqueue(store: Store, jobs: readonly NewJob[]): Promise<void>;
  /** Runs handlers for the named jobs until the returned worker is stopped. */
  work(handlers: Readonly<Record<string, JobHandler>>, options?: WorkOptions): Promise<JobWorker>;
  /** Dead letters, newest first. Default limit 100. */
  listFailed(options?: { name?: string; limit?: number }): Promise<FailedJob[]>;
  /** Puts a failed job back in the queue with fresh attempts. False when there is no such failed job. */
  retryFailed(jobId: string): Promise<boolean>;
  stats(): Promise<QueueStats>;
  /** Stops every worker of this queue and releases its resources. Idempotent. */
  close(): Promise<void>;
}
