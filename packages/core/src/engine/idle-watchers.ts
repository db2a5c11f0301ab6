/**
 * IMAP IDLE watchers held by a worker process (Y2). A watcher is a connection of its own, so a
 * process holds at most `max` of them. A mailbox's watcher lives where its pass just ran: after a
 * pass, the worker asks for the mailbox's watch slot (a capacity-1 {@link Pacing} hold, shared by
 * every process) and, if it gets it, starts IDLE there. The slot is renewed every third of its
 * ttl; a process that dies stops renewing, the slot expires, and the next pass — on whichever
 * worker takes the mailbox's sync job — starts the watcher there. A watcher only hints: its
 * change calls `onChange`, which brings the mailbox's keyed sync job forward.
 *
 * A live process can miss a renewal too (its event loop or database pool busy past the ttl, or a
 * renewal that fails): the slot then expires with nobody else holding it. The watcher takes the
 * slot again and keeps watching; only when another process holds it does the watcher stop here,
 * and then it asks for a pass, so the mailbox is watched where the slot is and nothing that
 * changed meanwhile waits for the poll. A failed renewal keeps the watcher and tries again at the
 * next renewal.
 */
import type { FirmId, Mailbox, MailboxId } from "../domain/model.js";
import type { Logger } from "../ports/logger.js";
import type { MailProvider, PushSubscription } from "../ports/mail-provider.js";
import type { Pacing, PacingSlot } from "../ports/pacing.js";
import { codeOf } from "./after-commit.js";
import { safeCause } from "./error-cause.js";

interface Watcher {
  firmId: FirmId;
  mailboxId: MailboxId;
  slot: PacingSlot | undefined;
  provider: MailProvider;
  subscription: PushSubscription;
  timer: ReturnType<typeof setInterval>;
}

export interface IdleWatcherSettings {
  /** Watchers this process holds at most. */
  max: number;
  /** How long a watch slot lives without renewal: how soon a dead process's watchers move. */
  ttlMs: number;
  /** Shared across processes; without it watchers are coordinated within this process only. */
  pacing: Pacing | undefined;
  logger: Logger;
  /** Opens a provider of the mailbox that is the watcher's own. */
  open(firmId: FirmId, mailbox: Mailbox): Promise<MailProvider>;
  /** Called when a watched mailbox may have changed. */
  onChange(firmId: FirmId, mailboxId: MailboxId): void;
}

/** The watchers of one process. */
export class IdleWatchers {
  private readonly watchers = new Map<string, Watcher>();
  private readonly starting = new Set<string>();
  private readonly renewing = new Set<string>();
  private stopped = false;

  constructor(private readonly settings: IdleWatcherSettings) {}

  get size(): number {
    return this.watchers.size;
  }

  /** Mailboxes watched here now. */
  watched(): string[] {
    return [...this.watchers.keys()];
  }

  /** Starts watching the mailbox here if it is watched nowhere and this process has room. Never throws. */
  async ensure(firmId: FirmId, mailbox: Mailbox): Promise<void> {
    const key = `${firmId}:${mailbox.id}`;
    const { max, pacing, ttlMs, logger } = this.settings;
    if (this.stopped || this.watchers.has(key) || this.starting.has(key)) return;
    if (this.watchers.size + this.starting.size >= max) return;
    this.starting.add(key);
    let slot: PacingSlot | undefined;
    let provider: MailProvider | undefined;
    try {
      if (pacing) {
        slot = await pacing.tryAcquire(firmId, `watch:${mailbox.id}`, ttlMs);
        if (!slot) return;
      }
      provider = await this.settings.open(firmId, mailbox);
      const subscription = await provider.watch(() => this.settings.onChange(firmId, mailbox.id));
      const timer = setInterval(() => void this.renew(key), Math.max(50, Math.floor(ttlMs / 3)));
      (timer as { unref?: () => void }).unref?.();
      if (this.stopped) {
        clearInterval(timer);
        await subscription.stop().catch(() => undefined);
        throw new Error("stopped");
      }
      this.watchers.set(key, { firmId, mailboxId: mailbox.id, slot, provider, subscription, timer });
    } catch (error) {
      await provider?.close().catch(() => undefined);
      await slot?.release().catch(() => undefined);
      if (!this.stopped)
        logger.warn("IDLE watcher not started", {
          firmId,
          mailboxId: mailbox.id,
          code: codeOf(error),
          cause: safeCause(error),
        });
    } finally {
      this.starting.delete(key);
    }
  }

  private async renew(key: string): Promise<void> {
    const watcher = this.watchers.get(key);
    if (!watcher?.slot || this.renewing.has(key)) return;
    this.renewing.add(key);
    try {
      await this.keepSlot(key, watcher, watcher.slot);
    } finally {
      this.renewing.delete(key);
    }
  }

  /** Renews the watcher's slot; takes it again when it expired unheld; stops the watcher when another process holds it. */
  private async keepSlot(key: string, watcher: Watcher, slot: PacingSlot): Promise<void> {
    const { pacing, ttlMs, logger } = this.settings;
    const { firmId, mailboxId } = watcher;
    const current = () => !this.stopped && this.watchers.get(key) === watcher;
    let again: PacingSlot | undefined;
    try {
      if (await slot.renew()) return;
      if (!current() || !pacing) return;
      // Expired before this process renewed it: take it again unless another process has.
      again = await pacing.tryAcquire(firmId, `watch:${mailboxId}`, ttlMs);
    } catch (error) {
      // The slot may still be ours; the next renewal tells.
      logger.warn("IDLE watcher's slot not renewed; trying again at the next renewal", {
        firmId,
        mailboxId,
        code: codeOf(error),
        cause: safeCause(error),
      });
      return;
    }
    if (again && current()) {
      watcher.slot = again;
      logger.info("IDLE watcher's slot had expired; taken again", { firmId, mailboxId });
      return;
    }
    await again?.release().catch(() => undefined);
    if (!current()) return;
    logger.warn("IDLE watcher's slot is held elsewhere; stopping it here", { firmId, mailboxId });
    await this.drop(key, false);
    // A pass places the watcher where the slot is, and syncs what changed meanwhile.
    this.settings.onChange(firmId, mailboxId);
  }

  /** Stops the mailbox's watcher here (the mailbox was stopped, or its slot lost). */
  async stop(firmId: FirmId, mailboxId: MailboxId): Promise<void> {
    await this.drop(`${firmId}:${mailboxId}`, true);
  }

  private async drop(key: string, release: boolean): Promise<void> {
    const watcher = this.watchers.get(key);
    if (!watcher) return;
    this.watchers.delete(key);
    clearInterval(watcher.timer);
    await watcher.subscription.stop().catch(() => undefined);
    await watcher.provider.close().catch(() => undefined);
    if (release) await watcher.slot?.release().catch(() => undefined);
  }

  /** Stops every watcher and gives its slot back, so another process takes it at its next pass. */
  async stopAll(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.watchers.keys()].map((key) => this.drop(key, true)));
  }
}
