import { ClientMailError } from "../errors.js";
import type { Keyring } from "../ports/keyring.js";
import type { Store } from "../ports/store.js";
import { credentialsContext } from "../engine/credentials.js";

export { CREDENTIALS_FIELD } from "../engine/credentials.js";

/** What {@link rotateAll} did. */
export interface RotationReport {
  /** Values re-encrypted with the current key. */
  rotated: number;
  /** Values already on the current key. */
  current: number;
  /** Values that could not be decrypted (left unchanged): mailbox ids by firm. */
  failed: { firmId: string; mailboxId: string; code: string }[];
}

/**
 * Re-encrypts every stored mailbox credential that is not on the keyring's current key, for the
 * given firms (default: every firm). Each value is replaced in its own transaction, only if it
 * is still the value that was read, so a credential updated meanwhile is never overwritten with
 * an old one. Idempotent: a second run rotates nothing. Values that fail to decrypt are reported,
 * never replaced.
 */
export async function rotateAll(
  store: Store,
  keyring: Keyring,
  firmIds?: readonly string[],
): Promise<RotationReport> {
  const report: RotationReport = { rotated: 0, current: 0, failed: [] };
  for (const firmId of firmIds ?? (await store.listFirmIds())) {
    for (const { mailboxId, ciphertext } of await store.listMailboxCredentials(firmId)) {
      const context = credentialsContext(firmId, mailboxId);
      try {
        if (!keyring.needsRotation(ciphertext)) {
          report.current += 1;
          continue;
        }
        const plaintext = await keyring.decrypt(ciphertext, context);
        const replacement = await keyring.encrypt(plaintext, context);
        const replaced = await store.transaction(async (tx) => {
          if ((await tx.getMailboxCredentials(firmId, mailboxId)) !== ciphertext) return false;
          await tx.setMailboxCredentials(firmId, mailboxId, replacement);
          return true;
        });
        if (replaced) report.rotated += 1;
      } catch (error) {
        report.failed.push({
          firmId,
          mailboxId,
          code: ClientMailError.isInstance(error) ? error.code : "internal",
        });
      }
    }
  }
  return report;
}
