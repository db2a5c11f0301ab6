/**
 * Encrypts credentials. Ciphertext is bound to where it belongs (`context`), so a value copied
 * to another firm, mailbox or field does not decrypt.
 */
export interface EncryptionContext {
  firmId: string;
  /** The record the secret belongs to, e.g. a mailbox id. */
  recordId: string;
  /** The field, e.g. `credentials`. */
  field: string;
}

export interface Keyring {
  /** Encrypts with the current key. The result names its key id and format version. */
  encrypt(plaintext: string, context: EncryptionContext): Promise<string>;
  /**
   * Decrypts. Throws `decryption_failed` for a wrong context, a tampered value, an unknown key id
   * or an unknown format; never returns the input as plaintext.
   */
  decrypt(ciphertext: string, context: EncryptionContext): Promise<string>;
  /** True when the value was encrypted with a key other than the current one. */
  needsRotation(ciphertext: string): boolean;
}
