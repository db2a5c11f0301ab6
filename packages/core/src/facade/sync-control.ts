/**
 * The sync attached to the facade (`cm.sync`, `cm.start()`, `cm.close()`): one SyncService for
 * on-demand work (a pass, a targeted backfill, an audit, stopping a mailbox), and — once started —
 * the mailboxes followed in this process. With a JobQueue, starting runs a worker
 * ({@link createWorker}) that takes every durable job (passes, backfills, attachment saves,
 * erasure, outbox); without one, each mailbox that is not stopped is followed by a loop of its own
 * (push where offered, polling otherwise). T7/Y5 backfills are wired inside either way: a job
 * enqueued in the toggle's transaction with a queue, a backfill run after the commit without one.
 */
import type { EventEmitter } from "eventemitter3";
import { z } from "zod";
import { ClientMailError } from "../errors.js";
import type { FirmId, Mailbox, MailboxId, MemberId } from "../domain/model.js";
import { emailSchema, idSchema, parseInput } from "../domain/schemas.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { Clock } from "../ports/clock.js";
import type { DocumentSink } from "../ports/document-sink.js";
import type { JobQueue } from "../ports/job-queue.js";
import type { Keyring } from "../ports/keyring.js";
import type { Logger } from "../ports/logger.js";
import type { MailProvider } from "../ports/mail-provider.js";
import type { Pacing } from "../ports/pacing.js";
import type { Store } from "../ports/store.js";
import type { Metrics } from "../ports/metrics.js";
import type { SyncEvents } from "../engine/events.js";
import type { SyncPassResult } from "../engine/pass.js";
import type { InvitationHandler } from "../engine/invitations.js";
import type { ProviderContext, ProviderFactory, SenderFactory } from "../engine/provider-pool.js";
import { SyncService, type BackfillOutcome } from "../engine/sync-service.js";
import {
  createWorker,
  type PushNotification,
  type PushOutcome,
  type SyncWorker,
  type WorkerHealth,
} from "../engine/worker.js";
import { codeOf } from "../engine/after-commit.js";
import { routePush } from "../engine/push.js";
import { safeCause } from "../engine/error-cause.js";

/**
 * How the facade opens a mailbox's provider: one factory for every mailbox, or one per provider
 * kind (`{ imap: ..., gmail: ..., graph: ... }`). A factory receives the mailbox, its decrypted
 * credentials (what was given to `connectMailbox`) and the worker's context (shared pacing).
 */
export type ProvidersSetting = ProviderFactory | Partial<Record<Mailbox["provider"], ProviderFactory>>;

/** A mailbox's sender (S1–S6) from its decrypted credentials: one factory, or one per provider kind. */
export type SendersSetting = SenderFactory | Partial<Record<Mailbox["provider"], SenderFactory>>;

/** Tuning of the attached sync (`settings.sync` of `createClientMail`); every field is optional. */
export const syncOptionsSchema = z.strictObject({
  /** Names this process in leases and logs; a random suffix is added. Default `"clientmail"`. */
  holder: z.string().trim().min(1, "a non-empty name").max(200, "at most 200 characters").optional(),
  /** The safety net: each mailbox is synced at least this often, push or not. Default 5 minutes. */
  pollIntervalMs: z.number().int().min(100, "at least 100 ms").max(86_400_000, "at most a day").optional(),
  /** Jobs this process runs at once (with a queue). Default 4. */
  concurrency: z.number().int().min(1, "at least 1").max(256, "at most 256").optional(),
  /** Consecutive failed passes before a mailbox is stopped (N2). Default 10. */
  maxConsecutiveFailures: z.number().int().min(1, "at least 1").max(1000, "at most 1000").optional(),
  /** The longest one pass may run (R3). Default 15 minutes. */
  passDeadlineMs: z.number().int().min(1000, "at least 1000 ms").optional(),
  /** Lease length of a mailbox's pass. Default 2 minutes. */
  leaseTtlMs: z.number().int().min(1000, "at least 1000 ms").optional(),
  /** IMAP IDLE watchers this process holds at most (with a queue). Default 100; 0 turns them off. */
  maxWatchers: z.number().int().min(0, "0 or more").optional(),
  /** Providers this process keeps open while no job uses them (with a queue). Default 100. */
  maxOpenProviders: z.number().int().min(1, "at least 1").optional(),
  /** Provider limits shared by every worker process (`createPostgresPacing`). */
  pacing: z
    .custom<Pacing>(
      (value) =>
        typeof value === "object" &&
        value !== null &&
        typeof (value as Pacing).take === "function" &&
        typeof (value as Pacing).acquire === "function",
      { error: "a Pacing (take, acquire)" },
    )
    .optional(),
});
/** See {@link syncOptionsSchema}. */
export type SyncOptions = z.input<typeof syncOptionsSchema>;

