/**
 * The BlobStore port: bytes too large for the Store (R7, R11). clientmail keeps there the
 * original source of every filed message, so it can be read again and exported as `.eml`, and
 * the attachments waiting to be saved to an account's documents (F9, R8). Only client mail is
 * ever written (F1). Implementations: a folder (`@clientmail/folder`), process memory
 * (`@clientmail/memory`); S3-compatible stores plug in the same way.
 *
 * Rules every implementation keeps (the conformance suite in `@clientmail/testkit` checks them):
 * - `put` is idempotent: writing a key again replaces its bytes whole; a reader never sees a
 *   half-written blob (write to a temporary name, then rename, or the store's equivalent).
 * - `get` streams the bytes exactly as written; `undefined` for a key that is absent.
 * - Keys are the engine's (`<firm id>/...`, with `/` as separator, only `[A-Za-z0-9._/-]`); an
 *   implementation may refuse anything else with a `validation_failed` error.
 */
export interface BlobStore {
  /** Stores `content` under `key`, replacing what was there. Resolves once it is durable. */
  put(key: string, content: AsyncIterable<Uint8Array> | Uint8Array): Promise<{ size: number }>;
  /** The bytes under `key`, streamed, or `undefined` when there are none. */
  get(key: string): Promise<AsyncIterable<Uint8Array> | undefined>;
  /** Removes the blob; a no-op for an absent key. */
  delete(key: string): Promise<void>;
}
