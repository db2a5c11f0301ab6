/**
 * The providers a process keeps open, one per mailbox, opened from the mailbox's encrypted
 * credentials (only ciphertext is ever stored; the keyring decrypts it here and nowhere else in
 * the engine).
 */
import type { FirmId, Mailbox, MailboxId } from "../domain/model.js";
import { readCredentials } from "./credentials.js";
import type { Keyring } from "../ports/keyring.js";
import type { MailProvider } from "../ports/mail-provider.js";
import type { MailSender } from "../ports/mail-sender.js";
import type { MailboxPacing } from "../ports/pacing.js";
import type { DirectoryStore } from "../ports/store.js";

/**
 * Opens the provider of a mailbox. `credentials` is the decrypted secret the host stored;
 * `context` carries what the worker shares with the provider (see {@link ProviderContext}).
 */
export type ProviderFactory = (
  mailbox: Mailbox,
  credentials: string | undefined,
  context?: ProviderContext,
) => MailProvider | Promise<MailProvider>;

/**
 * Opens the sender of a mailbox (S1–S6), like {@link ProviderFactory}: `credentials` is the
 * decrypted secret the host stored for the mailbox, `context` the mailbox's share of the worker's
 * pacing (pass it to the Gmail sender as `quota.shared` and to the Graph sender as
 * `sharedRequests`, as for the providers). The worker opens one sender per mailbox, reuses it
 * for every message of that mailbox (so the sender's own sending limits count all of them) and
 * closes it when it stops.
 */
export type SenderFactory = (
  mailbox: Mailbox,
  credentials: string | undefined,
  context?: ProviderContext,
) => MailSender | Promise<MailSender>;

/** What a worker hands the provider factory besides credentials. */
export interface ProviderContext {
  /**
   * The mailbox's share of the worker's `pacing`, shared by every process: pass it to the Gmail
   * provider as `quota.shared` and to the Graph provider as `sharedRequests`. Undefined when the
   * worker has no pacing.
   */
  pacing: MailboxPacing | undefined;
}

/** What a pool needs. */
export interface ProviderPoolSettings {
  store: DirectoryStore;
  providerFor: ProviderFactory;
  /** Decrypts stored credentials. Without it, the factory receives `undefined`. */
  keyring?: Keyring | undefined;
  /** The context handed to the factory for a mailbox (the worker's pacing). */
  contextFor?: ((firmId: FirmId, mailbox: Mailbox) => ProviderContext) | undefined;
  /**
   * Providers kept open at most while no job uses them (each keeps its connection or token and
   * its caches): past it, the least recently used idle ones are closed, and reopened on their
   * mailbox's next job. Providers in use are never closed for it. Default: no limit.
   */
  maxOpenProviders?: number | undefined;
}

/** A provider lent to one job; see {@link ProviderPool.borrow}. */
export interface BorrowedProvider {
  provider: MailProvider;
  /** Gives it back (idempotent). */
  release(): Promise<void>;
}

async function closeProvider(provider: Promise<MailProvider>): Promise<void> {
  await (await provider.catch(() => undefined))?.close().catch(() => undefined);
}

/** Open providers by mailbox. */
export class ProviderPool {
  private readonly open_ = new Map<string, Promise<MailProvider>>();
  /** Jobs using each provider now. */
  private readonly users = new Map<Promise<MailProvider>, number>();
  /** Providers closed while in use: closed for good once their last job gives them back. */
  private readonly retiring = new Set<Promise<MailProvider>>();

  constructor(private readonly settings: ProviderPoolSettings) {}

  get size(): number {
    return this.open_.size;
  }

  /** The mailbox's provider, opened on first use. */
  open(firmId: FirmId, mailbox: Mailbox): Promise<MailProvider> {
    const key = `${firmId}\u0000${mailbox.id}`;
    let provider = this.open_.get(key);
    if (provider) {
      // Most recently used last: the map's order is the order idle providers are closed in.
      this.open_.delete(key);
      this.open_.set(key, provider);
    } else {
      provider = this.create(firmId, mailbox);
      this.open_.set(key, provider);
      const opened = provider;
      provider.catch(() => {
        if (this.open_.get(key) === opened) this.open_.delete(key);
      });
    }
    return provider;
  }

