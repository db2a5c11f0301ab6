import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { blobStoreConformance, documentSinkConformance } from "@clientmail/testkit/vitest";
import { createFolderBlobStore, createFolderDocumentSink } from "../src/index.js";

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "clientmail-blobs-"));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

blobStoreConformance({
  name: "folder",
  makeStore: async () => createFolderBlobStore({ dir: await freshDir() }),
});

documentSinkConformance({
  name: "folder",
  makeSink: async () => {
    const dir = await freshDir();
    const sink = createFolderDocumentSink({ dir });
    const exists = async (documentId: string) =>
      (await readdir(dir)).some((file) => file === documentId || file === `${documentId}.json`);
    return { sink, exists };
  },
});

describe("folder document sink", () => {
  it("R8, F9: saving the same file for the same account twice keeps one document with one id; names never become paths", async () => {
    const dir = await freshDir();
    const sink = createFolderDocumentSink({ dir });
    const save = () =>
      sink.save({
        firmId: "firm-1",
        accountId: "acct-1",
        filename: "../../etc/passwd",
        contentType: "application/pdf",
        size: 3,
        contentHash: "ab".repeat(32),
        content: (async function* () {
          yield new Uint8Array([1, 2, 3]);
        })(),
      });
    const first = await save();
    const second = await save();
    expect(second.documentId).toBe(first.documentId);
    expect((await readdir(dir)).sort()).toEqual([first.documentId, `${first.documentId}.json`].sort());
    expect(await sink.info(first.documentId)).toMatchObject({
      filename: "../../etc/passwd",
      accountId: "acct-1",
      size: 3,
    });
    expect(await sink.info("../x")).toBeUndefined();
  });

  it("settings name the missing folder", () => {
    expect(() => createFolderBlobStore({ dir: "" })).toThrow(/dir/);
  });
});
