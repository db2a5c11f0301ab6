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
 * - `erasure.files` — R10: an erased contact's documents and message sources, see
 *   `facade/erasure.ts`.
 * - `push.subscribe`, `push.renew` — Gmail watch and Graph subscriptions registered and renewed by
 *   jobs, see `push.ts`; {@link SyncWorker.notifyPush} turns the host's webhook calls into sync
 *   jobs. IMAP mailboxes are pushed by IDLE watchers this process holds, see `idle-watchers.ts`.
 *
 * With a `pacing` (shared by every process), the provider factory receives the mailbox's share of
 * it, so Gmail's per-user quota and Graph's 4 concurrent requests per mailbox hold across
 * processes, not per process.
 * - `outbox.send` — S4, P1–P5: one queued message, effectively once, see `outbox.ts`.
 *
 * Jobs of one mailbox share a key, so a mailbox is never synced by two workers at once and at most
 * one follow-up waits; jobs are grouped by firm, so one firm's 500 mailboxes cannot starve another
 * firm's one.
 */
import { z } from "zod";
import type { FirmId, Mailbox, MailboxId } from "../domain/model.js";
import { parseInput } from "../domain/schemas.js";
import type { MailProvider } from "../ports/mail-provider.js";
import { ClientMailError } from "../errors.js";
import type { Job, JobHandler, JobQueue, JobWorker, NewJob, QueueStats } from "../ports/job-queue.js";
import type { Store } from "../ports/store.js";
import { codeOf } from "./after-commit.js";
import { retry } from "../retry/retry.js";
import { sleep } from "../retry/sleep.js";
import { saveAttachmentsHandler, saveAttachmentsJob } from "./attachments.js";
import { eraseFilesHandler, eraseFilesJob } from "../facade/erasure.js";
import { auditMailbox } from "./audit.js";
import { loadFirmContext } from "./directory.js";
import type { SyncDependencies } from "./mailbox-sync.js";
import { syncDefaults } from "./mailbox-sync.js";
import { PageFiler } from "./page-filing.js";
import { runPass } from "./pass.js";
import { afterPassFailure, applyPassFailure, rateLimitWaitMs } from "./run-loop.js";
import { ProviderPool, type ProviderPoolSettings } from "./provider-pool.js";
import type { MailboxPacing, Pacing } from "../ports/pacing.js";
import { IdleWatchers } from "./idle-watchers.js";
import {
  pushJobs,
  pushSubscribeJob,
  renewPush,
  routePush,
  subscribePush,
  type PushNotification,
  type PushOutcome,
} from "./push.js";
import { invitationHandlers, invitationJobs, type InvitationHandler } from "./invitations.js";
import { syncJob, syncJobName } from "./sync-job.js";

export { syncJob } from "./sync-job.js";
export type { PushNotification, PushOutcome } from "./push.js";
import { outboxSendJob, outboxWorker, type OutboxWorkerSettings } from "./outbox.js";
import { safeCause } from "./error-cause.js";

/** Job names the worker handles. */
export const workerJobs = {
  sync: syncJobName,
  audit: "audit.mailbox",
  backfill: "backfill.addresses",
  backfillMailbox: "backfill.mailbox",
  attachments: saveAttachmentsJob,
  pushSubscribe: pushJobs.subscribe,
  pushRenew: pushJobs.renew,
  outbox: outboxSendJob,
  invitationRequested: invitationJobs.requested,
  invitationInvalidated: invitationJobs.invalidated,
} as const;

