/**
 * A DocumentSink that writes each saved attachment into a folder under its document id (never
 * its file name), as a host's document store would, and can search what it wrote: the document
 * half of an end-to-end privacy check.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DocumentSink, DocumentToSave } from "@clientmail/core/ports";

export class FolderDocumentSink implements DocumentSink {
  /** What was saved, in order. */
  readonly saved: Array<{ accountId: string; filename: string; documentId: string }> = [];

  private constructor(readonly dir: string) {}

  /** A sink over a fresh temporary folder; {@link remove} deletes it. */
  static async create(prefix = "clientmail-docs-"): Promise<FolderDocumentSink> {
    return new FolderDocumentSink(await mkdtemp(join(tmpdir(), prefix)));
  }

  async save(document: DocumentToSave): Promise<{ documentId: string }> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of document.content) chunks.push(chunk);
    const documentId = randomBytes(8).toString("hex");
    await writeFile(join(this.dir, documentId), Buffer.concat(chunks));
    await writeFile(
      join(this.dir, `${documentId}.json`),
      JSON.stringify({ filename: document.filename, accountId: document.accountId }),
    );
    this.saved.push({ accountId: document.accountId, filename: document.filename, documentId });
    return { documentId };
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
