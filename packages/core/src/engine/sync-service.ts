/**
 * The firm-level side of sync: opens a provider for each mailbox from its encrypted credentials,
 * runs passes, backfills newly synced client addresses across every connected mailbox (Y5), and
 * stops sync on request (Y4).
 */
import { ClientMailError, NotFoundError } from "../errors.js";
import type { FirmId, MailboxId, MemberId } from "../domain/model.js";
import type { MailProvider } from "../ports/mail-provider.js";
import type { Store } from "../ports/store.js";
import { MailboxSync, type SyncDependencies, type SyncPassResult } from "./mailbox-sync.js";
import { ProviderPool, type ProviderPoolSettings } from "./provider-pool.js";
import { auditMailbox } from "./audit.js";
import { storeCredentials } from "./credentials.js";
import { safeCause } from "./error-cause.js";

export type { ProviderFactory } from "./provider-pool.js";

export interface SyncServiceSettings extends SyncDependencies, ProviderPoolSettings {
  /** Every role: passes write through transactions; the pool reads credentials from it. */
  store: Store;
  /**
   * Names this worker in leases (for operators). Each SyncService adds its own random suffix, so
   * two processes configured with the same name never share a lease.
   */
  holder: string;
  leaseTtlMs?: number | undefined;
  /** Consecutive failed passes before a mailbox is stopped (N2). Default 10. */
  maxConsecutiveFailures?: number | undefined;
  /** The longest one sync pass may run (R3). Default 15 minutes. */
  passDeadlineMs?: number | undefined;
}

/** The outcome of a targeted backfill in one mailbox (Y5). */
export interface BackfillOutcome {
  mailboxId: MailboxId;
  examined: number;
  filed: number;
  /** Set when this mailbox could not be searched; the others still were. */
  error?: string | undefined;
}

/** Runs sync for the mailboxes of any firm. One instance per worker process. */
export class SyncService {
  private readonly syncs = new Map<string, { sync: MailboxSync; provider: MailProvider }>();
  private readonly holder: string;
  private readonly pool: ProviderPool;

