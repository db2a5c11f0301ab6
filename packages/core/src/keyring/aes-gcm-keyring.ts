/**
 * The default {@link Keyring}: AES-256-GCM envelope encryption with WebCrypto only, so it runs
 * wherever core runs.
 *
 * Each value gets its own random data key; the data key is wrapped by a key-encryption key (KEK)
 * named by its key id. Both encryptions are bound to the value's place (firm, record, field) as
 * additional authenticated data, so a value copied to another firm, mailbox or field fails to
 * decrypt.
 *
 * Format (version 1), five dot-separated base64url parts after the `cmk1` tag:
 * `cmk1.<keyId>.<wrapIv>.<wrappedDataKey>.<iv>.<ciphertext>`. Anything else is refused.
 */
import { ClientMailError, ValidationError } from "../errors.js";
import type { EncryptionContext, Keyring } from "../ports/keyring.js";

/** WebCrypto's key type, named without relying on the DOM library's global. */
type WebCryptoKey = Awaited<ReturnType<typeof globalThis.crypto.subtle.importKey>>;

const FORMAT_TAG = "cmk1";
const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const IV_BYTES = 12;
const KEY_BYTES = 32;

/** Settings of {@link createAesGcmKeyring}. */
export interface AesGcmKeyringSettings {
  /**
   * Key-encryption keys by key id: 32 bytes each, given as bytes or base64 (standard or url-safe).
   * Keep old keys here until {@link rotateAll} has re-encrypted every value.
   */
  keys: Record<string, string | Uint8Array>;
  /** The key id new values are encrypted with. */
  currentKeyId: string;
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) return undefined;
  const standard = text.replace(/-/g, "+").replace(/_/g, "/");
  try {
    const binary = atob(standard + "=".repeat((4 - (standard.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** Additional authenticated data: unambiguous because it is a JSON array. */
function aad(keyId: string, context: EncryptionContext): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(
    JSON.stringify([FORMAT_TAG, keyId, context.firmId, context.recordId, context.field]),
  );
}

function refused(reason: string, details: Record<string, unknown> = {}): ClientMailError {
  return new ClientMailError("decryption_failed", `The encrypted value cannot be decrypted: ${reason}`, {
    details: { reason, ...details },
  });
}

interface ParsedValue {
  keyId: string;
  wrapIv: Uint8Array<ArrayBuffer>;
  wrappedKey: Uint8Array<ArrayBuffer>;
  iv: Uint8Array<ArrayBuffer>;
  ciphertext: Uint8Array<ArrayBuffer>;
}

function parse(value: string): ParsedValue {
  const parts = value.split(".");
  if (parts.length !== 6 || parts[0] !== FORMAT_TAG) throw refused("unknown format");
  const [, keyId = "", ...encoded] = parts;
  if (!KEY_ID_PATTERN.test(keyId)) throw refused("unknown format");
  const decoded = encoded.map((part) => fromBase64(part));
  const [wrapIv, wrappedKey, iv, ciphertext] = decoded;
  if (!wrapIv || !wrappedKey || !iv || !ciphertext || wrapIv.length !== IV_BYTES || iv.length !== IV_BYTES) {
    throw refused("unknown format");
  }
  const own = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes);
  return {
    keyId,
    wrapIv: own(wrapIv),
    wrappedKey: own(wrappedKey),
    iv: own(iv),
    ciphertext: own(ciphertext),
  };
}

/** A fresh random 256-bit key, base64url-encoded: a value for {@link AesGcmKeyringSettings.keys}. */
export function generateKeyringKey(): string {
  return toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(KEY_BYTES)));
}

/**
 * Creates the default keyring. Throws a {@link ValidationError} when a key is not 32 bytes, a
 * key id has characters other than letters, digits, `_` and `-`, or `currentKeyId` is not among
 * the keys.
 *
 * `decrypt` throws `decryption_failed` for a wrong context, a tampered value, an unknown key id or
 * an unknown format. `needsRotation` throws the same error for a value that is not in this
 * keyring's format, rather than guessing.
 */
export function createAesGcmKeyring(settings: AesGcmKeyringSettings): Keyring {
  const subtle = globalThis.crypto.subtle;
  const raw = new Map<string, Uint8Array<ArrayBuffer>>();
  const issues: { field: string; value: unknown; expected: string }[] = [];
  for (const [keyId, key] of Object.entries(settings.keys)) {
    if (!KEY_ID_PATTERN.test(keyId)) {
      issues.push({ field: "keys", value: keyId, expected: "key ids of 1-64 letters, digits, '_' or '-'" });
      continue;
    }
    const bytes = typeof key === "string" ? fromBase64(key) : key;
    if (!bytes || bytes.length !== KEY_BYTES) {
      issues.push({
        field: `keys.${keyId}`,
        value: "[redacted]",
        expected: "a 32-byte key (base64 or bytes)",
      });
      continue;
    }
    raw.set(keyId, new Uint8Array(bytes));
  }
  if (!raw.has(settings.currentKeyId) && !issues.some((i) => i.field === `keys.${settings.currentKeyId}`)) {
    issues.push({
      field: "currentKeyId",
      value: settings.currentKeyId,
      expected: "the id of one of the given keys",
    });
  }
  if (issues.length > 0) throw new ValidationError(issues);

  const imported = new Map<string, Promise<WebCryptoKey>>();
  const kek = (keyId: string): Promise<WebCryptoKey> => {
    let key = imported.get(keyId);
    if (!key) {
      const bytes = raw.get(keyId);
      if (!bytes) return Promise.reject(refused("unknown key id", { keyId }));
      key = subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
      imported.set(keyId, key);
    }
    return key;
  };
  const currentKeyId = settings.currentKeyId;

  return {
    async encrypt(plaintext, context) {
      const additionalData = aad(currentKeyId, context);
      const dataKeyBytes = globalThis.crypto.getRandomValues(new Uint8Array(KEY_BYTES));
      const dataKey = await subtle.importKey("raw", dataKeyBytes, "AES-GCM", false, ["encrypt"]);
      const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const wrapIv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const ciphertext = await subtle.encrypt(
        { name: "AES-GCM", iv, additionalData },
        dataKey,
        new TextEncoder().encode(plaintext),
      );
      const wrappedKey = await subtle.encrypt(
        { name: "AES-GCM", iv: wrapIv, additionalData },
        await kek(currentKeyId),
        dataKeyBytes,
      );
      dataKeyBytes.fill(0);
      return [
        FORMAT_TAG,
        currentKeyId,
        toBase64Url(wrapIv),
        toBase64Url(new Uint8Array(wrappedKey)),
        toBase64Url(iv),
        toBase64Url(new Uint8Array(ciphertext)),
      ].join(".");
    },

    async decrypt(value, context) {
      const parsed = parse(value);
      const additionalData = aad(parsed.keyId, context);
      const key = await kek(parsed.keyId);
      let dataKeyBytes: ArrayBuffer;
      try {
        dataKeyBytes = await subtle.decrypt(
          { name: "AES-GCM", iv: parsed.wrapIv, additionalData },
          key,
          parsed.wrappedKey,
        );
      } catch {
        throw refused("wrong context or tampered value", { keyId: parsed.keyId });
      }
      try {
        const dataKey = await subtle.importKey("raw", dataKeyBytes, "AES-GCM", false, ["decrypt"]);
        const plaintext = await subtle.decrypt(
          { name: "AES-GCM", iv: parsed.iv, additionalData },
          dataKey,
          parsed.ciphertext,
        );
        return new TextDecoder("utf-8", { fatal: true }).decode(plaintext);
      } catch {
        throw refused("wrong context or tampered value", { keyId: parsed.keyId });
      } finally {
        new Uint8Array(dataKeyBytes).fill(0);
      }
    },

    needsRotation(value) {
      return parse(value).keyId !== currentKeyId;
    },
  };
}