/** What the attached sync is built from (the facade's settings). */
export interface SyncControlSettings {
  store: Store;
  keyring: Keyring | undefined;
  providers: ProvidersSetting | undefined;
  senders: SendersSetting | undefined;
  invitations: InvitationHandler | undefined;
  queue: JobQueue | undefined;
  blobs: BlobStore | undefined;
  documents: DocumentSink | undefined;
  metrics: Metrics | undefined;
  clock: Clock;
  logger: Logger;
  events: EventEmitter<SyncEvents>;
  options: SyncOptions | undefined;
}

const idsSchema = z.strictObject({
  firmId: idSchema,
  mailboxId: idSchema.optional(),
  by: idSchema.optional(),
});
const addressesSchema = z
  .array(emailSchema)
  .min(1, "at least one address")
  .max(1000, "at most 1000 addresses");

/** Checks the ids a sync call names (a ValidationError lists each bad one). */
function checkIds(ids: { firmId: unknown; mailboxId?: unknown; by?: unknown }): void {
  parseInput(idsSchema, Object.fromEntries(Object.entries(ids).filter(([, v]) => v !== undefined)));
}

/** One factory over a per-kind map: a kind without a factory is `unsupported`, naming the setting. */
export function providerFactory(providers: ProvidersSetting): ProviderFactory {
  return byKind(providers, "providers");
}

/** One sender factory from the `senders` setting: the per-kind one for each mailbox. */
export function senderFactoryFrom(senders: SendersSetting): SenderFactory {
  return byKind(senders, "senders");
}

function byKind<
  F extends (mailbox: Mailbox, credentials: string | undefined, context?: ProviderContext) => unknown,
>(setting: F | Partial<Record<Mailbox["provider"], F>>, option: "providers" | "senders"): F {
  if (typeof setting === "function") return setting;
  return ((mailbox: Mailbox, credentials: string | undefined, context?: ProviderContext) => {
    const factory = setting[mailbox.provider];
    if (!factory)
      throw new ClientMailError(
        "unsupported",
        `No ${option === "providers" ? "provider" : "sender"} for ${mailbox.provider} mailboxes: pass settings.${option}.${mailbox.provider}`,
        { details: { option: `${option}.${mailbox.provider}` } },
      );
    return factory(mailbox, credentials, context);
  }) as F;
}

/**
 * Mailbox sync control, as `cm.sync`. Every call needs `providers` in the facade's settings;
 * without them it is `unsupported`, naming the setting.
 */
export class ClientMailSync {
  private readonly service: SyncService | undefined;
  private readonly options: z.output<typeof syncOptionsSchema>;
  private worker: SyncWorker | undefined;
  /** Without a queue: the loop following each mailbox, by firm and mailbox. */
  private readonly loops = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly background = new Set<Promise<void>>();
  private started = false;

  constructor(private readonly settings: SyncControlSettings) {
    this.options = parseInput(syncOptionsSchema, settings.options ?? {}, "sync");
    if (settings.providers !== undefined)
      this.service = new SyncService({
        ...this.dependencies(),
        holder: this.options.holder ?? "clientmail",
        providerFor: providerFactory(settings.providers),
        leaseTtlMs: this.options.leaseTtlMs,
        maxConsecutiveFailures: this.options.maxConsecutiveFailures,
        passDeadlineMs: this.options.passDeadlineMs,
      });
  }