  constructor(private readonly settings: SyncServiceSettings) {
    const suffix = new Uint8Array(6);
    globalThis.crypto.getRandomValues(suffix);
    this.holder = `${settings.holder}#${[...suffix].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
    this.pool = new ProviderPool(settings);
  }

  /** Encrypts and stores a mailbox's credentials (only ciphertext reaches the store). */
  async storeCredentials(firmId: FirmId, mailboxId: MailboxId, secret: string): Promise<void> {
    await storeCredentials(this.settings.store, this.settings.keyring, firmId, mailboxId, secret);
  }

  /** One sync pass of a mailbox with the retry policy (Y7). */
  async syncMailbox(firmId: FirmId, mailboxId: MailboxId, signal?: AbortSignal): Promise<"ok" | "stopped"> {
    const { sync } = await this.open(firmId, mailboxId);
    return sync.passWithRetry(signal);
  }

  /** One pass without retries: failures are thrown (for callers with their own job retries). */
  async syncOnce(firmId: FirmId, mailboxId: MailboxId, signal?: AbortSignal): Promise<SyncPassResult> {
    const { sync } = await this.open(firmId, mailboxId);
    return sync.syncOnce(signal);
  }

  /**
   * The completeness audit of a mailbox (R1, R2): lists it again (headers only), files or
   * quarantines any client message that is neither filed nor quarantined, and records the outcome
   * on the mailbox (`verification`).
   */
  async auditMailbox(firmId: FirmId, mailboxId: MailboxId, signal?: AbortSignal) {
    const mailbox = await this.settings.store.getMailbox(firmId, mailboxId);
    if (!mailbox) throw new NotFoundError("Mailbox", mailboxId);
    const provider = await this.pool.open(firmId, mailbox);
    return auditMailbox(
      { ...this.settings, random: this.settings.random ?? Math.random },
      provider,
      firmId,
      mailboxId,
      signal,
    );
  }

  /** Follows a mailbox continuously (push where offered, polling otherwise) until `signal` aborts. */
  async runMailbox(
    firmId: FirmId,
    mailboxId: MailboxId,
    signal: AbortSignal,
    options: { pollIntervalMs?: number } = {},
  ): Promise<void> {
    const { sync } = await this.open(firmId, mailboxId);
    try {
      await sync.run(signal, options);
    } finally {
      await this.close(firmId, mailboxId);
    }
  }

  /**
   * Y5/T7: fetches the history with newly synced addresses from every mailbox of the firm whose
   * sync is not stopped, with the provider's server-side search. A mailbox that fails is reported
   * and does not stop the others.
   */
  async backfillAddresses(
    firmId: FirmId,
    addresses: readonly string[],
    signal?: AbortSignal,
  ): Promise<BackfillOutcome[]> {
    const mailboxes = await this.settings.store.listMailboxes(firmId);
    const outcomes: BackfillOutcome[] = [];
    for (const mailbox of mailboxes) {
      if (mailbox.state.status === "stopped") continue;
      try {
        const { sync } = await this.open(firmId, mailbox.id);
        outcomes.push({ mailboxId: mailbox.id, ...(await sync.backfillAddresses(addresses, signal)) });
      } catch (error) {
        if (signal?.aborted) throw error;
        const code = ClientMailError.isInstance(error) ? error.code : "internal";
        this.settings.logger.warn("targeted backfill failed for a mailbox", {
          firmId,
          mailboxId: mailbox.id,
          code,
          cause: safeCause(error),
        });
        outcomes.push({ mailboxId: mailbox.id, examined: 0, filed: 0, error: code });
      }
    }
    return outcomes;
  }

  /**
   * Y4: stops sync of a mailbox. Its credentials are deleted, filed messages stay, and the result
   * warns that automations sending through it will stop working (P5). Connecting again (the same
   * or another address) starts afresh.
   */
  async stopSync(firmId: FirmId, mailboxId: MailboxId, by: MemberId): Promise<{ warning: string }> {
    const { store, clock } = this.settings;
    const mailbox = await store.getMailbox(firmId, mailboxId);
    if (!mailbox) throw new NotFoundError("Mailbox", mailboxId);
    await this.close(firmId, mailboxId);
    const now = clock.now();
    await store.transaction(async (tx) => {
      await tx.setMailboxCredentials(firmId, mailboxId, undefined);
      await tx.setMailboxState(firmId, mailboxId, {
        status: "stopped",
        reason: "disconnected_by_user",
        at: now,
      });
      await tx.appendAudit(
        firmId,
        { actor: by, action: "mailbox.sync_stopped", subject: mailboxId, details: {} },
        now,
      );
    });
    return {
      warning: `Automations that send through ${mailbox.address} will stop working until it is connected again.`,
    };
  }

  /**
   * The provider this service keeps open for a mailbox (opened by a previous call), or undefined.
   * Hosts route push deliveries through it — a Gmail Pub/Sub message to
   * `GmailProvider.handlePushNotification`, a Graph change notification to the Graph provider —
   * which then wake the mailbox's `runMailbox` loop.
   */
  openProvider(firmId: FirmId, mailboxId: MailboxId): MailProvider | undefined {
    return this.syncs.get(`${firmId}\u0000${mailboxId}`)?.provider;
  }

  /** Releases every open provider. */
  async closeAll(): Promise<void> {
    for (const key of [...this.syncs.keys()]) {
      const [firmId, mailboxId] = key.split("\u0000") as [string, string];
      await this.close(firmId, mailboxId);
    }
  }

  private async open(
    firmId: FirmId,
    mailboxId: MailboxId,
  ): Promise<{ sync: MailboxSync; provider: MailProvider }> {
    const key = `${firmId}\u0000${mailboxId}`;
    const existing = this.syncs.get(key);
    if (existing) return existing;
    const mailbox = await this.settings.store.getMailbox(firmId, mailboxId);
    if (!mailbox) throw new NotFoundError("Mailbox", mailboxId);
    const provider = await this.pool.open(firmId, mailbox);
    const sync = new MailboxSync(this.settings, {
      firmId,
      mailboxId,
      provider,
      holder: this.holder,
      leaseTtlMs: this.settings.leaseTtlMs,
      maxConsecutiveFailures: this.settings.maxConsecutiveFailures,
      passDeadlineMs: this.settings.passDeadlineMs,
    });
    const entry = { sync, provider };
    this.syncs.set(key, entry);
    return entry;
  }

  private async close(firmId: FirmId, mailboxId: MailboxId): Promise<void> {
    const key = `${firmId}\u0000${mailboxId}`;
    if (!this.syncs.has(key)) return;
    this.syncs.delete(key);
    await this.pool.close(firmId, mailboxId);
  }
}
