/**
 * The PostgreSQL JobQueue (R8), on graphile-worker 0.17 (`docs/decisions.md`, "Durable work"
 * says why this engine and what was measured).
 *
 * The engine does the heavy lifting: its schema and migrations, `add_jobs` (called here on the
 * store transaction's own connection, so jobs commit or roll back with the data they follow),
 * `SKIP LOCKED` fetching, LISTEN/NOTIFY wake-ups at commit, concurrency and graceful shutdown.
 * What the port asks beyond the engine's defaults is added with the engine's public SQL functions
 * where it has one, and says so where it does not:
 * - **Keys**: graphile's `job_key` keeps one waiting job per key and, when the keyed job is
 *   running, adds the follow-up as a new job. The enqueue statement keeps a waiting key's job,
 *   bringing its run-at forward when the new one is earlier; a worker claims the key in `clientmail_job_keys` before running,
 *   and a job whose key is taken is given back untouched to retry shortly, so a follow-up never
 *   runs beside its key. graphile's named queues would do this too, but cost ~10× throughput at
 *   one queue per key (measured), and mailboxes are many.
 * - **Retries**: graphile waits e^attempt seconds; right after it records a failure the worker
 *   re-times the job with `reschedule_jobs` to the configured backoff, and a non-retryable
 *   `ClientMailError` (or a spent last attempt) is closed with `permanently_fail_jobs`, which also
 *   stamps the failure time.
 * - **Dead workers**: graphile unlocks a crashed worker's jobs only after 4 hours. Each worker
 *   process heartbeats in `clientmail_job_workers`; any worker unlocks (`force_unlock_workers`)
 *   the jobs of a pool not heard from within `lockTimeoutMs`, so a SIGKILLed job runs again.
 * - **Fairness**: a job's priority is the number of jobs of its group already waiting (computed in
 *   the enqueue statement), and the engine takes the lowest priority first: groups are served
 *   round-robin rather than first-come.
 * Reads that the engine's public `jobs` view cannot answer (payloads of dead letters, waiting
 * counts per group) use its `_private_jobs` table; the version is pinned and the conformance suite
 * checks every one of them.
 */
import { EventEmitter, setMaxListeners } from "node:events";
import { run, type Job as GraphileJob, type JobHelpers, type Runner, type TaskList } from "graphile-worker";
import type { Pool } from "pg";
import { ClientMailError, jobRetryDelay, ValidationError, type ValidationIssue } from "@clientmail/core";
import type {
  FailedJob,
  Job,
  JobHandler,
  JobPayload,
  JobQueue,
  JobWorker,
  Logger,
  NewJob,
  QueueStats,
  Store,
  WorkOptions,
} from "@clientmail/core/ports";
import { graphileLoggerFor } from "./job-queue-logger.js";
import { PostgresStore } from "./postgres-store.js";

/** Settings of {@link createPostgresJobQueue}. */
export interface PostgresJobQueueSettings {
  /**
   * The caller's pool (the store's). Each worker takes `concurrency` + 1 connections from it (one
   * listens for new jobs). When it has no `error` / `connect` listeners, `work` adds ones that
   * report through `logger`, so a connection dying while idle does not crash the process.
   */
  pool: Pool;
  /** The PostgreSQL store whose transactions `enqueue` joins. */
  store: Store;
  /**
   * The delay before retry number `attempt` (1 = the first retry), in ms. Default: 1 s doubling
   * per attempt, capped at one hour, plus up to 10% jitter.
   */
  retryDelayMs?: ((attempt: number) => number) | undefined;
  /**
   * How long a worker process may go unheard before its running jobs are unlocked and run again
   * elsewhere (after a crash or SIGKILL). Workers heartbeat every third of it. Default 60 000 ms;
   * at least 300.
   */
  lockTimeoutMs?: number | undefined;
  /** Where the engine's own warnings go. Default: nowhere. */
  logger?: Logger | undefined;
}

