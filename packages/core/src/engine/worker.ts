/**
 * Workers: every mailbox's sync as jobs on a JobQueue, so any number of processes share the work
 * (issue "durable work"). A process started with {@link createWorker} takes jobs of every kind:
 *
 * - `sync.mailbox` — one pass of a mailbox (lease, cursor, deadline; R1–R6). The handler applies the
 *   one failure policy of the engine ({@link afterPassFailure}) and schedules the mailbox's next
 *   pass itself: soon after a push hint or a failure, after the poll interval otherwise (the
 *   safety net when push is lost). The consecutive-failure count lives in the mailbox's state, so
 *   it survives a worker's death and is shared by every process.
 * - `backfill.addresses` — T7/Y5: fans out to one `backfill.mailbox` job per synced mailbox, each
 *   retried on its own.
 * - `attachments.save` — F9/R8, see `attachments.ts`.
 *
 * Jobs of one mailbox share a key, so a mailbox is never synced by two workers at once and at most
 * one follow-up waits; jobs are grouped by firm, so one firm's 500 mailboxes cannot starve another
 * firm's one.
 */
import type { FirmId, MailboxId } from "../domain/model.js";
import { ClientMailError } from "../errors.js";
import type { Job, JobHandler, JobQueue, JobWorker, NewJob, QueueStats } from "../ports/job-queue.js";
import type { Store } from "../ports/store.js";
import { codeOf } from "./after-commit.js";
import { saveAttachmentsHandler, saveAttachmentsJob } from "./attachments.js";
import { auditMailbox } from "./audit.js";
import { loadFirmContext } from "./directory.js";
import type { SyncDependencies } from "./mailbox-sync.js";
import { syncDefaults } from "./mailbox-sync.js";
import { PageFiler } from "./page-filing.js";
import { runPass } from "./pass.js";
import { afterPassFailure, applyPassFailure } from "./run-loop.js";
import { ProviderPool, type ProviderPoolSettings } from "./provider-pool.js";

/** Job names the worker handles. */
export const workerJobs = {
  sync: "sync.mailbox",
  audit: "audit.mailbox",
  backfill: "backfill.addresses",
  backfillMailbox: "backfill.mailbox",
  attachments: saveAttachmentsJob,
} as const;

/** Settings of {@link createWorker}. */
export interface WorkerSettings extends SyncDependencies, ProviderPoolSettings {
  /** Every role: passes write through transactions; the pool reads credentials from it. */
  store: Store;
  queue: JobQueue;
  /** Names this process in leases and logs; a random suffix is added. */
  holder: string;
  /** Jobs this process runs at once. Default 4. */
  concurrency?: number | undefined;
  /** The safety net: a mailbox is synced at least this often, push or not. Default 5 minutes. */
  pollIntervalMs?: number | undefined;
  /** How often each mailbox's completeness is audited (R1, R2). Default 24 hours. */
  auditIntervalMs?: number | undefined;
  leaseTtlMs?: number | undefined;
  maxConsecutiveFailures?: number | undefined;
  passDeadlineMs?: number | undefined;
  quarantineRetryLimit?: number | undefined;
  /** How often an idle queue worker looks for due jobs. Default 1 s. */
  queuePollIntervalMs?: number | undefined;
}

/** Health output of a worker process. */
export interface WorkerHealth extends QueueStats {
  /** Providers this process keeps open. */
  openProviders: number;
  running: number;
}