/** Settings of {@link createWorker}. */
export interface WorkerSettings
  extends SyncDependencies, Omit<ProviderPoolSettings, "contextFor">, OutboxWorkerSettings {
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
  /**
   * Provider limits shared by every worker process (`createPostgresPacing`, or
   * `createMemoryPacing` in one process): handed to the provider factory per mailbox, and used to
   * place IDLE watchers. Without it, limits and watchers are per process.
   */
  pacing?: Pacing | undefined;
  /** IMAP IDLE watchers this process holds at most (each is a connection). Default 100; 0 turns them off. */
  maxWatchers?: number | undefined;
  /**
   * Providers this process keeps open while no job uses them (each keeps its connection or token
   * and its caches, such as Gmail's message sizes): past it, the least recently used idle ones are
   * closed and reopened on their mailbox's next job (for Gmail a token request, for IMAP a
   * login). Bounds a process's memory however many mailboxes its jobs touch. Default 100.
   */
  maxOpenProviders?: number | undefined;
  /** How long a watcher's slot outlives a dead process: its mailbox is watched elsewhere after this. Default `leaseTtlMs`. */
  watchTtlMs?: number | undefined;
  /**
   * How long a shared request slot outlives a process that died holding it (R8, Y2): the dead
   * process's mailboxes then get their full request capacity back about when their leases expire.
   * A live holder renews its slot every third of this while its request runs, however slow.
   * Default `leaseTtlMs`.
   */
  requestSlotTtlMs?: number | undefined;
  /**
   * T2, T4, R8: the host's side of invitations — sends or withdraws the email for each invitation
   * event that a facade with a queue enqueued. Without it this process does not take invitation
   * jobs (they wait for a worker that has it). At least once: see {@link InvitationHandler}.
   */
  invitations?: InvitationHandler | undefined;
  /**
   * A pass that found changes is followed by another this soon (Y2): providers coalesce or drop
   * pushes that come close together (Gmail sends at most one per user per second), so a change
   * made while a pass ran may never be announced. Default 2 s.
   */
  followUpMs?: number | undefined;
}

/** Health output of a worker process. */
export interface WorkerHealth extends QueueStats {
  /** Providers this process keeps open. */
  openProviders: number;
  running: number;
  /** IMAP IDLE watchers held by this process. */
  watchers: number;
}

/** A worker process's handle. */
export interface SyncWorker {
  /** Takes jobs, and schedules a pass of every mailbox that is not stopped (idempotent). */
  start(): Promise<void>;
  /** A push hint (Gmail Pub/Sub, Graph notification, IDLE): sync the mailbox soon. */
  requestSync(firmId: FirmId, mailboxId: MailboxId): Promise<void>;
  /**
   * What the host's webhook calls with a provider's notification (Y2): a Pub/Sub push for Gmail
   * (verify its OIDC token first), a Graph change or lifecycle notification (answer Graph's
   * `validationToken` handshake yourself). Items that name a registration this firm recorded, with
   * the right secret, bring that mailbox's sync forward; anything else is counted as ignored and
   * changes nothing. Throws a ValidationError for a bad `firmId` or provider only.
   */
  notifyPush(firmId: FirmId, notification: PushNotification): Promise<PushOutcome>;
  /** Stops taking jobs; running ones finish (or are released after `timeoutMs`); closes providers. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  health(): Promise<WorkerHealth>;
}

/**
 * T7/Y5: the job that fetches the history with newly synced addresses from every mailbox of the
 * firm. Enqueue it in the transaction that turned email sync on, so no process death loses it.
 */
export function backfillJob(firmId: FirmId, addresses: readonly string[]): NewJob {
  return { name: workerJobs.backfill, payload: { firmId, addresses: [...addresses] }, group: firmId };
}

/** Y2: the start-up enqueue, tried again after a transient database failure (see `enqueueAtStart`). */
const startEnqueueRetry = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 2_000, maxWaitMs: 2_000 } as const;

/**
 * A lease held by another process that runs out within this is waited for inside the sync job;
 * a longer one brings the job back this long before it runs out (the queue's poll interval may
 * delay it by up to its own length, 1 s by default).
 */
const leaseWaitMs = 1_000;
/** A held lease is looked at again no sooner than this: a live holder's renewals cannot spin a worker. */
const leaseRecheckMinMs = 100;
/** Added to a held lease's remaining time before taking it. */
const leaseRecheckMarginMs = 5;

