/**
 * The BlobStore port in process memory, for the embedded default and tests. Bytes live as long as
 * the process; use `@clientmail/folder` (or an object store) for anything that must survive it.
 */
import { ValidationError } from "@clientmail/core";
import type { BlobStore } from "@clientmail/core/ports";

function checkKey(key: string): void {
  const ok =
    typeof key === "string" &&
    key.length > 0 &&
    key.length <= 1_000 &&
    key.split("/").every((s) => /^[A-Za-z0-9._-]+$/.test(s) && s !== "." && s !== "..");
  if (!ok)
    throw new ValidationError([
      { field: "key", value: key, expected: "segments of letters, digits, '.', '_' or '-' separated by '/'" },
    ]);
}

/** An in-memory blob store; `keys()` lists what it holds (for tests). */
export interface MemoryBlobStore extends BlobStore {
  keys(): string[];
}

/** Creates an in-memory blob store. */
export function createMemoryBlobStore(): MemoryBlobStore {
  const blobs = new Map<string, Uint8Array>();
  return {
    async put(key, content) {
      checkKey(key);
      const chunks: Uint8Array[] = [];
      if (content instanceof Uint8Array) chunks.push(content);
      else for await (const chunk of content) chunks.push(chunk);
      const size = chunks.reduce((n, c) => n + c.byteLength, 0);
      const bytes = new Uint8Array(size);
      let offset = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, offset);
        offset += chunk.byteLength;
      }
      // Replaced whole, only once every chunk has arrived.
      blobs.set(key, bytes);
      return { size };
    },
    async get(key) {
      checkKey(key);
      const bytes = blobs.get(key);
      if (!bytes) return undefined;
      return (async function* () {
        for (let offset = 0; offset < bytes.byteLength; offset += 64 * 1024)
          yield bytes.subarray(offset, Math.min(bytes.byteLength, offset + 64 * 1024));
      })();
    },
    async delete(key) {
      checkKey(key);
      blobs.delete(key);
    },
    keys: () => [...blobs.keys()].sort(),
  };
}
