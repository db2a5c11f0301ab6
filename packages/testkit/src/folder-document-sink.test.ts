import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { FolderDocumentSink } from "./folder-document-sink.js";
import { documentSinkConformance } from "./document-sink-conformance.js";

const sinks: FolderDocumentSink[] = [];
afterEach(async () => {
  for (const sink of sinks.splice(0)) await sink.remove();
});

async function* bytes(text: string) {
  yield new TextEncoder().encode(text);
}

documentSinkConformance({
  name: "testkit folder",
  makeSink: async () => {
    const sink = await FolderDocumentSink.create();
    sinks.push(sink);
    return {
      sink,
      exists: async (documentId) => (await sink.list()).some((d) => d.documentId === documentId),
    };
  },
});

describe("FolderDocumentSink", () => {
  it("F9: stores documents under their id, never their file name, and finds needles in content and metadata", async () => {
    const sink = await FolderDocumentSink.create();
    sinks.push(sink);
    const { documentId } = await sink.save({
      firmId: "f",
      accountId: "a",
      filename: "../secret-name.pdf",
      contentType: "application/pdf",
      size: 12,
      contentHash: "00",
      content: bytes("body-token-1"),
    });
    expect(documentId).toMatch(/^[0-9a-f]{16}$/);
    expect(sink.saved).toEqual([{ accountId: "a", filename: "../secret-name.pdf", documentId }]);
    expect(await sink.findNeedles(["body-token-1", "secret-name", "absent"])).toEqual([
      { file: documentId, needle: "body-token-1" },
      { file: `${documentId}.json`, needle: "secret-name" },
    ]);
  });

  it("F9: lists what every process saved into the folder, with the declared and the written hash", async () => {
    const sink = await FolderDocumentSink.create();
    sinks.push(sink);
    const other = FolderDocumentSink.open(sink.dir);
    const { documentId } = await other.save({
      firmId: "f",
      accountId: "a",
      filename: "scan.pdf",
      contentType: "application/pdf",
      size: 3,
      contentHash: "declared",
      content: bytes("pdf"),
    });
    expect(await sink.list()).toEqual([
      {
        documentId,
        firmId: "f",
        accountId: "a",
        filename: "scan.pdf",
        contentHash: "declared",
        writtenHash: createHash("sha256").update("pdf").digest("hex"),
        size: 3,
      },
    ]);
  });

  it("R8: saving the same file for the same account again keeps one document and returns the same id", async () => {
    const sink = await FolderDocumentSink.create();
    sinks.push(sink);
    const document = (accountId: string) => ({
      firmId: "f",
      accountId,
      filename: "scan.pdf",
      contentType: "application/pdf",
      size: 3,
      contentHash: "h1",
      content: bytes("pdf"),
    });
    const first = await sink.save(document("a"));
    const again = await FolderDocumentSink.open(sink.dir).save(document("a"));
    const other = await sink.save(document("b"));
    expect(again.documentId).toBe(first.documentId);
    expect(other.documentId).not.toBe(first.documentId);
    expect((await sink.list()).map((d) => d.accountId)).toEqual(
      [first.documentId, other.documentId].sort().map((id) => (id === first.documentId ? "a" : "b")),
    );
    expect((await sink.saveCalls()).map((call) => call.accountId)).toEqual(["a", "a", "b"]);
  });
});