/** What a job's graphile payload holds: the caller's payload plus the port's fields. */
interface Envelope {
  p: JobPayload;
  /** Fairness group ("" for none). */
  g: string;
  /** The key, kept here too: graphile clears its own `key` column when a follow-up supersedes a run. */
  k: string | null;
}

const MAX_SMALLINT = 32_767;
/**
 * Fairness counts a group's waiting jobs up to this many: past it, a group is simply "big", and
 * the count (an index range scan) stays cheap however long the queue grows.
 */
const FAIRNESS_CAP = 1_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What graphile records when a keyed job is given back because its key runs elsewhere. */
const GIVEN_BACK = "its key is running; it waits for that run";
/** What graphile records when a stopping worker gives back a job it had started. */
const RELEASED = "the worker stopped; released to run again";

/**
 * True (SQL, of the jobs row `j`) for a run that graphile gave away to a successor of its key
 * (enqueueing a running key sets the running row's key to NULL and its attempts to the maximum)
 * and that then ended without failing on its own: with no error (its pool died), or given back by
 * this queue. Its successor does the key's work, so it is dropped, never a dead letter. A run
 * given away while it was being given back is the race this covers: its give-back is recorded as
 * graphile's failure message.
 */
const SUPERSEDED = `(j.key IS NULL AND j.payload->>'k' IS NOT NULL
  AND (j.last_error IS NULL OR j.last_error IN ('${GIVEN_BACK}', '${RELEASED}')))`;

/**
 * How long the worker waits for graphile to write what it sends without awaiting (a failed job's
 * unlock, a finished job's completion) before leaving the job to the engine's own recovery.
 */
const ENGINE_WRITE_WAIT_MS = 10_000;

/**
 * Asks `done` every `intervalMs` until it says yes (true) or {@link ENGINE_WRITE_WAIT_MS} has
 * passed (false).
 */
async function waitForEngine(done: () => Promise<boolean>, intervalMs: number): Promise<boolean> {
  const deadline = Date.now() + ENGINE_WRITE_WAIT_MS;
  while (Date.now() < deadline) {
    if (await done()) return true;
    await sleep(intervalMs);
  }
  return false;
}

/** Log-safe: the code and message, never a stack or a payload. */
function describeError(error: unknown): string {
  if (ClientMailError.isInstance(error)) return `${error.code}: ${error.message}`.slice(0, 500);
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 500);
  return "unknown error";
}

