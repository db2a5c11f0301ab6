/**
 * The sync of one mailbox: the public face of the engine's stages — {@link runPass} (lease,
 * cursor, deadline), {@link PageFiler} (decide, fetch, thread, file, quarantine), the after-commit
 * effects, and the {@link RunLoop} (retries, throttling, push and polling).
 */
import type { EventEmitter } from "eventemitter3";
import { ClientMailError } from "../errors.js";
import type { FirmId, MailboxId } from "../domain/model.js";
import type { Clock } from "../ports/clock.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { DocumentSink } from "../ports/document-sink.js";
import type { JobQueue } from "../ports/job-queue.js";
import type { Logger } from "../ports/logger.js";
import type { Metrics } from "../ports/metrics.js";
import type { MailProvider } from "../ports/mail-provider.js";
import type { Store } from "../ports/store.js";
import { loadFirmContext } from "./directory.js";
import type { SyncEvents } from "./events.js";
import { PageFiler, type PageFilingDependencies } from "./page-filing.js";
import { runPass, type PassSettings, type SyncPassResult } from "./pass.js";
import { RunLoop } from "./run-loop.js";
import { sleep, type Sleep } from "../retry/sleep.js";

export type { SyncPassResult } from "./pass.js";
export { loadDirectory } from "./directory.js";
export { safeFilename } from "./after-commit.js";

/** What the engine needs from its host. */
export interface SyncDependencies {
  store: Store;
  clock: Clock;
  logger: Logger;
  /**
   * Where auto-saved attachments go (F9). Without it, attachments are never saved. Saves run as
   * jobs (R8), so it needs `queue` and `blobs` too.
   */
  documents?: DocumentSink | undefined;
  /** Durable jobs (R8): attachment saves are enqueued in the page's transaction. */
  queue?: JobQueue | undefined;
  /** Keeps the original source of every filed message (R11) and stages attachments (F9). */
  blobs?: BlobStore | undefined;
  events?: EventEmitter<SyncEvents> | undefined;
  /**
   * Counters and histograms (messages examined, filed, quarantined; pass duration; queue depth)
   * for the host's Prometheus or OpenTelemetry exporter. Default: none.
   */
  metrics?: Metrics | undefined;
  /** Jitter source; injectable for tests. */
  random?: (() => number) | undefined;
  /** Waits; injectable for tests. Rejects when `signal` aborts. */
  sleep?: Sleep | undefined;
  /**
   * R2 on a queue: each quarantined message's next attempt is enqueued as the mailbox's keyed sync
   * job in the page's transaction (set by workers, whose queue runs those jobs).
   */
  scheduleRetries?: boolean | undefined;
}

/** One mailbox to sync. */
export interface MailboxSyncOptions {
  firmId: FirmId;
  mailboxId: MailboxId;
  provider: MailProvider;
  /** Names this worker in the lease (for operators); the fencing token is what protects writes. */
  holder: string;
  /** Lease length; renewed between pages. Default 2 minutes. */
  leaseTtlMs?: number | undefined;
  /** Consecutive failed passes before the mailbox is stopped as `repeated_failures` (N2). Default 10. */
  maxConsecutiveFailures?: number | undefined;
  /**
   * The longest one pass may run (R3); it then ends as `transient` with nothing partial committed,
   * and the next pass resumes from the last committed page. Default 15 minutes.
   */
  passDeadlineMs?: number | undefined;
  /** Quarantined messages retried per pass, at most (R2). Default 50. */
  quarantineRetryLimit?: number | undefined;
}

/** The defaults of {@link MailboxSyncOptions}. */
export const syncDefaults = {
  leaseTtlMs: 120_000,
  maxConsecutiveFailures: 10,
  passDeadlineMs: 15 * 60_000,
  quarantineRetryLimit: 50,
} as const;

/** Syncs one mailbox. Create one per mailbox and worker; it keeps no state between passes but failure counts. */
export class MailboxSync {
  private readonly deps: PageFilingDependencies & {
    sleep: Sleep;
  };
  private readonly settings: PassSettings;
  private readonly loop: RunLoop;

  constructor(
    deps: SyncDependencies,
    private readonly options: MailboxSyncOptions,
  ) {
    if (deps.documents && (!deps.queue || !deps.blobs)) {
      throw new ClientMailError(
        "validation_failed",
        "Saving attachments needs a job queue and a blob store: pass settings.queue and settings.blobs with settings.documents",
        { details: { option: deps.queue ? "blobs" : "queue" } },
      );
    }
    this.deps = { ...deps, random: deps.random ?? Math.random, sleep: deps.sleep ?? sleep };
    this.settings = {
      holder: options.holder,
      leaseTtlMs: options.leaseTtlMs ?? syncDefaults.leaseTtlMs,
      passDeadlineMs: options.passDeadlineMs ?? syncDefaults.passDeadlineMs,
      quarantineRetryLimit: options.quarantineRetryLimit ?? syncDefaults.quarantineRetryLimit,
    };
    this.loop = new RunLoop(
      this.deps,
      options.firmId,
      options.mailboxId,
      options.maxConsecutiveFailures ?? syncDefaults.maxConsecutiveFailures,
      (signal) => this.syncOnce(signal),
    );
  }

  /**
   * One pass: takes the lease, retries due quarantined messages, applies every page of changes
   * since the saved cursor (a full listing on the first pass or after `cursor_expired`), and marks
   * the mailbox live. Provider failures are thrown to the caller ({@link run} retries them).
   */
  syncOnce(signal?: AbortSignal): Promise<SyncPassResult> {
    return runPass(
      this.deps,
      this.options.provider,
      this.options.firmId,
      this.options.mailboxId,
      this.settings,
      signal,
    );
  }

  /**
   * Y5: files the history with the given client addresses found by the provider's server-side
   * search. Needs no lease: it writes no cursor, and filing is idempotent.
   */
  async backfillAddresses(
    addresses: readonly string[],
    signal?: AbortSignal,
  ): Promise<{ examined: number; filed: number }> {
    const context = await loadFirmContext(this.deps.store, this.options.firmId, this.options.mailboxId);
    const filer = new PageFiler(this.deps, context, this.options.provider);
    let examined = 0;
    let filed = 0;
    for await (const batch of this.options.provider.search({ addresses: [...addresses] }, { signal })) {
      examined += batch.length;
      filed += (await filer.write(await filer.prepare(batch, { signal }), undefined)).filed;
    }
    return { examined, filed };
  }

  /** Runs continuously until `signal` aborts (see {@link RunLoop.run}). */
  async run(signal: AbortSignal, options: { pollIntervalMs?: number } = {}): Promise<void> {
    await this.loop.run(this.options.provider, signal, options.pollIntervalMs ?? 5 * 60_000);
  }

  /** One pass with the retry policy (Y7, R6). Returns `stopped` when the mailbox was stopped. */
  passWithRetry(signal?: AbortSignal): Promise<"ok" | "stopped"> {
    return this.loop.passWithRetry(signal);
  }
}
