/**
 * The default keyring (AES-256-GCM envelope encryption on WebCrypto) and key rotation.
 *
 * @module
 */
export { createAesGcmKeyring, generateKeyringKey } from "./aes-gcm-keyring.js";
export type { AesGcmKeyringSettings } from "./aes-gcm-keyring.js";
export { rotateAll, CREDENTIALS_FIELD } from "./rotate.js";
export type { RotationReport } from "./rotate.js";
