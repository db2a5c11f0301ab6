import type { AccountId, FirmId } from "../domain/model.js";

/** An attachment to save into an account's documents (F9). */
export interface DocumentToSave {
  firmId: FirmId;
  accountId: AccountId;
  /** Sanitised file name (no path separators or control characters). */
  filename: string;
  contentType: string;
  size: number;
  /** Hex SHA-256 of the content. */
  contentHash: string;
  content: AsyncIterable<Uint8Array>;
}

/**
 * Where the host product keeps an account's documents (F9). clientmail saves each file once per
 * (account, content hash) as far as it is concerned; but a save runs as a durable job (R8), and a
 * worker can die after the sink stored the file and before the job was marked done, so `save` may
 * be called again for the same (firm, account, content hash). It must then keep one document and
 * return the same id (derive the id from the three, or look them up).
 */
export interface DocumentSink {
  save(document: DocumentToSave): Promise<{ documentId: string }>;
  /**
   * R10: deletes the document saved for (firm, account, content hash), when erasing a contact
   * removes the mail it came from. Idempotent: deleting a document that is absent (never saved,
   * or already deleted) resolves without error; a later `save` of the same three stores it again.
   * Runs as a durable job, so it may be called more than once. Optional: a sink without it keeps
   * documents, and `eraseContact` reports them as kept.
   */
  delete?(document: DocumentRef): Promise<void>;
}

/** Names one saved document: what {@link DocumentSink.save} is idempotent on. */
export interface DocumentRef {
  firmId: FirmId;
  accountId: AccountId;
  /** Hex SHA-256 of the content. */
  contentHash: string;
}