function sqlState(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const code = error.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The queue's database errors in the SDK's terms: a missing schema or function means
 * `installJobQueue` was not run (say so instead of SQL); a deadlock or serialization failure is
 * `transient`. Anything else is thrown as it came.
 */
function queueError(error: unknown): never {
  const state = sqlState(error);
  if (state === "3F000" || state === "42883" || state === "42P01") {
    throw new ClientMailError(
      "unsupported",
      "The job queue's tables are missing: run installJobQueue(pool) from @clientmail/postgres first",
      { cause: error, details: { sqlState: state } },
    );
  }
  // A deadlock (two enqueues of overlapping keys, say) or a serialization failure: run it again.
  if (state === "40P01" || state === "40001") {
    throw new ClientMailError("transient", "The database asked to retry", {
      cause: error,
      details: { sqlState: state },
    });
  }
  throw error;
}

function validateSettings(settings: PostgresJobQueueSettings): void {
  const issues: ValidationIssue[] = [];
  const pool: unknown = settings?.pool;
  if (typeof pool !== "object" || pool === null || typeof (pool as Pool).connect !== "function")
    issues.push({ field: "pool", value: pool, expected: "a pg.Pool" });
  if (!(settings?.store instanceof PostgresStore))
    issues.push({
      field: "store",
      value: settings?.store,
      expected: "the PostgresStore from createPostgresStore on the same database",
    });
  if (settings?.retryDelayMs !== undefined && typeof settings.retryDelayMs !== "function")
    issues.push({
      field: "retryDelayMs",
      value: settings.retryDelayMs,
      expected: "a function of the attempt",
    });
  const lock = settings?.lockTimeoutMs;
  if (lock !== undefined && !(Number.isInteger(lock) && lock >= 300))
    issues.push({ field: "lockTimeoutMs", value: lock, expected: "an integer of at least 300 (ms)" });
  if (issues.length > 0) throw new ValidationError(issues);
}

function validateJobs(jobs: readonly NewJob[]): void {
  const issues: ValidationIssue[] = [];
  jobs.forEach((job, i) => {
    if (typeof job.name !== "string" || job.name === "")
      issues.push({ field: `jobs[${i}].name`, value: job.name, expected: "a non-empty string" });
    if (typeof job.payload !== "object" || job.payload === null || Array.isArray(job.payload))
      issues.push({ field: `jobs[${i}].payload`, value: job.payload, expected: "a JSON object" });
    for (const field of ["key", "group"] as const)
      if (job[field] !== undefined && (typeof job[field] !== "string" || job[field] === ""))
        issues.push({ field: `jobs[${i}].${field}`, value: job[field], expected: "a non-empty string" });
    if (job.runAt !== undefined && !(job.runAt instanceof Date && !Number.isNaN(job.runAt.getTime())))
      issues.push({ field: `jobs[${i}].runAt`, value: job.runAt, expected: "a valid Date" });
    const max = job.maxAttempts;
    if (max !== undefined && !(Number.isInteger(max) && max >= 1 && max <= MAX_SMALLINT))
      issues.push({
        field: `jobs[${i}].maxAttempts`,
        value: max,
        expected: `an integer from 1 to ${MAX_SMALLINT}`,
      });
  });
  if (issues.length > 0) throw new ValidationError(issues);
}

/**
 * One statement: drop repeated keys within the call, leave keys that already wait (locking their
 * rows, so no worker takes one before this transaction commits and runs without seeing its data,
 * and bringing their run-at forward when the new one is earlier), rank each job within its group,
 * and add the rest with graphile's `add_jobs`.
 */
const ENQUEUE_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::json[], $3::text[], $4::text[], $5::timestamptz[], $6::int[])
    WITH ORDINALITY AS t(name, payload, key, grp, run_at, max_attempts, ord)
),
first_of_key AS (
  SELECT DISTINCT ON (COALESCE(key, '#' || ord)) * FROM input ORDER BY COALESCE(key, '#' || ord), ord
),
waiting AS (
  SELECT j.key FROM graphile_worker._private_jobs j
  WHERE j.key IN (SELECT key FROM input WHERE key IS NOT NULL)
    AND (j.is_available
      -- Fetched but not yet running its handler (about to claim its key, or to be given back):
      -- still waiting, as far as this enqueue is concerned.
      OR (j.locked_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM clientmail_job_keys c WHERE c.job_id = j.id)))
  -- Key order, so that enqueues of overlapping keys lock their rows in the same order.
  ORDER BY j.key
  FOR UPDATE OF j
),
-- One job per waiting key, due at the earlier time: a push brings a scheduled poll forward.
pulled AS (
  UPDATE graphile_worker._private_jobs j SET run_at = COALESCE(f.run_at, now())
  FROM first_of_key f
  WHERE f.key IS NOT NULL AND j.key = f.key AND j.is_available AND COALESCE(f.run_at, now()) < j.run_at
  RETURNING j.id
),
fresh AS (
  SELECT f.*, row_number() OVER (PARTITION BY f.grp ORDER BY f.ord) - 1 AS rank_in_call
  FROM first_of_key f
  WHERE f.key IS NULL OR f.key NOT IN (SELECT key FROM waiting)
),
groups AS (
  SELECT g.grp, (
    SELECT count(*) FROM (
      SELECT 1 FROM graphile_worker._private_jobs j WHERE j.payload->>'g' = g.grp AND j.is_available LIMIT ${FAIRNESS_CAP}
    ) c
  ) AS waiting
  FROM (SELECT DISTINCT grp FROM fresh) g
)
SELECT count(*)::int AS added FROM graphile_worker.add_jobs(ARRAY(
  SELECT ROW(
    f.name,
    json_build_object('p', f.payload, 'g', f.grp, 'k', f.key),
    NULL,
    COALESCE(f.run_at, now()),
    f.max_attempts::smallint,
    f.key,
    LEAST(${FAIRNESS_CAP}, g.waiting + f.rank_in_call)::smallint,
    NULL
  )::graphile_worker.job_spec
  FROM fresh f JOIN groups g ON g.grp = f.grp
  ORDER BY f.ord
), true)`;

/** graphile's own wake-up message: idle workers of every process fetch at once. */
const WAKE = `pg_notify('jobs:insert', '{"r":0,"count":1}')`;

/** Creates the PostgreSQL job queue. Run {@link installJobQueue} first (once per database). */
export function createPostgresJobQueue(settings: PostgresJobQueueSettings): JobQueue {
  validateSettings(settings);
  return new PostgresJobQueue(settings);
}

class PostgresJobQueue implements JobQueue {
  readonly #pool: Pool;
  readonly #store: PostgresStore;
  readonly #retryDelay: (attempt: number) => number;
  readonly #lockTimeoutMs: number;
  readonly #logger: Logger | undefined;
  readonly #workers = new Set<GraphileQueueWorker>();

  constructor(settings: PostgresJobQueueSettings) {
    this.#pool = settings.pool;
    this.#store = settings.store as PostgresStore;
    this.#retryDelay = settings.retryDelayMs ?? jobRetryDelay;
    this.#lockTimeoutMs = settings.lockTimeoutMs ?? 60_000;
    this.#logger = settings.logger;
  }

  async enqueue(store: Store, jobs: readonly NewJob[]): Promise<void> {
    if (!this.#store.isSameStore(store))
      throw new ClientMailError("unsupported", "The job queue joins only its own store's transactions", {
        details: { option: "store" },
      });
    validateJobs(jobs);
    if (jobs.length === 0) return;
    // The transaction `store` is bound to when it is one's: the jobs commit or roll back with it.
    await store
      .executor()
      .query(ENQUEUE_SQL, [
        jobs.map((job) => job.name),
        jobs.map((job) => JSON.stringify(job.payload)),
        jobs.map((job) => job.key ?? null),
        jobs.map((job) => job.group ?? ""),
        jobs.map((job) => job.runAt ?? null),
        jobs.map((job) => job.maxAttempts ?? 10),
      ])
      .catch(queueError);
  }

  async work(handlers: Readonly<Record<string, JobHandler>>, options: WorkOptions = {}): Promise<JobWorker> {
    const issues: ValidationIssue[] = [];
    const concurrency = options.concurrency ?? 4;
    const pollIntervalMs = options.pollIntervalMs ?? 1_000;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      issues.push({ field: "concurrency", value: concurrency, expected: "an integer of at least 1" });
    if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 10)
      issues.push({
        field: "pollIntervalMs",
        value: pollIntervalMs,
        expected: "an integer of at least 10 (ms)",
      });
    if (Object.keys(handlers).length === 0)
      issues.push({ field: "handlers", value: handlers, expected: "at least one handler" });
    if (issues.length > 0) throw new ValidationError(issues);
    this.#guardPool();
    const worker = new GraphileQueueWorker({
      pool: this.#pool,
      handlers,
      concurrency,
      pollIntervalMs,
      retryDelay: this.#retryDelay,
      lockTimeoutMs: this.#lockTimeoutMs,
      logger: this.#logger,
      onStop: () => this.#workers.delete(worker),
    });
    this.#workers.add(worker);
    try {
      await worker.start();
    } catch (error) {
      this.#workers.delete(worker);
      queueError(error);
    }
    return worker;
  }

  /**
   * A worker holds connections for long: one that dies while idle must not crash the process.
   * graphile-worker installs such handlers itself when the pool has none, and says so on the
   * console; these report through the queue's logger instead. Handlers the host set are kept.
   */
  #guardPool(): void {
    const pool = this.#pool;
    const logger = this.#logger;
    const report = (error: Error) =>
      logger?.warn("job queue: a database connection failed", { error: describeError(error) });
    if (pool.listeners("error").length === 0) pool.on("error", report);
    if (pool.listeners("connect").length === 0)
      pool.on("connect", (client) => {
        client.on("error", report);
      });
  }

  async listFailed(options: { name?: string; limit?: number } = {}): Promise<FailedJob[]> {
    const { rows } = await this.#pool
      .query<{
        id: string;
        name: string;
        payload: Envelope;
        attempts: number;
        last_error: string | null;
        updated_at: Date;
      }>(
        `SELECT j.id::text AS id, t.identifier AS name, j.payload, j.attempts, j.last_error, j.updated_at
         FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
         WHERE j.locked_at IS NULL AND j.attempts >= j.max_attempts AND ($1::text IS NULL OR t.identifier = $1)
           AND NOT ${SUPERSEDED}
         ORDER BY j.updated_at DESC, j.id DESC LIMIT $2`,
        [options.name ?? null, options.limit ?? 100],
      )
      .catch(queueError);
    return rows.map((row) => ({
      id: row.id,
      name: row.name,
      payload: row.payload.p,
      key: row.payload.k ?? undefined,
      group: row.payload.g === "" ? undefined : row.payload.g,
      attempts: row.attempts,
      lastError: row.last_error ?? "",
      failedAt: row.updated_at,
    }));
  }

  async retryFailed(jobId: string): Promise<boolean> {
    if (!/^\d{1,18}$/.test(jobId)) return false;
    const { rows } = await this.#pool
      .query(
        `SELECT r.id, ${WAKE} FROM graphile_worker.reschedule_jobs(
           ARRAY(SELECT id FROM graphile_worker.jobs
                 WHERE id = $1::bigint AND locked_at IS NULL AND attempts >= max_attempts),
           run_at := now(), attempts := 0) r`,
        [jobId],
      )
      .catch(queueError);
    return rows.length > 0;
  }

  async stats(): Promise<QueueStats> {
    const { rows } = await this.#pool
      .query<{ waiting: number; running: number; failed: number; oldest: Date | null }>(
        `SELECT count(*) FILTER (WHERE locked_at IS NULL AND attempts < max_attempts)::int AS waiting,
                count(*) FILTER (WHERE locked_at IS NOT NULL)::int AS running,
                count(*) FILTER (WHERE locked_at IS NULL AND attempts >= max_attempts
                  AND NOT ${SUPERSEDED})::int AS failed,
                min(run_at) FILTER (WHERE locked_at IS NULL AND attempts < max_attempts AND run_at <= now()) AS oldest
         FROM graphile_worker._private_jobs j`,
      )
      .catch(queueError);
    const row = rows[0]!;
    return {
      waiting: row.waiting,
      running: row.running,
      failed: row.failed,
      oldestWaitingAt: row.oldest ?? undefined,
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#workers].map((worker) => worker.stop({ timeoutMs: 0 })));
  }
}

interface WorkerSettings {
  pool: Pool;
  handlers: Readonly<Record<string, JobHandler>>;
  concurrency: number;
  pollIntervalMs: number;
  retryDelay: (attempt: number) => number;
  lockTimeoutMs: number;
  logger: Logger | undefined;
  onStop: () => void;
}

/** What becomes of a job whose run did not succeed, applied once graphile has unlocked it. */
type Settlement =
  | { kind: "retry"; delayMs: number }
  | { kind: "fail"; error: string; attempt: number }
  | { kind: "release"; delayMs: number; attempts: number };

class GraphileQueueWorker implements JobWorker {
  #runner: Runner | undefined;
  #poolId: string | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #running = new Map<string, AbortController>();
  readonly #settling = new Set<Promise<void>>();

  constructor(private readonly settings: WorkerSettings) {}

  async start(): Promise<void> {
    const events = new EventEmitter();
    events.on("pool:create", ({ workerPool }: { workerPool: { id: string } }) => {
      this.#poolId = workerPool.id;
    });
    const taskList: TaskList = {};
    for (const [name, handler] of Object.entries(this.settings.handlers))
      taskList[name] = (payload, helpers) => this.#runJob(handler, payload as Envelope, helpers);
    this.#runner = await run({
      pgPool: this.settings.pool,
      concurrency: this.settings.concurrency,
      pollInterval: this.settings.pollIntervalMs,
      noHandleSignals: true,
      crontab: "",
      taskList,
      logger: graphileLoggerFor(this.settings.logger),
      // graphile reports its pool (whose id is each job's `locked_by`) on this emitter.
      events,
    });
    await this.#beat();
    const interval = Math.max(100, Math.floor(this.settings.lockTimeoutMs / 3));
    this.#heartbeat = setInterval(() => {
      this.#beat().catch((error: unknown) =>
        this.settings.logger?.warn("job queue heartbeat failed", { error: describeError(error) }),
      );
    }, interval);
    this.#heartbeat.unref();
  }

  /** Says this pool is alive, and unlocks the jobs of pools that are not. */
  async #beat(): Promise<void> {
    if (!this.#poolId) return;
    const { pool, lockTimeoutMs } = this.settings;
    await pool.query(
      `INSERT INTO clientmail_job_workers (pool_id, seen_at) VALUES ($1, now())
       ON CONFLICT (pool_id) DO UPDATE SET seen_at = now()`,
      [this.#poolId],
    );
    // Runs given away to a successor of their key that ended without failing on their own
    // (`SUPERSEDED`) are dropped: the successor does the key's work.
    await pool.query(
      `DELETE FROM graphile_worker._private_jobs j
       WHERE ${SUPERSEDED} AND j.attempts >= j.max_attempts
         AND (j.locked_at IS NULL
              OR (j.locked_at < now() - $1 * interval '1 millisecond'
                  AND j.locked_by NOT IN (
                    SELECT pool_id FROM clientmail_job_workers
                    WHERE seen_at > now() - $1 * interval '1 millisecond')))`,
      [lockTimeoutMs],
    );
    await pool.query(
      `WITH live AS (
         SELECT pool_id FROM clientmail_job_workers WHERE seen_at > now() - $1 * interval '1 millisecond'
       ), dead AS (
         SELECT DISTINCT locked_by AS pool_id FROM graphile_worker.jobs
         WHERE locked_at < now() - $1 * interval '1 millisecond' AND locked_by NOT IN (SELECT pool_id FROM live)
       ), freed_keys AS (
         DELETE FROM clientmail_job_keys
         WHERE pool_id NOT IN (SELECT pool_id FROM live) AND started_at < now() - $1 * interval '1 millisecond'
       ), forgotten AS (
         DELETE FROM clientmail_job_workers WHERE seen_at < now() - 100 * $1 * interval '1 millisecond'
       )
       SELECT graphile_worker.force_unlock_workers(ARRAY(SELECT pool_id FROM dead)),
              CASE WHEN EXISTS (SELECT 1 FROM dead) THEN ${WAKE} END`,
      [lockTimeoutMs],
    );
  }

  async #runJob(handler: JobHandler, envelope: Envelope, helpers: JobHelpers): Promise<void> {
    const row: GraphileJob = helpers.job;
    const { pool } = this.settings;
    const job: Job = {
      id: String(row.id),
      name: row.task_identifier,
      payload: envelope.p,
      key: envelope.k ?? undefined,
      group: envelope.g === "" ? undefined : envelope.g,
      attempt: row.attempts,
      maxAttempts: row.max_attempts,
    };
    if (job.key !== undefined) {
      // Locking the job's row first waits for any transaction that found it waiting and is
      // enqueueing the same key: the handler then starts after that data is committed.
      const claimed = await pool.query(
        `WITH mine AS (SELECT id FROM graphile_worker._private_jobs WHERE id = $2::bigint FOR UPDATE)
         INSERT INTO clientmail_job_keys (key, job_id, pool_id) SELECT $1, id, $3 FROM mine
         ON CONFLICT (key) DO NOTHING RETURNING 1`,
        [job.key, job.id, this.#poolId ?? "unknown"],
      );
      if (claimed.rows.length === 0) {
        // Its key is running elsewhere: give the job back untouched, to look again shortly.
        await this.#release(row, Math.min(1_000, this.settings.pollIntervalMs));
        throw new Error(GIVEN_BACK);
      }
    }
    const abort = new AbortController();
    // One signal for everything the job runs at once (a page fetches many messages, each call
    // with its deadline listening): past ten listeners Node would warn of a leak that is not one,
    // since every call removes its listener when it ends.
    setMaxListeners(0, abort.signal);
    this.#running.set(job.id, abort);
    try {
      await handler(job, abort.signal);
    } catch (error) {
      if (abort.signal.aborted && this.#stopping) {
        await this.#release(row, 0);
        throw new Error(RELEASED);
      }
      const final =
        (ClientMailError.isInstance(error) && !error.retryable) || row.attempts >= row.max_attempts;
      this.#settle(
        job.id,
        final
          ? { kind: "fail", error: describeError(error), attempt: row.attempts }
          : { kind: "retry", delayMs: Math.max(0, this.settings.retryDelay(row.attempts)) },
      );
      // graphile records this message as last_error: keep it log-safe.
      throw new Error(describeError(error));
    } finally {
      this.#running.delete(job.id);
      if (job.key !== undefined)
        await pool.query("DELETE FROM clientmail_job_keys WHERE key = $1 AND job_id = $2", [job.key, job.id]);
    }
  }

  /**
   * Gives a job back without spending the attempt graphile counted when it took it. The attempt is
   * returned at once, while the job is still locked by this pool (graphile's failure leaves
   * `attempts` as it is): a process killed before the settlement below applies leaves the job
   * where it was, not one attempt nearer to a dead letter. The settlement then brings the run
   * forward once graphile has unlocked the job.
   */
  async #release(row: GraphileJob, delayMs: number): Promise<void> {
    const attempts = Math.max(0, row.attempts - 1);
    await this.settings.pool.query(
      "UPDATE graphile_worker._private_jobs SET attempts = $3 WHERE id = $1::bigint AND locked_by = $2",
      [row.id, row.locked_by, attempts],
    );
    this.#settle(String(row.id), { kind: "release", delayMs, attempts });
  }

  /**
   * Applies a settlement once graphile has recorded the failure (the job is then unlocked; until
   * then the engine's functions leave it alone). If this process dies first, the engine's own
   * e^attempt backoff applies: later, never lost.
   *
   * A dead letter is listed as soon as graphile has recorded the failure, and a host may retry it
   * at once: closing it applies only while the job is still at the failed attempt, and is dropped
   * once it was moved on, rather than failing the retried job again. A retry or a release makes
   * the job runnable whatever happened meanwhile (graphile itself moves the attempts of a keyed job
   * it gives away, see `#beat`), so those apply regardless.
   */
  #settle(jobId: string, settlement: Settlement): void {
    const { pool } = this.settings;
    const [sql, params] =
      settlement.kind === "fail"
        ? [
            // graphile's permanently_fail_jobs, with the attempt checked in the same UPDATE: Postgres
            // re-checks it under the row lock, so a retry committed meanwhile is never undone. A
            // dead letter gives up its key, as in the port: a new job of that key is then added
            // beside it (instead of reviving it), and the dead letter stays listed. A row when it
            // was closed, or when the job is no longer at that attempt.
            `WITH closed AS (
               UPDATE graphile_worker._private_jobs
               SET last_error = $3, attempts = max_attempts, key = NULL, updated_at = now()
               WHERE id = $1::bigint AND attempts = $2 AND locked_at IS NULL
               RETURNING id)
             SELECT id FROM closed
             UNION ALL
             SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM closed) AND NOT EXISTS (
               SELECT 1 FROM graphile_worker._private_jobs WHERE id = $1::bigint AND attempts = $2)`,
            [jobId, settlement.attempt, settlement.error],
          ]
        : settlement.kind === "retry"
          ? [
              `SELECT r.id, ${WAKE} FROM graphile_worker.reschedule_jobs(ARRAY[$1::bigint],
                 run_at := now() + $2 * interval '1 millisecond') r`,
              [jobId, settlement.delayMs],
            ]
          : [
              `SELECT r.id, ${WAKE} FROM graphile_worker.reschedule_jobs(ARRAY[$1::bigint],
                 run_at := now() + $2 * interval '1 millisecond', attempts := $3) r`,
              [jobId, settlement.delayMs, Math.max(0, settlement.attempts)],
            ];
    const done = (async () => {
      // Applied (a row), or the job was moved on meanwhile.
      const applied = await waitForEngine(async () => (await pool.query(sql, params)).rows.length > 0, 5);
      if (!applied)
        this.settings.logger?.warn("job queue: a failed job kept the engine's own retry time", { jobId });
    })()
      .catch((error: unknown) =>
        this.settings.logger?.warn("job queue: could not re-time a failed job", {
          jobId,
          error: describeError(error),
        }),
      )
      .finally(() => this.#settling.delete(done));
    this.#settling.add(done);
  }

  /**
   * Waits until the engine has written the outcome of every job this pool ran. graphile 0.17 sends
   * a job's completion (or failure) without awaiting it, and its stop does not wait for those
   * writes: a process that exits as soon as `stop` resolves would leave its last job locked, to run
   * again once its lock times out. Bounded like a settlement ({@link ENGINE_WRITE_WAIT_MS}): a write
   * that never lands keeps the engine's own recovery (the lock timeout), never loses the job.
   */
  async #engineWrites(): Promise<void> {
    const poolId = this.#poolId;
    if (!poolId) return;
    const recorded = await waitForEngine(async () => {
      const { rows } = await this.settings.pool.query(
        "SELECT 1 FROM graphile_worker._private_jobs WHERE locked_by = $1 LIMIT 1",
        [poolId],
      );
      return rows.length === 0;
    }, 10);
    if (!recorded)
      this.settings.logger?.warn("job queue: a job's outcome was not recorded before the worker stopped", {
        poolId,
      });
  }

  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#stopped ??= this.#stop(options.timeoutMs ?? 30_000);
    return this.#stopped;
  }

  async #stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    // Graceful: the engine stops fetching, hands back jobs it had not started, and waits for the rest.
    const stopped = this.#runner ? this.#runner.stop() : Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    if ((await Promise.race([stopped.then(() => "done" as const), timedOut])) === "timeout") {
      for (const abort of this.#running.values())
        abort.abort(new ClientMailError("transient", "The worker stopped"));
    }
    clearTimeout(timer);
    await stopped.catch((error: unknown) =>
      this.settings.logger?.warn("job queue: the engine did not stop cleanly", {
        error: describeError(error),
      }),
    );
    await Promise.all([
      ...this.#settling,
      this.#engineWrites().catch((error: unknown) =>
        this.settings.logger?.warn("job queue: could not see the last jobs' outcomes recorded", {
          error: describeError(error),
        }),
      ),
    ]);
    if (this.#poolId)
      await this.settings.pool
        .query("DELETE FROM clientmail_job_workers WHERE pool_id = $1", [this.#poolId])
        .catch(() => undefined);
    this.settings.onStop();
  }
}
