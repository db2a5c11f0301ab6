/**
 * The default keyring (AES-256-GCM envelope encryption on WebCrypto) and key rotation.
 *
 * @module
 */
export { createAesGcmKeyring, generateKeyringKey } from "./aes-gcm-keyring.js";
export type { AesGcmKeyringSettings } from "./aes-gcm-keyring.js";
export { rotateAll } from "./rotate.js";
export { CREDENTIALS_FIELD, credentialsContext } from "../engine/credentials.js";
export type { RotationReport } from "./rotate.js";