/** A worker process's handle. */
export interface SyncWorker {
  /** Takes jobs, and schedules a pass of every mailbox that is not stopped (idempotent). */
  start(): Promise<void>;
  /** A push hint (Gmail Pub/Sub, Graph notification, IDLE): sync the mailbox soon. */
  requestSync(firmId: FirmId, mailboxId: MailboxId): Promise<void>;
  /** Stops taking jobs; running ones finish (or are released after `timeoutMs`); closes providers. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  health(): Promise<WorkerHealth>;
}

/** The job that runs the next pass of a mailbox. */
export function syncJob(firmId: FirmId, mailboxId: MailboxId, runAt?: Date): NewJob {
  return {
    name: workerJobs.sync,
    payload: { firmId, mailboxId },
    key: `${workerJobs.sync}:${firmId}:${mailboxId}`,
    group: firmId,
    runAt,
    // The handler schedules its own follow-ups; a handler that crashes is retried by the queue.
    maxAttempts: 5,
  };
}

/**
 * T7/Y5: the job that fetches the history with newly synced addresses from every mailbox of the
 * firm. Enqueue it in the transaction that turned email sync on, so no process death loses it.
 */
export function backfillJob(firmId: FirmId, addresses: readonly string[]): NewJob {
  return { name: workerJobs.backfill, payload: { firmId, addresses: [...addresses] }, group: firmId };
}

interface SyncPayload {
  firmId: string;
  mailboxId: string;
}

/** Creates a worker process's sync service over a job queue. */
export function createWorker(settings: WorkerSettings): SyncWorker {
  return new Worker(settings);
}

class Worker implements SyncWorker {
  private readonly pool: ProviderPool;
  private readonly holder: string;
  private jobWorker: JobWorker | undefined;
  private readonly deps: SyncDependencies & { random: () => number };

