/**
 * The BlobStore conformance suite: every blob store (memory, folder, an object store) keeps the
 * port's promises. Call it at the top level of a test file.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import type { BlobStore } from "@clientmail/core/ports";

export interface BlobStoreConformanceOptions {
  name: string;
  /** A fresh, empty store per test. */
  makeStore: () => Promise<BlobStore>;
}

async function bytesOf(stream: AsyncIterable<Uint8Array> | undefined): Promise<Buffer | undefined> {
  if (!stream) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function* chunked(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += size) yield bytes.subarray(offset, offset + size);
}

/** Defines the suite. */
export function blobStoreConformance(options: BlobStoreConformanceOptions): void {
  describe(`BlobStore conformance: ${options.name}`, () => {
    it("R11: bytes come back exactly as written, from a buffer or a stream; absent keys are undefined", async () => {
      const store = await options.makeStore();
      const small = new TextEncoder().encode(
        "Subject: Hej\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nK\xe6re\r\n",
      );
      const large = randomBytes(3 * 1024 * 1024 + 17);
      expect(await store.put("firm-1/source/a.eml", small)).toEqual({ size: small.byteLength });
      expect(await store.put("firm-1/attachment/b", chunked(large, 64 * 1024))).toEqual({
        size: large.byteLength,
      });
      expect((await bytesOf(await store.get("firm-1/source/a.eml")))!.equals(Buffer.from(small))).toBe(true);
      expect((await bytesOf(await store.get("firm-1/attachment/b")))!.equals(large)).toBe(true);
      expect(await store.get("firm-1/source/missing.eml")).toBeUndefined();
    });

    it("R11: a put replaces the blob whole; delete removes it and is idempotent", async () => {
      const store = await options.makeStore();
      await store.put("f/x", new Uint8Array([1, 2, 3, 4]));
      await store.put("f/x", new Uint8Array([9]));
      expect([...(await bytesOf(await store.get("f/x")))!]).toEqual([9]);
      await store.delete("f/x");
      await store.delete("f/x");
      expect(await store.get("f/x")).toBeUndefined();
    });

    it("R8: a put that fails part way leaves the previous blob, never half of the new one", async () => {
      const store = await options.makeStore();
      await store.put("f/y", new Uint8Array([7, 7, 7]));
      async function* broken(): AsyncIterable<Uint8Array> {
        yield new Uint8Array([1, 2]);
        throw new Error("connection lost");
      }
      await expect(store.put("f/y", broken())).rejects.toThrow();
      expect([...(await bytesOf(await store.get("f/y")))!]).toEqual([7, 7, 7]);
    });

    it("keys that could leave the store's namespace are refused with validation_failed", async () => {
      const store = await options.makeStore();
      for (const key of ["", "../etc/passwd", "a/../../b", "/abs", "a//b", "a/b\u0000", "a b"]) {
        const error = await store.put(key, new Uint8Array([1])).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(ClientMailError.hasCode(error, "validation_failed"), JSON.stringify(key)).toBe(true);
      }
    });
  });
}
