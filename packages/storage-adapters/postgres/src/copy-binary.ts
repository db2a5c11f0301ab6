/**
 * Rows in PostgreSQL's binary `COPY` format, for filing (see `fileMessages`).
 *
 * Written here rather than taken from a package: the format is a few fixed rules (a signature, a
 * field count per row, a length before each value) and we need five types of it, while the one
 * package that writes it (pg-copy-streams-binary) has had no release in years and transforms row
 * by row through object streams. The binary format spares both sides the text format's escaping:
 * Node no longer scans every body for backslashes, tabs and line ends, nor the server for the
 * escapes (bench:store). Format:
 * https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
 */
import { ClientMailError } from "@clientmail/core";

/** The column types filing writes; each value must be of the column's own type (no casts). */
export type CopyType = "text" | "jsonb" | "timestamptz" | "boolean" | "text[]";

/** A value of a {@link CopyType} (`null` for SQL NULL). */
export type CopyValue = string | Date | boolean | readonly string[] | null;

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");
/** PostgreSQL's epoch (2000-01-01 UTC) in Unix milliseconds. */
const POSTGRES_EPOCH_MS = 946_684_800_000;
/** `text`'s type OID, which an array's header names for its elements. */
const TEXT_OID = 25;

function bytesOf(type: CopyType, value: Exclude<CopyValue, null>): number {
  switch (type) {
    case "text":
      return Buffer.byteLength(value as string, "utf8");
    case "jsonb":
      return 1 + Buffer.byteLength(value as string, "utf8");
    case "timestamptz":
      return 8;
    case "boolean":
      return 1;
    case "text[]": {
      if ((value as readonly string[]).length === 0) return 12;
      let bytes = 20;
      for (const item of value as readonly string[]) bytes += 4 + Buffer.byteLength(item, "utf8");
      return bytes;
    }
  }
}

function write(buffer: Buffer, offset: number, type: CopyType, value: Exclude<CopyValue, null>): number {
  switch (type) {
    case "text":
      return offset + buffer.write(value as string, offset, "utf8");
    case "jsonb":
      buffer[offset] = 1; // jsonb's binary version
      return offset + 1 + buffer.write(value as string, offset + 1, "utf8");
    case "timestamptz":
      buffer.writeBigInt64BE(BigInt((value as Date).getTime() - POSTGRES_EPOCH_MS) * 1000n, offset);
      return offset + 8;
    case "boolean":
      buffer[offset] = value ? 1 : 0;
      return offset + 1;
    case "text[]": {
      const items = value as readonly string[];
      // Dimensions (none when empty), no NULLs, element type; then length, lower bound 1 and
      // each element.
      offset = buffer.writeInt32BE(items.length === 0 ? 0 : 1, offset);
      offset = buffer.writeInt32BE(0, offset);
      offset = buffer.writeInt32BE(TEXT_OID, offset);
      if (items.length === 0) return offset;
      offset = buffer.writeInt32BE(items.length, offset);
      offset = buffer.writeInt32BE(1, offset);
      for (const item of items) {
        const length = Buffer.byteLength(item, "utf8");
        offset = buffer.writeInt32BE(length, offset);
        offset += buffer.write(item, offset, "utf8");
      }
      return offset;
    }
  }
}

const MiB = 1024 * 1024;

/**
 * Memory kept for COPY input between batches. A batch's input is several megabytes; writing it
 * into fresh memory each time costs the kernel mapping and zeroing every page again, which cost
 * more than the writing itself (docs/decisions.md, "Store filing speed", third round). At most
 * {@link CopyBuffers.KEPT} buffers are kept, none above {@link CopyBuffers.LARGEST}, so an idle
 * store holds at most 16 MiB; a larger input gets memory of its own that is not kept.
 *
 * A buffer is out of the pool from `take` until `give`, so concurrent transactions never share
 * one; give a buffer back only once nothing reads it any more (after its COPY has finished).
 */
export class CopyBuffers {
  /** How many buffers are kept at most. */
  static readonly KEPT = 2;
  /** The largest buffer kept, in bytes. */
  static readonly LARGEST = 8 * MiB;
  /** Kept memory, largest first. */
  readonly #kept: ArrayBuffer[] = [];

  /** `bytes` bytes of memory (contents undefined): the smallest kept buffer that fits, or new memory. */
  take(bytes: number): Buffer {
    for (let i = this.#kept.length - 1; i >= 0; i--) {
      const memory = this.#kept[i]!;
      if (memory.byteLength >= bytes) {
        this.#kept.splice(i, 1);
        return Buffer.from(memory, 0, bytes);
      }
    }
    // Whole mebibytes, so a batch slightly larger than the last still fits the memory kept.
    return Buffer.from(new ArrayBuffer(Math.max(MiB, Math.ceil(bytes / MiB) * MiB)), 0, bytes);
  }

  /** Gives back memory from {@link take}, to serve a later statement. */
  give(buffer: Buffer): void {
    const memory = buffer.buffer;
    if (!(memory instanceof ArrayBuffer) || memory.byteLength > CopyBuffers.LARGEST) return;
    if (this.#kept.includes(memory)) return;
    this.#kept.push(memory);
    this.#kept.sort((a, b) => b.byteLength - a.byteLength);
    this.#kept.length = Math.min(this.#kept.length, CopyBuffers.KEPT);
  }

  /** The sizes of the buffers kept, largest first (for tests). */
  get kept(): readonly number[] {
    return this.#kept.map((m) => m.byteLength);
  }
}

/**
 * The whole `COPY … FROM STDIN (FORMAT binary)` input for `rows`, each row holding one value per
 * entry of `types`, in the order of the statement's column list; written into memory from
 * `buffers` when given (give it back once the COPY is done), else into memory of its own.
 */
export function copyBinary(
  types: readonly CopyType[],
  rows: readonly (readonly CopyValue[])[],
  buffers?: CopyBuffers,
): Buffer {
  // Sizes first, so that the whole input is one buffer written in place.
  const sizes: number[] = [];
  let total = SIGNATURE.length + 8 + 2;
  for (const row of rows) {
    total += 2;
    for (let i = 0; i < types.length; i++) {
      const value = row[i];
      const bytes = value === null || value === undefined ? 0 : bytesOf(types[i]!, value);
      sizes.push(bytes);
      total += 4 + bytes;
    }
  }
  const buffer = buffers ? buffers.take(total) : Buffer.allocUnsafe(total);
  let offset = SIGNATURE.copy(buffer, 0);
  offset = buffer.writeInt32BE(0, offset); // flags
  offset = buffer.writeInt32BE(0, offset); // header extension length
  let field = 0;
  for (const row of rows) {
    offset = buffer.writeInt16BE(types.length, offset);
    for (let i = 0; i < types.length; i++) {
      const value = row[i];
      if (value === null || value === undefined) {
        offset = buffer.writeInt32BE(-1, offset);
        field++;
        continue;
      }
      offset = buffer.writeInt32BE(sizes[field++]!, offset);
      offset = write(buffer, offset, types[i]!, value);
    }
  }
  offset = buffer.writeInt16BE(-1, offset); // trailer
  if (offset !== total) {
    throw new ClientMailError("internal", `The binary COPY input is ${offset} bytes; ${total} were planned`);
  }
  return buffer;
}
