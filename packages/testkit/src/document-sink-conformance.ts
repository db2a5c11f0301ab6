/**
 * The DocumentSink conformance suite: every document sink (a folder, the host's document store)
 * keeps the port's promises — `save` idempotent per (firm, account, content hash) (F9, R8), and,
 * when it offers `delete`, deletion of exactly that document, idempotent (R10). Call it at the top
 * level of a test file.
 */
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { DocumentRef, DocumentSink } from "@clientmail/core/ports";

export interface DocumentSinkConformanceOptions {
  name: string;
  /**
   * A fresh sink per test, with a raw check of its backend: whether the document saved under
   * `documentId` is still there (its bytes or its metadata), read without the sink's own methods.
   */
  makeSink: () => Promise<{ sink: DocumentSink; exists: (documentId: string) => Promise<boolean> }>;
}

function documentOf(ref: DocumentRef, bytes: Uint8Array) {
  return {
    ...ref,
    filename: "receipts.pdf",
    contentType: "application/pdf",
    size: bytes.byteLength,
    content: (async function* () {
      yield bytes;
    })(),
  };
}

function refOf(accountId: string): { ref: DocumentRef; bytes: Uint8Array } {
  const bytes = randomBytes(64);
  return {
    ref: { firmId: "firm-1", accountId, contentHash: createHash("sha256").update(bytes).digest("hex") },
    bytes,
  };
}

/** Defines the suite. */
export function documentSinkConformance(options: DocumentSinkConformanceOptions): void {
  describe(`DocumentSink conformance: ${options.name}`, () => {
    it("R8: saving the same (firm, account, content hash) again keeps one document with the same id", async () => {
      const { sink, exists } = await options.makeSink();
      const { ref, bytes } = refOf("acct-1");
      const first = await sink.save(documentOf(ref, bytes));
      const again = await sink.save(documentOf(ref, bytes));
      expect(again.documentId).toBe(first.documentId);
      expect(await exists(first.documentId)).toBe(true);
      const other = await sink.save(documentOf({ ...ref, accountId: "acct-2" }, bytes));
      expect(other.documentId).not.toBe(first.documentId);
    });

    it("R10: delete removes exactly that document, is idempotent, and a later save stores it again", async () => {
      const { sink, exists } = await options.makeSink();
      expect(typeof sink.delete).toBe("function");
      const { ref, bytes } = refOf("acct-1");
      const saved = await sink.save(documentOf(ref, bytes));
      const sibling = await sink.save(documentOf({ ...ref, accountId: "acct-2" }, bytes));
      await sink.delete!(ref);
      expect(await exists(saved.documentId)).toBe(false);
      expect(await exists(sibling.documentId)).toBe(true);
      // Again, and for a document never saved: both resolve.
      await sink.delete!(ref);
      await sink.delete!(refOf("acct-3").ref);
      const back = await sink.save(documentOf(ref, bytes));
      expect(back.documentId).toBe(saved.documentId);
      expect(await exists(saved.documentId)).toBe(true);
    });
  });
}
