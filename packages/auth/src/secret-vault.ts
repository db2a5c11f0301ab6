/**
 * Where a token source keeps the secret it refreshes with (a refresh token, MSAL's token cache):
 * only as keyring ciphertext. A vault reads and writes the plaintext; what it stores is the
 * ciphertext, bound to where it belongs (firm, record, field) so a copy elsewhere does not
 * decrypt.
 */
import { credentialsContext, type FirmId, type MailboxId } from "@clientmail/core";
import type { DirectoryStore, EncryptionContext, Keyring } from "@clientmail/core/ports";

/** A secret kept encrypted. */
export interface SecretVault {
  /** The secret; undefined when none was written. Throws `decryption_failed` for a value that does not decrypt. */
  read(): Promise<string | undefined>;
  /** Replaces the secret (a rotated refresh token). */
  write(secret: string): Promise<void>;
}

/** Where a {@link keyringVault} keeps its ciphertext. */
export interface CiphertextStorage {
  load(): Promise<string | undefined>;
  save(ciphertext: string): Promise<void>;
}

/** A vault that encrypts with `keyring` under `context` and keeps the ciphertext in `storage`. */
export function keyringVault(
  keyring: Keyring,
  context: EncryptionContext,
  storage: CiphertextStorage,
): SecretVault {
  return {
    async read() {
      const ciphertext = await storage.load();
      return ciphertext === undefined ? undefined : keyring.decrypt(ciphertext, context);
    },
    async write(secret) {
      await storage.save(await keyring.encrypt(secret, context));
    },
  };
}

/**
 * The mailbox's stored credentials as a vault: the same ciphertext `ClientMail.connectMailbox`
 * writes and the sync engine's provider pool decrypts, so a token source refreshing a mailbox
 * keeps its rotated refresh token where the engine reads it.
 */
export function mailboxCredentialsVault(
  store: Pick<DirectoryStore, "getMailboxCredentials" | "setMailboxCredentials">,
  keyring: Keyring,
  firmId: FirmId,
  mailboxId: MailboxId,
): SecretVault {
  return keyringVault(keyring, credentialsContext(firmId, mailboxId), {
    load: () => store.getMailboxCredentials(firmId, mailboxId),
    save: async (ciphertext) => {
      await store.setMailboxCredentials(firmId, mailboxId, ciphertext);
    },
  });
}

/** A vault in memory, for a secret the host keeps itself (it is still never logged). */
export function memoryVault(initial?: string): SecretVault {
  let secret = initial;
  return {
    read: async () => secret,
    write: async (value) => {
      secret = value;
    },
  };
}
