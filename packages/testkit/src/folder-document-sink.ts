/**
 * A DocumentSink that writes each saved attachment into a folder under its document id (never
 * its file name), as a host's document store would, and can search what it wrote: the document
 * half of an end-to-end privacy check.
 *
 * It keeps the port's contract for repeated saves (R8: a save job may run again after a crash):
 * the id is derived from (firm, account, content hash), so saving the same file again keeps one
 * document and returns the same id. Each file is written whole or not at all (write, then rename).
 * Several processes may write into one folder (a worker that is killed and restarted);
 * {@link FolderDocumentSink.list} reads back the documents and {@link FolderDocumentSink.saveCalls}
 * every call any of them made.
 */
import { createHash, randomBytes } from "node:crypto";
import { appendFile, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DocumentRef, DocumentSink, DocumentToSave } from "@clientmail/core/ports";

/** A document as {@link FolderDocumentSink.list} reads it back from the folder. */
export interface FolderDocument {
  documentId: string;
  firmId: string;
  accountId: string;
  filename: string;
  /** The hash the caller declared. */
  contentHash: string;
  /** SHA-256 of the bytes actually written. */
  writtenHash: string;
  size: number;
}

/** One call of {@link FolderDocumentSink.save}, as logged in the folder. */
export interface FolderSaveCall {
  documentId: string;
  accountId: string;
  contentHash: string;
}

const callLog = "save-calls.log";

export class FolderDocumentSink implements DocumentSink {
  /** What this instance saved, in order (one entry per call). */
  readonly saved: Array<{ accountId: string; filename: string; documentId: string }> = [];

  private constructor(readonly dir: string) {}

  /** A sink over a fresh temporary folder; {@link remove} deletes it. */
  static async create(prefix = "clientmail-docs-"): Promise<FolderDocumentSink> {
    return new FolderDocumentSink(await mkdtemp(join(tmpdir(), prefix)));
  }

  /** A sink over an existing folder (e.g. one another process writes into too). */
  static open(dir: string): FolderDocumentSink {
    return new FolderDocumentSink(dir);
  }

  static #idOf(document: DocumentRef): string {
    return createHash("sha256")
      .update(`${document.firmId}\u0000${document.accountId}\u0000${document.contentHash}`)
      .digest("hex")
      .slice(0, 16);
  }

  async save(document: DocumentToSave): Promise<{ documentId: string }> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of document.content) chunks.push(chunk);
    const documentId = FolderDocumentSink.#idOf(document);
    const writeWhole = async (name: string, data: Uint8Array | string) => {
      const partial = join(this.dir, `.${name}.${randomBytes(4).toString("hex")}.partial`);
      await writeFile(partial, data);
      await rename(partial, join(this.dir, name));
    };
    await writeWhole(documentId, Buffer.concat(chunks));
    // Metadata last: a document whose metadata is missing was never completely saved.
    await writeWhole(
      `${documentId}.json`,
      JSON.stringify({
        filename: document.filename,
        firmId: document.firmId,
        accountId: document.accountId,
        contentHash: document.contentHash,
      }),
    );
    const call: FolderSaveCall = {
      documentId,
      accountId: document.accountId,
      contentHash: document.contentHash,
    };
    await appendFile(join(this.dir, callLog), `${JSON.stringify(call)}\n`);
    this.saved.push({ accountId: document.accountId, filename: document.filename, documentId });
    return { documentId };
  }

  /** R10: deletes the document (metadata first, so a half-deleted one is no longer listed). Idempotent. */
  async delete(document: DocumentRef): Promise<void> {
    const documentId = FolderDocumentSink.#idOf(document);
    await rm(join(this.dir, `${documentId}.json`), { force: true });
    await rm(join(this.dir, documentId), { force: true });
  }

  /** Every completed `save` call made into the folder, by any process, in order. */
  async saveCalls(): Promise<FolderSaveCall[]> {
    try {
      const text = await readFile(join(this.dir, callLog), "utf8");
      return text
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as FolderSaveCall);
    } catch {
      return [];
    }
  }

  /**
   * Every document completely saved into the folder, by any process, ordered by id. A document is
   * complete once its metadata file exists.
   */
  async list(): Promise<FolderDocument[]> {
    const documents: FolderDocument[] = [];
    for (const file of (await readdir(this.dir)).sort()) {
      if (!file.endsWith(".json") || file.startsWith(".")) continue;
      const documentId = file.slice(0, -".json".length);
      const meta = JSON.parse(await readFile(join(this.dir, file), "utf8")) as {
        filename: string;
        firmId?: string;
        accountId: string;
        contentHash?: string;
      };
      const content = await readFile(join(this.dir, documentId));
      documents.push({
        documentId,
        firmId: meta.firmId ?? "",
        accountId: meta.accountId,
        filename: meta.filename,
        contentHash: meta.contentHash ?? "",
        writtenHash: createHash("sha256").update(content).digest("hex"),
        size: content.length,
      });
    }
    return documents;
  }

  /** Every (file, needle) pair where a saved file or its metadata contains the needle. */
  async findNeedles(needles: readonly string[]): Promise<Array<{ file: string; needle: string }>> {
    const hits: Array<{ file: string; needle: string }> = [];
    for (const file of (await readdir(this.dir)).sort()) {
      const content = await readFile(join(this.dir, file), "utf8");
      for (const needle of needles) if (content.includes(needle)) hits.push({ file, needle });
    }
    return hits;
  }

  /** Deletes the folder. Idempotent. */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
