/**
 * Mailbox credentials (Y1): the one place they are encrypted and decrypted. Only keyring
 * ciphertext reaches the store, bound to the firm, the mailbox and the `credentials` field, so a
 * value copied to another mailbox or firm does not decrypt.
 */
import { ClientMailError } from "../errors.js";
import type { FirmId, MailboxId } from "../domain/model.js";
import type { EncryptionContext, Keyring } from "../ports/keyring.js";
import type { DirectoryStore } from "../ports/store.js";

/** The field name mailbox credentials are encrypted under. */
export const CREDENTIALS_FIELD = "credentials";

/** Where a mailbox's credentials belong: what their ciphertext is bound to. */
export function credentialsContext(firmId: FirmId, mailboxId: MailboxId): EncryptionContext {
  return { firmId, recordId: mailboxId, field: CREDENTIALS_FIELD };
}

/** The keyring, or `unsupported` naming the missing setting. */
export function requireKeyring(keyring: Keyring | undefined): Keyring {
  if (!keyring) {
    throw new ClientMailError(
      "unsupported",
      "A keyring is required to store or read mailbox credentials (settings.keyring)",
      { details: { option: "keyring" } },
    );
  }
  return keyring;
}

/** Encrypts a mailbox's secret for storage. */
export function encryptCredentials(
  keyring: Keyring | undefined,
  firmId: FirmId,
  mailboxId: MailboxId,
  secret: string,
): Promise<string> {
  return requireKeyring(keyring).encrypt(secret, credentialsContext(firmId, mailboxId));
}

/** Decrypts a mailbox's stored ciphertext; `decryption_failed` when it does not belong here. */
export function decryptCredentials(
  keyring: Keyring | undefined,
  firmId: FirmId,
  mailboxId: MailboxId,
  ciphertext: string,
): Promise<string> {
  return requireKeyring(keyring).decrypt(ciphertext, credentialsContext(firmId, mailboxId));
}

/** Encrypts and stores a mailbox's secret (in `store`, which may be a transaction). */
export async function storeCredentials(
  store: Pick<DirectoryStore, "setMailboxCredentials">,
  keyring: Keyring | undefined,
  firmId: FirmId,
  mailboxId: MailboxId,
  secret: string,
): Promise<void> {
  await store.setMailboxCredentials(
    firmId,
    mailboxId,
    await encryptCredentials(keyring, firmId, mailboxId, secret),
  );
}

/** The mailbox's decrypted secret, or undefined when none is stored. */
export async function readCredentials(
  store: Pick<DirectoryStore, "getMailboxCredentials">,
  keyring: Keyring | undefined,
  firmId: FirmId,
  mailboxId: MailboxId,
): Promise<string | undefined> {
  const ciphertext = await store.getMailboxCredentials(firmId, mailboxId);
  return ciphertext === undefined ? undefined : decryptCredentials(keyring, firmId, mailboxId, ciphertext);
}
