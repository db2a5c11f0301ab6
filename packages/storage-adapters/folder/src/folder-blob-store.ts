/**
 * The BlobStore port on a local folder. Each blob is one file at its key's path under `dir`,
 * written to a temporary file in the same folder and renamed into place (atomic on POSIX
 * filesystems), then fsynced, so a crash never leaves a partial blob under a real name.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { ValidationError } from "@clientmail/core";
import type { BlobStore } from "@clientmail/core/ports";
import { checkBlobKey } from "./blob-key.js";

/** Settings of {@link createFolderBlobStore}. */
export interface FolderBlobStoreSettings {
  /** The folder blobs live in; created when missing. */
  dir: string;
}

/** Creates a blob store on a local folder. Throws a ValidationError for a missing `dir`. */
export function createFolderBlobStore(settings: FolderBlobStoreSettings): BlobStore {
  if (typeof settings?.dir !== "string" || settings.dir.trim() === "") {
    throw new ValidationError([{ field: "dir", value: settings?.dir, expected: "the path of a folder" }]);
  }
  const root = resolve(settings.dir);
  const pathOf = (key: string) => join(root, ...checkBlobKey(key));

  return {
    async put(key, content) {
      const path = pathOf(key);
      await mkdir(dirname(path), { recursive: true });
      const temporary = `${path}.${randomBytes(6).toString("hex")}.partial`;
      try {
        const source = content instanceof Uint8Array ? Readable.from([content]) : Readable.from(content);
        await pipeline(source, createWriteStream(temporary, { flags: "wx" }));
        const handle = await open(temporary, "r");
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temporary, path);
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
      return { size: (await stat(path)).size };
    },

    async get(key) {
      const path = pathOf(key);
      try {
        await stat(path);
      } catch {
        return undefined;
      }
      return createReadStream(path) as AsyncIterable<Uint8Array>;
    },

    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
  };
}