  /** True between {@link start} and {@link close}. */
  get running(): boolean {
    return this.started;
  }

  /** One sync pass of a mailbox with the retry policy (Y7); "stopped" when it was stopped (N2). */
  async syncMailbox(firmId: FirmId, mailboxId: MailboxId, signal?: AbortSignal): Promise<"ok" | "stopped"> {
    checkIds({ firmId, mailboxId });
    return this.requireService().syncMailbox(firmId, mailboxId, signal);
  }

  /** One pass without retries: failures are thrown. */
  async syncOnce(firmId: FirmId, mailboxId: MailboxId, signal?: AbortSignal): Promise<SyncPassResult> {
    checkIds({ firmId, mailboxId });
    return this.requireService().syncOnce(firmId, mailboxId, signal);
  }

  /** Y5/T7: fetches the history with these addresses from every mailbox of the firm now. */
  async backfillAddresses(
    firmId: FirmId,
    addresses: readonly string[],
    signal?: AbortSignal,
  ): Promise<BackfillOutcome[]> {
    checkIds({ firmId });
    const normalized = parseInput(addressesSchema, addresses, "addresses");
    return this.requireService().backfillAddresses(firmId, normalized, signal);
  }

  /** R1/R2: the completeness audit of a mailbox. */
  async auditMailbox(firmId: FirmId, mailboxId: MailboxId, signal?: AbortSignal) {
    checkIds({ firmId, mailboxId });
    return this.requireService().auditMailbox(firmId, mailboxId, signal);
  }

  /** Y4: stops sync of a mailbox; its credentials are deleted and filed mail stays. */
  async stopSync(firmId: FirmId, mailboxId: MailboxId, by: MemberId): Promise<{ warning: string }> {
    checkIds({ firmId, mailboxId, by });
    const service = this.requireService();
    await this.stopLoop(firmId, mailboxId);
    return service.stopSync(firmId, mailboxId, by);
  }

  /**
   * Brings a mailbox's next pass forward (a push hint): a job with a queue; without one, the
   * mailbox's loop is started if it is not running yet, else a pass runs now.
   */
  async requestSync(firmId: FirmId, mailboxId: MailboxId): Promise<void> {
    checkIds({ firmId, mailboxId });
    this.requireService();
    if (this.worker) return this.worker.requestSync(firmId, mailboxId);
    if (this.started) {
      if (!this.loops.has(`${firmId}\u0000${mailboxId}`)) return this.follow(firmId, mailboxId);
    }
    this.track(
      this.requireService()
        .syncMailbox(firmId, mailboxId)
        .then(() => undefined),
      { firmId, mailboxId },
    );
  }

  /**
   * Y2: a provider's push notification from the host's webhook, turned into the mailbox's keyed
   * sync job. Needs a queue; the process need not run workers ({@link start}), so an API-only
   * process routes pushes to the workers of others.
   */
  async notifyPush(firmId: FirmId, notification: PushNotification): Promise<PushOutcome> {
    this.requireService();
    if (this.worker) return this.worker.notifyPush(firmId, notification);
    const { store, queue, logger, clock } = this.settings;
    if (!queue)
      throw new ClientMailError(
        "unsupported",
        "Push notifications are routed to the workers' queue: pass settings.queue",
        { details: { option: "queue" } },
      );
    return routePush({ store, queue, logger, clock }, firmId, notification);
  }

  /** The provider kept open for a mailbox by on-demand calls, if any (for push routing by hand). */
  openProvider(firmId: FirmId, mailboxId: MailboxId): MailProvider | undefined {
    return this.service?.openProvider(firmId, mailboxId);
  }

  /** The queue's and this process's state (with a queue), or the loops running (without). */
  async health(): Promise<WorkerHealth | { loops: number; running: boolean }> {
    if (this.worker) return this.worker.health();
    return { loops: this.loops.size, running: this.started };
  }

  /** Internal: the facade asks for a backfill after a commit (no queue). Awaited by {@link close}. */
  backfillInBackground(firmId: FirmId, addresses: readonly string[]): void {
    if (!this.service) return;
    this.track(
      this.service.backfillAddresses(firmId, addresses).then(() => undefined),
      { firmId },
    );
  }

