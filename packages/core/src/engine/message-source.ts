/**
 * R11: the original source of a filed message, byte for byte, from the BlobStore: to re-read a
 * message with a better parser, or to export it as `.eml`.
 */
import { NotFoundError } from "../errors.js";
import type { FirmId, MessageRecordId } from "../domain/model.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { FilingStore } from "../ports/store.js";

/**
 * The source of a filed message as `message/rfc822` bytes. Throws `not_found` for a message of
 * another firm, and for one whose source was never kept (filed before sources were kept, or
 * without a blob store).
 */
export async function readMessageSource(
  store: FilingStore,
  blobs: BlobStore,
  firmId: FirmId,
  messageId: MessageRecordId,
): Promise<AsyncIterable<Uint8Array>> {
  const message = await store.getMessage(firmId, messageId);
  if (!message) throw new NotFoundError("message", messageId);
  const source = message.sourceKey === undefined ? undefined : await blobs.get(message.sourceKey);
  if (!source) throw new NotFoundError("message source", messageId, { details: { reason: "not_kept" } });
  return source;
}
