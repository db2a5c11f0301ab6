/**
 * `@clientmail/folder`: the BlobStore port and a DocumentSink on a local folder — message sources
 * kept for re-reading and `.eml` export (R11), attachments waiting to be saved (F9, R8), and the
 * documents of a host without a document store.
 *
 * @example
 * ```ts
 * import { createFolderBlobStore } from "@clientmail/folder";
 *
 * const blobs = createFolderBlobStore({ dir: "/var/lib/clientmail/blobs" });
 * await blobs.put("firm-1/source/abc.eml", new TextEncoder().encode("Subject: hi\r\n\r\nhello"));
 * ```
 *
 * @module
 */
export { createFolderBlobStore } from "./folder-blob-store.js";
export type { FolderBlobStoreSettings } from "./folder-blob-store.js";
export { createFolderDocumentSink } from "./folder-document-sink.js";
export type {
  FolderDocumentSink,
  FolderDocumentSinkSettings,
  FolderDocumentInfo,
} from "./folder-document-sink.js";