  /** Internal: a mailbox was connected; follow it when running without a queue. */
  mailboxConnected(firmId: FirmId, mailboxId: MailboxId): void {
    if (this.started && !this.worker && this.service) void this.follow(firmId, mailboxId);
  }

  /** Starts following every mailbox that is not stopped, in this process. Idempotent. */
  async start(): Promise<void> {
    this.requireService();
    if (this.started) return;
    this.started = true;
    const queue = this.settings.queue;
    if (queue) {
      this.worker = createWorker({
        ...this.dependencies(),
        queue,
        holder: this.options.holder ?? "clientmail",
        providerFor: providerFactory(this.settings.providers!),
        senderFactory: this.settings.senders && senderFactoryFrom(this.settings.senders),
        invitations: this.settings.invitations,
        concurrency: this.options.concurrency,
        pollIntervalMs: this.options.pollIntervalMs,
        leaseTtlMs: this.options.leaseTtlMs,
        maxConsecutiveFailures: this.options.maxConsecutiveFailures,
        passDeadlineMs: this.options.passDeadlineMs,
        maxWatchers: this.options.maxWatchers,
        maxOpenProviders: this.options.maxOpenProviders,
        pacing: this.options.pacing,
      });
      await this.worker.start();
      return;
    }
    for (const firmId of await this.settings.store.listFirmIds())
      for (const mailbox of await this.settings.store.listMailboxes(firmId))
        if (mailbox.state.status !== "stopped") await this.follow(firmId, mailbox.id);
  }

  /**
   * Stops everything this facade started — workers, loops, backfills running in the background —
   * and closes every provider it opened, so the process can exit. The store, queue and pool the
   * host passed in stay the host's to close. Idempotent.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.started = false;
    const worker = this.worker;
    this.worker = undefined;
    await worker?.stop(options);
    for (const [, loop] of this.loops) loop.abort.abort(new ClientMailError("transient", "closing"));
    await Promise.all([...this.loops.values()].map((loop) => loop.done));
    this.loops.clear();
    while (this.background.size > 0) await Promise.all([...this.background]);
    await this.service?.closeAll();
  }

  private async follow(firmId: FirmId, mailboxId: MailboxId): Promise<void> {
    const key = `${firmId}\u0000${mailboxId}`;
    if (this.loops.has(key)) return;
    const abort = new AbortController();
    const done = this.requireService()
      .runMailbox(firmId, mailboxId, abort.signal, { pollIntervalMs: this.options.pollIntervalMs })
      .catch((error: unknown) => {
        if (abort.signal.aborted) return;
        this.settings.logger.warn("following a mailbox ended with an error", {
          firmId,
          mailboxId,
          code: codeOf(error),
          cause: safeCause(error),
        });
      })
      .finally(() => {
        if (this.loops.get(key)?.abort === abort) this.loops.delete(key);
      });
    this.loops.set(key, { abort, done });
  }

  private async stopLoop(firmId: FirmId, mailboxId: MailboxId): Promise<void> {
    const key = `${firmId}\u0000${mailboxId}`;
    const loop = this.loops.get(key);
    if (!loop) return;
    loop.abort.abort(new ClientMailError("transient", "sync stopped"));
    await loop.done;
  }

  private track(work: Promise<void>, fields: Record<string, unknown>): void {
    const tracked = work.catch((error: unknown) => {
      this.settings.logger.warn("background sync work failed", {
        ...fields,
        code: codeOf(error),
        cause: safeCause(error),
      });
    });
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }

  private dependencies() {
    const { store, keyring, queue, blobs, documents, metrics, clock, logger, events } = this.settings;
    return { store, keyring, queue, blobs, documents, metrics, clock, logger, events };
  }

  private requireService(): SyncService {
    if (!this.service)
      throw new ClientMailError(
        "unsupported",
        "Sync needs providers: pass settings.providers to createClientMail (one factory, or one per provider kind)",
        { details: { option: "providers" } },
      );
    return this.service;
  }
}
