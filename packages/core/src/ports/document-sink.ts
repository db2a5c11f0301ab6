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
 * Where the host product keeps an account's documents. clientmail calls `save` at most once per
 * (account, content hash) (F9); the sink returns its own id for the stored document.
 */
export interface DocumentSink {
  save(document: DocumentToSave): Promise<{ documentId: string }>;
}
