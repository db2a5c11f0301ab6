/**
 * The providers a process keeps open, one per mailbox, opened from the mailbox's encrypted
 * credentials (only ciphertext is ever stored; the keyring decrypts it here and nowhere else in
 * the engine).
 */
import { ClientMailError } from "../errors.js";
import type { FirmId, Mailbox, MailboxId } from "../domain/model.js";
import { CREDENTIALS_FIELD } from "../keyring/rotate.js";
import type { Keyring } from "../ports/keyring.js";
import type { MailProvider } from "../ports/mail-provider.js";
import type { DirectoryStore } from "../ports/store.js";

/** Opens the provider of a mailbox. `credentials` is the decrypted secret the host stored. */
export type ProviderFactory = (
  mailbox: Mailbox,
  credentials: string | undefined,
) => MailProvider | Promise<MailProvider>;

/** What a pool needs. */
export interface ProviderPoolSettings {
  store: DirectoryStore;
  providerFor: ProviderFactory;
  /** Decrypts stored credentials. Without it, the factory receives `undefined`. */
  keyring?: Keyring | undefined;
}

/** Open providers by mailbox. */
export class ProviderPool {
  private readonly open_ = new Map<string, Promise<MailProvider>>();

  constructor(private readonly settings: ProviderPoolSettings) {}

  get size(): number {
    return this.open_.size;
  }

  /** The mailbox's provider, opened on first use. */
  open(firmId: FirmId, mailbox: Mailbox): Promise<MailProvider> {
    const key = `${firmId}\u0000${mailbox.id}`;
    let provider = this.open_.get(key);
    if (!provider) {
      provider = this.create(firmId, mailbox);
      this.open_.set(key, provider);
      provider.catch(() => this.open_.delete(key));
    }
    return provider;
  }

  /** The provider already open for a mailbox, if any. */
  async existing(firmId: FirmId, mailboxId: MailboxId): Promise<MailProvider | undefined> {
    return this.open_.get(`${firmId}\u0000${mailboxId}`)?.catch(() => undefined);
  }

  /** Encrypts a secret for storage as a mailbox's credentials. */
  async encrypt(firmId: FirmId, mailboxId: MailboxId, secret: string): Promise<string> {
    return this.requireKeyring().encrypt(secret, { firmId, recordId: mailboxId, field: CREDENTIALS_FIELD });
  }

  async close(firmId: FirmId, mailboxId: MailboxId): Promise<void> {
    const key = `${firmId}\u0000${mailboxId}`;
    const provider = this.open_.get(key);
    if (!provider) return;
    this.open_.delete(key);
    await (await provider.catch(() => undefined))?.close().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    for (const key of [...this.open_.keys()]) {
      const [firmId, mailboxId] = key.split("\u0000") as [string, string];
      await this.close(firmId, mailboxId);
    }
  }

  private async create(firmId: FirmId, mailbox: Mailbox): Promise<MailProvider> {
    const ciphertext = await this.settings.store.getMailboxCredentials(firmId, mailbox.id);
    const credentials =
      ciphertext !== undefined
        ? await this.requireKeyring().decrypt(ciphertext, {
            firmId,
            recordId: mailbox.id,
            field: CREDENTIALS_FIELD,
          })
        : undefined;
    return this.settings.providerFor(mailbox, credentials);
  }

  private requireKeyring(): Keyring {
    if (!this.settings.keyring) {
      throw new ClientMailError(
        "unsupported",
        "A keyring is required to store or read mailbox credentials (settings.keyring)",
        { details: { option: "keyring" } },
      );
    }
    return this.settings.keyring;
  }
}