  /** Closes the least recently used providers that no job uses, down to `maxOpenProviders`. */
  private async trim(): Promise<void> {
    const max = this.settings.maxOpenProviders;
    if (max === undefined || this.open_.size <= max) return;
    const idle: Promise<MailProvider>[] = [];
    for (const [key, provider] of this.open_) {
      if (this.open_.size <= max) break;
      if ((this.users.get(provider) ?? 0) > 0) continue;
      this.open_.delete(key);
      idle.push(provider);
    }
    await Promise.all(idle.map(closeProvider));
  }

  /**
   * The mailbox's provider for one job, shared with the mailbox's other jobs running now (a pass
   * and a targeted backfill); give it back with `release`. A provider {@link close}d meanwhile (a
   * failed pass asks for a fresh connection) is closed once the last job gives it back, so one
   * job's failure never closes a provider under another job: the next {@link open} or borrow gets
   * a new one.
   */
  async borrow(firmId: FirmId, mailbox: Mailbox): Promise<BorrowedProvider> {
    const provider = this.open(firmId, mailbox);
    this.users.set(provider, (this.users.get(provider) ?? 0) + 1);
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      const left = (this.users.get(provider) ?? 1) - 1;
      if (left > 0) {
        this.users.set(provider, left);
        return;
      }
      this.users.delete(provider);
      if (this.retiring.delete(provider)) await closeProvider(provider);
      await this.trim();
    };
    try {
      return { provider: await provider, release };
    } catch (error) {
      await release();
      throw error;
    }
  }

  /** The provider already open for a mailbox, if any. */
  async existing(firmId: FirmId, mailboxId: MailboxId): Promise<MailProvider | undefined> {
    return this.open_.get(`${firmId}\u0000${mailboxId}`)?.catch(() => undefined);
  }

  /** Closes the mailbox's provider, or — while jobs still use it — once the last gives it back. */
  async close(firmId: FirmId, mailboxId: MailboxId): Promise<void> {
    const key = `${firmId}\u0000${mailboxId}`;
    const provider = this.open_.get(key);
    if (!provider) return;
    this.open_.delete(key);
    if ((this.users.get(provider) ?? 0) > 0) this.retiring.add(provider);
    else await closeProvider(provider);
  }

  /** Closes every provider, borrowed or not (the jobs are over). */
  async closeAll(): Promise<void> {
    for (const key of [...this.open_.keys()]) {
      const [firmId, mailboxId] = key.split("\u0000") as [string, string];
      await this.close(firmId, mailboxId);
    }
    for (const provider of [...this.retiring]) {
      this.retiring.delete(provider);
      await closeProvider(provider);
    }
  }

  private async create(firmId: FirmId, mailbox: Mailbox): Promise<MailProvider> {
    const credentials = await readCredentials(this.settings.store, this.settings.keyring, firmId, mailbox.id);
    return this.settings.providerFor(mailbox, credentials, this.settings.contextFor?.(firmId, mailbox));
  }

  /**
   * Opens the mailbox's sender through `factory` from the same decrypted credentials and context
   * as its provider. The caller owns (and closes) the sender.
   */
  async openSender(firmId: FirmId, mailbox: Mailbox, factory: SenderFactory): Promise<MailSender> {
    const credentials = await readCredentials(this.settings.store, this.settings.keyring, firmId, mailbox.id);
    return factory(mailbox, credentials, this.settings.contextFor?.(firmId, mailbox));
  }

  /**
   * A provider of the mailbox that is not shared with jobs (an IDLE watcher holds a connection of
   * its own); the caller closes it.
   */
  dedicated(firmId: FirmId, mailbox: Mailbox): Promise<MailProvider> {
    return this.create(firmId, mailbox);
  }
}