  constructor(private readonly settings: WorkerSettings) {
    const suffix = new Uint8Array(6);
    globalThis.crypto.getRandomValues(suffix);
    this.holder = `${settings.holder}#${[...suffix].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
    this.pool = new ProviderPool(settings);
    this.deps = { ...settings, random: settings.random ?? Math.random };
  }

  private get store(): Store {
    return this.settings.store;
  }

  async start(): Promise<void> {
    const handlers: Record<string, JobHandler> = {
      [workerJobs.sync]: (job, signal) => this.sync(job, signal),
      [workerJobs.audit]: (job, signal) => this.audit(job, signal),
      [workerJobs.backfill]: (job) => this.fanOutBackfill(job),
      [workerJobs.backfillMailbox]: (job, signal) => this.backfillMailbox(job, signal),
    };
    if (this.settings.documents && this.settings.blobs) {
      handlers[workerJobs.attachments] = saveAttachmentsHandler({
        store: this.store,
        blobs: this.settings.blobs,
        documents: this.settings.documents,
        logger: this.settings.logger,
        events: this.settings.events,
      });
    }
    this.jobWorker = await this.settings.queue.work(handlers, {
      concurrency: this.settings.concurrency ?? 4,
      pollIntervalMs: this.settings.queuePollIntervalMs,
    });
    // Every mailbox that is not stopped gets a pass; keys make this idempotent across processes.
    for (const firmId of await this.store.listFirmIds()) {
      const jobs = (await this.store.listMailboxes(firmId))
        .filter((mailbox) => mailbox.state.status !== "stopped")
        .map((mailbox) => syncJob(firmId, mailbox.id));
      if (jobs.length > 0) await this.settings.queue.enqueue(this.store, jobs);
    }
  }

  async requestSync(firmId: FirmId, mailboxId: MailboxId): Promise<void> {
    await this.settings.queue.enqueue(this.store, [syncJob(firmId, mailboxId)]);
  }

  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    await this.jobWorker?.stop(options);
    this.jobWorker = undefined;
    await this.pool.closeAll();
  }

  async health(): Promise<WorkerHealth> {
    const stats = await this.settings.queue.stats();
    return { ...stats, openProviders: this.pool.size };
  }

  private async sync(job: Job, signal: AbortSignal): Promise<void> {
    const { firmId, mailboxId } = job.payload as unknown as SyncPayload;
    const mailbox = await this.store.getMailbox(firmId, mailboxId);
    if (!mailbox || mailbox.state.status === "stopped") return;
    const now = this.settings.clock.now().getTime();
    const poll = this.settings.pollIntervalMs ?? 5 * 60_000;
    let nextInMs = poll;
    let borrowed: Awaited<ReturnType<ProviderPool["borrow"]>> | undefined;
    try {
      borrowed = await this.pool.borrow(firmId, mailbox);
      const result = await runPass(
        this.deps,
        borrowed.provider,
        firmId,
        mailboxId,
        {
          holder: this.holder,
          leaseTtlMs: this.settings.leaseTtlMs ?? syncDefaults.leaseTtlMs,
          passDeadlineMs: this.settings.passDeadlineMs ?? syncDefaults.passDeadlineMs,
          quarantineRetryLimit: this.settings.quarantineRetryLimit ?? syncDefaults.quarantineRetryLimit,
        },
        signal,
      );
      // Another process holds the mailbox's lease: look again when it should be done.
      if (!result.ran) nextInMs = Math.min(poll, this.settings.leaseTtlMs ?? syncDefaults.leaseTtlMs);
      else await this.scheduleAudit(firmId, mailboxId, mailbox.verification?.at);
    } catch (error) {
      if (signal.aborted) throw error;
      const failuresBefore = mailbox.state.status === "retrying" ? mailbox.state.attempt : 0;
      const next = afterPassFailure(
        error,
        failuresBefore,
        this.settings.maxConsecutiveFailures ?? syncDefaults.maxConsecutiveFailures,
        this.deps.random,
      );
      const wait = await applyPassFailure(this.deps, firmId, mailboxId, next, error);
      if (next.action === "stop") {
        await this.pool.close(firmId, mailboxId);
        return;
      }
      if (ClientMailError.isInstance(error) && error.code !== "rate_limited")
        await this.pool.close(firmId, mailboxId);
      nextInMs = wait;
    } finally {
      await borrowed?.release();
    }
    await this.settings.queue.enqueue(this.store, [syncJob(firmId, mailboxId, new Date(now + nextInMs))]);
  }

  /** Schedules the completeness audit when the last one is older than the interval. */
  private async scheduleAudit(firmId: FirmId, mailboxId: MailboxId, lastAt: Date | undefined): Promise<void> {
    const interval = this.settings.auditIntervalMs ?? 24 * 60 * 60_000;
    const now = this.settings.clock.now().getTime();
    if (lastAt !== undefined && now - lastAt.getTime() < interval) return;
    await this.settings.queue.enqueue(this.store, [
      {
        name: workerJobs.audit,
        payload: { firmId, mailboxId },
        key: `${workerJobs.audit}:${firmId}:${mailboxId}`,
        group: firmId,
      },
    ]);
  }

  private async audit(job: Job, signal: AbortSignal): Promise<void> {
    const { firmId, mailboxId } = job.payload as unknown as SyncPayload;
    const mailbox = await this.store.getMailbox(firmId, mailboxId);
    if (!mailbox || mailbox.state.status === "stopped") return;
    await auditMailbox(this.deps, await this.pool.open(firmId, mailbox), firmId, mailboxId, signal);
  }

  private async fanOutBackfill(job: Job): Promise<void> {
    const { firmId, addresses } = job.payload as unknown as { firmId: string; addresses: string[] };
    const mailboxes = (await this.store.listMailboxes(firmId)).filter((m) => m.state.status !== "stopped");
    if (mailboxes.length === 0) return;
    await this.settings.queue.enqueue(
      this.store,
      mailboxes.map((mailbox) => ({
        name: workerJobs.backfillMailbox,
        payload: { firmId, mailboxId: mailbox.id, addresses },
        group: firmId,
      })),
    );
  }

  /** Y5 in one mailbox; a failure throws, and the queue retries this mailbox alone. */
  private async backfillMailbox(job: Job, signal: AbortSignal): Promise<void> {
    const { firmId, mailboxId, addresses } = job.payload as unknown as SyncPayload & { addresses: string[] };
    const mailbox = await this.store.getMailbox(firmId, mailboxId);
    if (!mailbox || mailbox.state.status === "stopped") return;
    let borrowed: Awaited<ReturnType<ProviderPool["borrow"]>> | undefined;
    try {
      borrowed = await this.pool.borrow(firmId, mailbox);
      const { provider } = borrowed;
      const context = await loadFirmContext(this.store, firmId, mailboxId);
      const filer = new PageFiler(this.deps, context, provider);
      for await (const batch of provider.search({ addresses }, { signal }))
        await filer.write(await filer.prepare(batch, { signal }), undefined);
    } catch (error) {
      this.settings.logger.warn("targeted backfill failed for a mailbox", {
        firmId,
        mailboxId,
        code: codeOf(error),
        attempt: job.attempt,
      });
      throw error;
    } finally {
      await borrowed?.release();
    }
  }
}
