/**
 * The in-process JobQueue for the memory store: the embedded default, with the same semantics as
 * the PostgreSQL queue (transactional enqueue, keys, retries with backoff, dead letters, fairness
 * by group), minus durability across processes, which the memory store does not have either.
 */
import { setMaxListeners } from "node:events";
import { ClientMailError, jobRetryDelay } from "@clientmail/core";
import type {
  Clock,
  FailedJob,
  Job,
  JobHandler,
  JobQueue,
  JobWorker,
  NewJob,
  QueueStats,
  Store,
  WorkOptions,
} from "@clientmail/core/ports";
import type { MemoryStore } from "./memory-store.js";

/** Settings of {@link createMemoryJobQueue}. */
export interface MemoryJobQueueSettings {
  /** The store whose transactions enqueues join. */
  store: MemoryStore;
  clock?: Clock | undefined;
  /**
   * The delay before retry number `attempt` (1 = the first retry). Default: exponential from 1 s,
   * doubling, capped at one hour, with up to 10% jitter.
   */
  retryDelayMs?: ((attempt: number) => number) | undefined;
}

interface Row {
  id: string;
  name: string;
  payload: Job["payload"];
  key: string | undefined;
  group: string | undefined;
  runAt: number;
  maxAttempts: number;
  attempts: number;
  state: "waiting" | "running" | "failed";
  lastError: string | undefined;
  failedAt: number | undefined;
  seq: number;
}

function describeError(error: unknown): string {
  if (ClientMailError.isInstance(error)) return `${error.code}: ${error.message}`.slice(0, 500);
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 500);
  return "unknown error";
}

/** Creates the in-process queue of a memory store. */
export function createMemoryJobQueue(settings: MemoryJobQueueSettings): JobQueue {
  return new MemoryJobQueue(settings);
}

class MemoryJobQueue implements JobQueue {
  readonly #rows = new Map<string, Row>();
  readonly #workers = new Set<MemoryWorker>();
  readonly #clock: Clock;
  readonly #retryDelay: (attempt: number) => number;
  #seq = 0;
  /** Groups in the order they were last served, for round-robin fairness. */
  readonly #served = new Map<string, number>();
  #serveSeq = 0;

  constructor(private readonly settings: MemoryJobQueueSettings) {
    this.#clock = settings.clock ?? { now: () => new Date() };
    this.#retryDelay = settings.retryDelayMs ?? jobRetryDelay;
  }