interface SyncPayload {
  firmId: string;
  mailboxId: string;
}

const workerLimitsSchema = z.object({
  maxOpenProviders: z.number().int().min(1, "at least 1").optional(),
});

/** Creates a worker process's sync service over a job queue. */
export function createWorker(settings: WorkerSettings): SyncWorker {
  parseInput(workerLimitsSchema, { maxOpenProviders: settings.maxOpenProviders });
  return new Worker(settings);
}

class Worker implements SyncWorker {
  private readonly pool: ProviderPool;
  private readonly holder: string;
  private jobWorker: JobWorker | undefined;
  private outbox: ReturnType<typeof outboxWorker>;
  private readonly deps: SyncDependencies & { random: () => number };
  private readonly watchers: IdleWatchers;
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly settings: WorkerSettings) {
    const suffix = new Uint8Array(6);
    globalThis.crypto.getRandomValues(suffix);
    this.holder = `${settings.holder}#${[...suffix].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
    this.pool = new ProviderPool({
      ...settings,
      maxOpenProviders: settings.maxOpenProviders ?? 100,
      contextFor: (firmId, mailbox) => ({ pacing: this.mailboxPacing(firmId, mailbox) }),
    });
    // R2: a quarantined message's next attempt is a keyed sync job, enqueued with the entry.
    this.deps = { ...settings, random: settings.random ?? Math.random, scheduleRetries: true };
    this.watchers = new IdleWatchers({
      max: settings.maxWatchers ?? 100,
      ttlMs: settings.watchTtlMs ?? settings.leaseTtlMs ?? syncDefaults.leaseTtlMs,
      pacing: settings.pacing,
      logger: settings.logger,
      open: (firmId, mailbox) => this.pool.dedicated(firmId, mailbox),
      onChange: (firmId, mailboxId) => this.track(this.requestSync(firmId, mailboxId)),
    });
  }

  /**
   * S1–S6: how this process opens a mailbox's sender: the override when given, else the host's
   * sender factory with the mailbox's decrypted credentials and its share of the shared pacing
   * (the same as its provider gets). Undefined when this process cannot send.
   */
  private senderFor(): OutboxWorkerSettings["senderFor"] {
    const { senderFor, senderFactory } = this.settings;
    if (senderFor) return senderFor;
    if (!senderFactory) return undefined;
    return (firmId, mailbox) => this.pool.openSender(firmId, mailbox, senderFactory);
  }

  /** The mailbox's share of the shared pacing, keyed by its provider account. */
  private mailboxPacing(firmId: FirmId, mailbox: Mailbox): MailboxPacing | undefined {
    const pacing = this.settings.pacing;
    if (!pacing) return undefined;
    const key = `${mailbox.provider}:${mailbox.address}`;
    const ttlMs = this.settings.requestSlotTtlMs ?? this.settings.leaseTtlMs ?? syncDefaults.leaseTtlMs;
    const logger = this.settings.logger;
    return {
      take: (units, budget, signal) => pacing.take(firmId, key, units, budget, signal),
      acquire: async (weight, capacity, signal) => {
        const slot = await pacing.acquire(firmId, key, weight, { capacity, ttlMs }, signal);
        // A slow request keeps its slot; only a dead process's slots run out.
        const renewal = setInterval(() => {
          slot.renew().catch((error: unknown) => {
            logger.warn("a shared request slot could not be renewed", { firmId, code: codeOf(error) });
          });
        }, ttlMs / 3);
        renewal.unref?.();
        return () => {
          clearInterval(renewal);
          slot.release().catch((error: unknown) => {
            // The slot expires on its own after ttlMs.
            logger.warn("a shared request slot could not be released", { firmId, code: codeOf(error) });
          });
        };
      },
    };
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => {
      this.settings.logger.warn("worker background work failed", {
        code: codeOf(error),
        cause: safeCause(error),
      });
    });
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }

  private get store(): Store {
    return this.settings.store;
  }

  async start(): Promise<void> {
    const handlers: Record<string, JobHandler> = {
      [workerJobs.sync]: (job, signal) => this.sync(job, signal),
      [workerJobs.audit]: this.waitingOutRateLimits("completeness audit", (job, signal) =>
        this.audit(job, signal),
      ),
      [workerJobs.backfill]: (job) => this.fanOutBackfill(job),
      [workerJobs.backfillMailbox]: this.waitingOutRateLimits("targeted backfill", (job, signal) =>
        this.backfillMailbox(job, signal),
      ),
      [workerJobs.pushSubscribe]: this.waitingOutRateLimits("push subscription", (job, signal) =>
        this.subscribePush(job, signal),
      ),
      [workerJobs.pushRenew]: this.waitingOutRateLimits("push renewal", (job, signal) =>
        this.renewPush(job, signal),
      ),
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
    // R10: an erased contact's documents and sources, deleted with whichever of the two this has.
    if (this.settings.documents || this.settings.blobs) {
      handlers[eraseFilesJob] = eraseFilesHandler({
        documents: this.settings.documents,
        blobs: this.settings.blobs,
        logger: this.settings.logger,
      });
    }
    if (this.settings.invitations)
      Object.assign(
        handlers,
        invitationHandlers({
          store: this.store,
          logger: this.settings.logger,
          deliver: this.settings.invitations,
        }),
      );
    // S4: queued messages, when this process can open senders.
    this.outbox = outboxWorker({ ...this.settings, holder: this.holder, senderFor: this.senderFor() });
    if (this.outbox) handlers[workerJobs.outbox] = this.outbox.handler;
    this.jobWorker = await this.settings.queue.work(handlers, {
      concurrency: this.settings.concurrency ?? 4,
      pollIntervalMs: this.settings.queuePollIntervalMs,
    });
    // Every mailbox that is not stopped gets a pass; keys make this idempotent across processes.
    for (const firmId of await this.store.listFirmIds()) {
      const jobs = (await this.store.listMailboxes(firmId))
        .filter((mailbox) => mailbox.state.status !== "stopped")
        .map((mailbox) => syncJob(firmId, mailbox.id));
      if (jobs.length > 0) await this.enqueueAtStart(jobs);
    }
  }

  /**
   * Y2, R8: workers starting together enqueue the same keys while others already run them; the
   * database may end such a race with a deadlock or a serialization failure. Both are transient,
   * so the enqueue is tried again (it is idempotent by key) instead of failing the start.
   */
  private async enqueueAtStart(jobs: readonly NewJob[]): Promise<void> {
    await retry(() => this.settings.queue.enqueue(this.store, jobs), {
      policy: startEnqueueRetry,
      sleep: this.settings.sleep ?? sleep,
      random: this.deps.random,
    });
  }

  async requestSync(firmId: FirmId, mailboxId: MailboxId): Promise<void> {
    await this.settings.queue.enqueue(this.store, [syncJob(firmId, mailboxId)]);
  }

  notifyPush(firmId: FirmId, notification: PushNotification): Promise<PushOutcome> {
    return routePush(this.pushDeps(), firmId, notification);
  }

  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    // Watchers first: their slots go back at once, so the next pass elsewhere takes them over.
    await this.watchers.stopAll();
    await this.jobWorker?.stop(options);
    this.jobWorker = undefined;
    while (this.background.size > 0) await Promise.all([...this.background]);
    await this.outbox?.close();
    await this.pool.closeAll();
  }

  async health(): Promise<WorkerHealth> {
    const stats = await this.settings.queue.stats();
    this.settings.metrics?.gauge("clientmail_queue_depth", stats.waiting, {});
    return { ...stats, openProviders: this.pool.size, watchers: this.watchers.size };
  }

  private pushDeps() {
    return {
      store: this.store,
      queue: this.settings.queue,
      logger: this.settings.logger,
      clock: this.settings.clock,
    };
  }

  private async subscribePush(job: Job, signal: AbortSignal): Promise<void> {
    const { firmId, mailboxId, replacing } = job.payload as unknown as SyncPayload & {
      replacing?: { id: string; resource: string }[];
    };
    const mailbox = await this.store.getMailbox(firmId, mailboxId);
    if (!mailbox || mailbox.state.status === "stopped") return;
    const borrowed = await this.pool.borrow(firmId, mailbox);
    try {
      await subscribePush(this.pushDeps(), borrowed.provider, firmId, mailboxId, signal, replacing ?? []);
    } finally {
      await borrowed.release();
    }
  }

  private async renewPush(job: Job, signal: AbortSignal): Promise<void> {
    const { firmId, mailboxId, subscriptionId } = job.payload as unknown as SyncPayload & {
      subscriptionId: string;
    };
    const mailbox = await this.store.getMailbox(firmId, mailboxId);
    const live = mailbox !== undefined && mailbox.state.status !== "stopped";
    const borrowed = live ? await this.pool.borrow(firmId, mailbox) : undefined;
    try {
      await renewPush(this.pushDeps(), borrowed?.provider, firmId, subscriptionId, signal);
    } finally {
      await borrowed?.release();
    }
  }

  /** After a pass that ran here: IDLE for IMAP, push registration for the others when none is recorded. */
  private async afterPass(firmId: FirmId, mailbox: Mailbox, provider: MailProvider): Promise<void> {
    if (mailbox.provider === "imap") {
      if ((this.settings.maxWatchers ?? 100) > 0) this.track(this.watchers.ensure(firmId, mailbox));
      return;
    }
    if (provider.push && (await this.store.listPushRegistrations(firmId, mailbox.id)).length === 0)
      await this.settings.queue.enqueue(this.store, [pushSubscribeJob(firmId, mailbox.id)]);
  }

  private async sync(job: Job, signal: AbortSignal): Promise<void> {
    const { firmId, mailboxId } = job.payload as unknown as SyncPayload;
    const mailbox = await this.store.getMailbox(firmId, mailboxId);
    if (!mailbox || mailbox.state.status === "stopped") return;
    const now = this.settings.clock.now().getTime();
    const poll = this.settings.pollIntervalMs ?? 5 * 60_000;
    let nextInMs = poll;
    let scheduleFrom = now;
    let borrowed: Awaited<ReturnType<ProviderPool["borrow"]>> | undefined;
    try {
      borrowed = await this.pool.borrow(firmId, mailbox);
      const provider = borrowed.provider;
      const pass = () =>
        runPass(
          this.deps,
          provider,
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
      let result = await pass();
      // Another process holds the mailbox's lease. It may be running a pass, or it may be dead
      // (killed mid-pass): the mailbox is taken the moment the lease expires (R8, Y2), at most a
      // lease TTL after the holder's last renewal. A lease that runs out within moments is waited
      // for here; a longer one brings this job back just before it runs out. The remaining time
      // is read on the store's clock, so the clocks of the processes do not matter.
      let left: number | undefined;
      if (!result.ran) {
        left = await this.store.leaseRemainingMs(firmId, mailboxId);
        if (left === undefined || left <= leaseWaitMs) {
          await (this.settings.sleep ?? sleep)((left ?? 0) + leaseRecheckMarginMs, signal);
          result = await pass();
          // Taken again meanwhile (a live holder renewed, or another worker took it over).
          if (!result.ran) left = await this.store.leaseRemainingMs(firmId, mailboxId);
        }
      }
      if (!result.ran) {
        nextInMs = Math.min(poll, Math.max(leaseRecheckMinMs, (left ?? 0) - leaseWaitMs));
        scheduleFrom = this.settings.clock.now().getTime();
      } else {
        if (result.examined > 0) nextInMs = Math.min(poll, this.settings.followUpMs ?? 2_000);
        await this.scheduleAudit(firmId, mailboxId, mailbox.verification?.at);
        await this.afterPass(firmId, mailbox, borrowed.provider);
      }
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
        await this.watchers.stop(firmId, mailboxId);
        await this.pool.close(firmId, mailboxId);
        return;
      }
      if (ClientMailError.isInstance(error) && error.code !== "rate_limited")
        await this.pool.close(firmId, mailboxId);
      nextInMs = wait;
    } finally {
      await borrowed?.release();
    }
    await this.settings.queue.enqueue(this.store, [
      syncJob(firmId, mailboxId, new Date(scheduleFrom + nextInMs)),
    ]);
    await this.reportQueueDepth();
  }

  private queueDepthAt = Number.NEGATIVE_INFINITY;

  /** The queue's depth for the host's metrics, at most every 10 s per process (one count query). */
  private async reportQueueDepth(): Promise<void> {
    const metrics = this.settings.metrics;
    const now = this.settings.clock.now().getTime();
    if (!metrics || now - this.queueDepthAt < 10_000) return;
    this.queueDepthAt = now;
    try {
      metrics.gauge("clientmail_queue_depth", (await this.settings.queue.stats()).waiting, {});
    } catch (error) {
      this.settings.logger.warn("queue depth unavailable", { code: codeOf(error) });
    }
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

  /** R1, R2: the completeness audit of one mailbox. */
  private async audit(job: Job, signal: AbortSignal): Promise<void> {
    const { firmId, mailboxId } = job.payload as unknown as SyncPayload;
    const mailbox = await this.store.getMailbox(firmId, mailboxId);
    if (!mailbox || mailbox.state.status === "stopped") return;
    // Borrowed, like a pass's: a pass failing meanwhile asks for a fresh connection, and a
    // borrowed provider is closed only once the audit gives it back.
    const borrowed = await this.pool.borrow(firmId, mailbox);
    try {
      await auditMailbox(this.deps, borrowed.provider, firmId, mailboxId, signal);
    } finally {
      await borrowed.release();
    }
  }

  /**
   * R6: a provider's rate limit is not a failure of a mailbox's job. The job is enqueued again
   * (same name, payload, key, group and attempts) for when the provider allows it, and this run
   * ends without failing, so no storm can use up its attempts and dead-letter it. Any other
   * error is the queue's to retry.
   */
  private waitingOutRateLimits(what: string, handler: JobHandler): JobHandler {
    return async (job, signal) => {
      try {
        await handler(job, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        const waitMs = rateLimitWaitMs(error, this.deps.random);
        if (waitMs === undefined) throw error;
        const { firmId, mailboxId } = job.payload as unknown as SyncPayload;
        this.settings.logger.info(`${what} waits for the provider's rate limit`, {
          firmId,
          mailboxId,
          waitMs,
        });
        await this.settings.queue.enqueue(this.store, [
          {
            name: job.name,
            payload: job.payload,
            key: job.key,
            group: job.group,
            maxAttempts: job.maxAttempts,
            runAt: new Date(this.settings.clock.now().getTime() + waitMs),
          },
        ]);
      }
    };
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

  /**
   * Y5 in one mailbox; a failure throws, and the queue retries this mailbox alone. A rate limit
   * is not a failure (R6, see {@link waitingOutRateLimits}).
   */
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
      // A rate limit is logged by the wrapper, which enqueues the backfill again.
      if (ClientMailError.hasCode(error, "rate_limited")) throw error;
      this.settings.logger.warn("targeted backfill failed for a mailbox", {
        firmId,
        mailboxId,
        code: codeOf(error),
        cause: safeCause(error),
        attempt: job.attempt,
      });
      throw error;
    } finally {
      await borrowed?.release();
    }
  }
}
