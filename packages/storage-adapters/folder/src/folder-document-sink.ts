/**
 * A DocumentSink on a local folder, for hosts without a document store of their own (the example
 * app, a small firm). Saving is idempotent per (firm, account, content hash), as the port asks:
 * the document id is derived from them, so a retried save finds its earlier file (R8).
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ValidationError } from "@clientmail/core";
import type { DocumentRef, DocumentSink } from "@clientmail/core/ports";
import { createFolderBlobStore } from "./folder-blob-store.js";

/** Settings of {@link createFolderDocumentSink}. */
export interface FolderDocumentSinkSettings {
  /** The folder documents live in; created when missing. */
  dir: string;
}

/** What the sink keeps next to each document. */
export interface FolderDocumentInfo {
  documentId: string;
  firmId: string;
  accountId: string;
  filename: string;
  contentType: string;
  size: number;
  contentHash: string;
}

/** A folder document sink, with a way to read back what it saved. */
export interface FolderDocumentSink extends DocumentSink {
  /** R10: deletes a saved document; idempotent. */
  delete(document: DocumentRef): Promise<void>;
  /** The document's metadata, or undefined. */
  info(documentId: string): Promise<FolderDocumentInfo | undefined>;
}

/** Creates a document sink on a local folder. Throws a ValidationError for a missing `dir`. */
export function createFolderDocumentSink(settings: FolderDocumentSinkSettings): FolderDocumentSink {
  if (typeof settings?.dir !== "string" || settings.dir.trim() === "") {
    throw new ValidationError([{ field: "dir", value: settings?.dir, expected: "the path of a folder" }]);
  }
  const root = resolve(settings.dir);
  const files = createFolderBlobStore({ dir: root });
  // Ids, never file names, become paths: a hostile attachment name cannot reach the disk.
  const idOf = (document: DocumentRef): string =>
    createHash("sha256")
      .update(`${document.firmId}\u0000${document.accountId}\u0000${document.contentHash}`)
      .digest("hex")
      .slice(0, 32);
  return {
    async save(document) {
      const documentId = idOf(document);
      await files.put(documentId, document.content);
      const info: FolderDocumentInfo = {
        documentId,
        firmId: document.firmId,
        accountId: document.accountId,
        filename: document.filename,
        contentType: document.contentType,
        size: document.size,
        contentHash: document.contentHash,
      };
      await mkdir(root, { recursive: true });
      await writeFile(join(root, `${documentId}.json`), JSON.stringify(info));
      return { documentId };
    },
    async delete(document) {
      // R10: metadata first, so a document half deleted by a crash is no longer listed; the job
      // that called this runs again and finishes.
      const documentId = idOf(document);
      await rm(join(root, `${documentId}.json`), { force: true });
      await files.delete(documentId);
    },
    async info(documentId) {
      if (!/^[0-9a-f]{32}$/.test(documentId)) return undefined;
      try {
        return JSON.parse(await readFile(join(root, `${documentId}.json`), "utf8")) as FolderDocumentInfo;
      } catch {
        return undefined;
      }
    },
  };
}