  async enqueue(store: Store, jobs: readonly NewJob[]): Promise<void> {
    if (store !== (this.settings.store as Store)) {
      throw new ClientMailError(
        "unsupported",
        "The memory job queue joins only its own store's transactions",
        {
          details: { option: "store" },
        },
      );
    }
    for (const job of jobs) {
      if (typeof job.name !== "string" || job.name === "")
        throw new ClientMailError("validation_failed", "A job needs a name", { details: { field: "name" } });
    }
    const copies = jobs.map((job) => structuredClone(job));
    this.settings.store.afterCommit(() => {
      for (const job of copies) this.#add(job);
      for (const worker of this.#workers) worker.wake();
    });
  }

  #add(job: NewJob): void {
    const runAt = (job.runAt ?? this.#clock.now()).getTime();
    const waiting =
      job.key === undefined
        ? undefined
        : [...this.#rows.values()].find((row) => row.key === job.key && row.state === "waiting");
    if (waiting) {
      // One job per waiting key, due at the earlier time.
      waiting.runAt = Math.min(waiting.runAt, runAt);
      return;
    }
    const id = `job-${++this.#seq}`;
    this.#rows.set(id, {
      id,
      name: job.name,
      payload: job.payload,
      key: job.key,
      group: job.group,
      runAt: (job.runAt ?? this.#clock.now()).getTime(),
      maxAttempts: job.maxAttempts ?? 10,
      attempts: 0,
      state: "waiting",
      lastError: undefined,
      failedAt: undefined,
      seq: this.#seq,
    });
  }

  /** The next due job for these names, fairly across groups; marks it running. */
  take(names: ReadonlySet<string>): Row | undefined {
    const now = this.#clock.now().getTime();
    const runningKeys = new Set<string>();
    for (const row of this.#rows.values()) if (row.state === "running" && row.key) runningKeys.add(row.key);
    let best: Row | undefined;
    let bestServed = Number.POSITIVE_INFINITY;
    for (const row of this.#rows.values()) {
      if (row.state !== "waiting" || row.runAt > now || !names.has(row.name)) continue;
      if (row.key !== undefined && runningKeys.has(row.key)) continue;
      const served = this.#served.get(row.group ?? "") ?? 0;
      if (
        !best ||
        served < bestServed ||
        (served === bestServed &&
          (row.runAt < best.runAt || (row.runAt === best.runAt && row.seq < best.seq)))
      ) {
        best = row;
        bestServed = served;
      }
    }
    if (!best) return undefined;
    this.#served.set(best.group ?? "", ++this.#serveSeq);
    best.state = "running";
    best.attempts += 1;
    return best;
  }

  /** When the next waiting job of these names is due, if any. */
  nextDue(names: ReadonlySet<string>): number | undefined {
    let next: number | undefined;
    for (const row of this.#rows.values())
      if (row.state === "waiting" && names.has(row.name) && (next === undefined || row.runAt < next))
        next = row.runAt;
    return next;
  }

  succeed(row: Row): void {
    this.#rows.delete(row.id);
  }

  fail(row: Row, error: unknown): void {
    row.lastError = describeError(error);
    const final = ClientMailError.isInstance(error) && !error.retryable;
    if (final || row.attempts >= row.maxAttempts) {
      row.state = "failed";
      row.failedAt = this.#clock.now().getTime();
      return;
    }
    row.state = "waiting";
    row.runAt = this.#clock.now().getTime() + this.#retryDelay(row.attempts);
  }

  /** A job whose worker stopped before it finished runs again, without counting that attempt. */
  release(row: Row): void {
    row.state = "waiting";
    row.attempts -= 1;
  }

  async work(handlers: Readonly<Record<string, JobHandler>>, options: WorkOptions = {}): Promise<JobWorker> {
    const worker = new MemoryWorker(this, handlers, options, () => this.#workers.delete(worker));
    this.#workers.add(worker);
    worker.start();
    return worker;
  }

  async listFailed(options: { name?: string; limit?: number } = {}): Promise<FailedJob[]> {
    return [...this.#rows.values()]
      .filter((row) => row.state === "failed" && (options.name === undefined || row.name === options.name))
      .sort((a, b) => (b.failedAt ?? 0) - (a.failedAt ?? 0) || b.seq - a.seq)
      .slice(0, options.limit ?? 100)
      .map((row) => ({
        id: row.id,
        name: row.name,
        payload: structuredClone(row.payload),
        key: row.key,
        group: row.group,
        attempts: row.attempts,
        lastError: row.lastError ?? "",
        failedAt: new Date(row.failedAt ?? 0),
      }));
  }

  async retryFailed(jobId: string): Promise<boolean> {
    const row = this.#rows.get(jobId);
    if (!row || row.state !== "failed") return false;
    Object.assign(row, {
      state: "waiting",
      attempts: 0,
      runAt: this.#clock.now().getTime(),
      failedAt: undefined,
    });
    for (const worker of this.#workers) worker.wake();
    return true;
  }

  async stats(): Promise<QueueStats> {
    const now = this.#clock.now().getTime();
    let waiting = 0;
    let running = 0;
    let failed = 0;
    let oldest: number | undefined;
    for (const row of this.#rows.values()) {
      if (row.state === "running") running += 1;
      else if (row.state === "failed") failed += 1;
      else {
        waiting += 1;
        if (row.runAt <= now && (oldest === undefined || row.runAt < oldest)) oldest = row.runAt;
      }
    }
    return { waiting, running, failed, oldestWaitingAt: oldest === undefined ? undefined : new Date(oldest) };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#workers].map((worker) => worker.stop({ timeoutMs: 0 })));
  }
}

class MemoryWorker implements JobWorker {
  private stopped = false;
  private readonly running = new Map<string, { done: Promise<void>; abort: AbortController }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly names: ReadonlySet<string>;
  private readonly concurrency: number;
  private readonly pollIntervalMs: number;

  constructor(
    private readonly queue: MemoryJobQueue,
    private readonly handlers: Readonly<Record<string, JobHandler>>,
    options: WorkOptions,
    private readonly onStop: () => void,
  ) {
    this.names = new Set(Object.keys(handlers));
    this.concurrency = options.concurrency ?? 4;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
  }

  start(): void {
    this.wake();
  }

  /** Starts as many due jobs as capacity allows, then sleeps until the next one is due. */
  wake(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running.size < this.concurrency) {
      const row = this.queue.take(this.names);
      if (!row) break;
      this.run(row);
    }
    const next = this.queue.nextDue(this.names);
    const delay =
      next === undefined
        ? this.pollIntervalMs
        : Math.max(0, Math.min(this.pollIntervalMs, next - Date.now()));
    this.timer = setTimeout(() => this.wake(), delay);
    this.timer.unref();
  }

  private run(row: Parameters<MemoryJobQueue["succeed"]>[0]): void {
    const abort = new AbortController();
    // One signal for everything the job runs at once (a page fetches many messages, each call
    // with its deadline listening): past ten listeners Node would warn of a leak that is not one,
    // since every call removes its listener when it ends.
    setMaxListeners(0, abort.signal);
    const job: Job = {
      id: row.id,
      name: row.name,
      payload: structuredClone(row.payload),
      key: row.key,
      group: row.group,
      attempt: row.attempts,
      maxAttempts: row.maxAttempts,
    };
    const handler = this.handlers[row.name]!;
    const done = (async () => {
      try {
        await handler(job, abort.signal);
        this.queue.succeed(row);
      } catch (error) {
        if (abort.signal.aborted && this.stopped) this.queue.release(row);
        else this.queue.fail(row, error);
      } finally {
        this.running.delete(row.id);
        // A finished job frees a slot, and may unblock a follow-up with the same key.
        queueMicrotask(() => this.wake());
      }
    })();
    this.running.set(row.id, { done, abort });
  }

  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    const timeoutMs = options.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    if ((await Promise.race([all.then(() => "done" as const), timedOut])) === "timeout") {
      for (const r of this.running.values())
        r.abort.abort(new ClientMailError("transient", "The worker stopped"));
      await all;
    }
    clearTimeout(timer);
    this.onStop();
  }
}
