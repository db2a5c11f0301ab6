/**
 * The read side of the host's documents (S1): what a member attaches to an outgoing message.
 * The host implements it next to its {@link DocumentSink}; clientmail asks for a document once
 * when composing (to check it exists and fits the size limit) and reads its content when the
 * message is sent, so the outbox keeps only a reference, never the bytes.
 *
 * @module
 */
import type { AccountId, FirmId } from "../domain/model.js";

/** A document the host keeps. */
export interface SourceDocument {
  /** Shown to the recipient as the attachment's name; one line. */
  filename: string;
  contentType: string;
  /** In bytes. */
  size: number;
  /** The content; readable again on every call. */
  content(): AsyncIterable<Uint8Array>;
}

/** Where the host product keeps documents that can be attached to outgoing mail. */
export interface DocumentSource {
  /**
   * The document `documentId` of the firm, as the account (or, for a message without an
   * account, the firm) sees it. Returns `undefined` when it does not exist or the account may not
   * use it; then nothing is queued (at compose time) or the message fails (at send time).
   */
  getDocument(
    firmId: FirmId,
    documentId: string,
    scope: { accountIds: readonly AccountId[] },
  ): Promise<SourceDocument | undefined>;
}
