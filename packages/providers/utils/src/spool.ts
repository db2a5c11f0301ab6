/**
 * R7: bytes a provider receives and hands on later — a message's source, its decoded attachments —
 * are spooled: kept in memory while they are small and the area's budget allows, written to a
 * temporary file otherwise, and readable again as often as needed (the engine reads a source once
 * to keep it, a parser reads it once or twice). A worker's memory is then bounded by bytes, not by
 * how large the messages of a page happen to be.
 *
 * One {@link SpoolArea} serves one `fetch` call: everything it spooled is released when the call
 * ends (its files deleted). Files go to the operating system's temporary directory (`TMPDIR`),
 * in a folder of the area's own named `clientmail-spool-*`; a process that dies leaves them to the
 * system's temp cleaning, and one that exits normally removes them.
 */
import { rmSync } from "node:fs";
import { mkdtemp, open, rm, type FileHandle } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Bytes written once, readable any number of times until their area is disposed. */
export interface SpooledBytes {
  /** Total bytes. */
  readonly size: number;
  /** The bytes, in order, in chunks. Throws once the area was disposed. */
  read(): AsyncIterable<Uint8Array>;
}

/** Options of a {@link SpoolArea}. */
export interface SpoolAreaOptions {
  /** Bytes kept in memory at most, over every spool of the area. Default 16 MiB. */
  memoryBudgetBytes?: number | undefined;
  /** A spool that grows past this goes to a file whatever the budget. Default 1 MiB. */
  memoryPerSpoolBytes?: number | undefined;
  /** Where the area's folder is made. Default: the OS temporary directory. */
  directory?: string | undefined;
}

/** Thrown by a writer given more bytes than its limit; nothing of it is kept. */
export class SpoolLimitError extends Error {
  constructor(
    readonly limitBytes: number,
    readonly seenBytes: number,
  ) {
    super(`more than ${limitBytes} bytes`);
    this.name = "SpoolLimitError";
  }
}

/** Thrown when spooled bytes are read after their area was disposed (a caller kept them too long). */
export class SpoolReleasedError extends Error {
  constructor() {
    super("spooled bytes were read after the fetch that produced them ended");
    this.name = "SpoolReleasedError";
  }
}

const defaultMemoryBudget = 16 * 2 ** 20;
const defaultMemoryPerSpool = 2 ** 20;
const readChunkBytes = 256 * 1024;
/** Chunks bound for a file are gathered up to this many bytes per write. */
const writeBatchBytes = 256 * 1024;

/** Folders of areas still alive, removed when the process exits normally. */
const liveFolders = new Set<string>();
let exitHookInstalled = false;

function watchFolder(folder: string): void {
  liveFolders.add(folder);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const path of liveFolders) rmSync(path, { recursive: true, force: true });
  });
}

class Spool implements SpooledBytes {
  chunks: Uint8Array[] = [];
  path: string | undefined;
  size = 0;
  released = false;

  constructor(private readonly area: SpoolArea) {}

  get memoryBytes(): number {
    return this.path === undefined ? this.size : 0;
  }

  async *read(): AsyncGenerator<Uint8Array> {
    if (this.released) throw new SpoolReleasedError();
    if (this.path === undefined) {
      for (const chunk of this.chunks) yield chunk;
      return;
    }
    const stream = createReadStream(this.path, { highWaterMark: readChunkBytes });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (this.released) throw new SpoolReleasedError();
        yield chunk;
      }
    } finally {
      stream.destroy();
    }
  }

  /** Frees what it holds now, before the area ends. */
  async discard(): Promise<void> {
    await this.area.discard(this);
  }
}

/** Writes one spool, chunk by chunk; see {@link SpoolArea.writer}. */
export class SpoolWriter {
  private handle: FileHandle | undefined;
  private done = false;
  /** Small chunks bound for the file, written together (a parser hands out lines). */
  private buffered: Uint8Array[] = [];
  private bufferedBytes = 0;

  constructor(
    private readonly area: SpoolArea,
    private readonly spool: Spool,
    private readonly limitBytes: number | undefined,
  ) {}

  /** Bytes written so far. */
  get size(): number {
    return this.spool.size;
  }

  /**
   * Appends `chunk` (kept by reference while in memory: the caller must not reuse it). Throws
   * {@link SpoolLimitError} when the limit is passed; the spool is then discarded.
   */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.done) throw new Error("spool writer already finished");
    if (chunk.length === 0) return;
    const spool = this.spool;
    if (this.limitBytes !== undefined && spool.size + chunk.length > this.limitBytes) {
      const seen = spool.size + chunk.length;
      await this.abort();
      throw new SpoolLimitError(this.limitBytes, seen);
    }
    if (spool.path === undefined && this.area.keepInMemory(spool.size, chunk.length)) {
      spool.chunks.push(chunk);
      spool.size += chunk.length;
      return;
    }
    if (spool.path === undefined) {
      const { path, handle } = await this.area.newFile();
      spool.path = path;
      this.handle = handle;
      this.area.releaseMemory(spool.size);
      this.buffered = spool.chunks;
      this.bufferedBytes = spool.size;
      spool.chunks = [];
    }
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    spool.size += chunk.length;
    if (this.bufferedBytes >= writeBatchBytes) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffered.length === 0) return;
    const pending = this.buffered;
    this.buffered = [];
    this.bufferedBytes = 0;
    await this.handle!.writev(pending);
  }

  /** Ends the spool; its bytes are readable from now on. */
  async finish(): Promise<SpooledBytes> {
    if (!this.done) {
      this.done = true;
      if (this.handle) await this.flush();
      await this.handle?.close();
      this.handle = undefined;
    }
    return this.spool;
  }

  /** Drops what was written. */
  async abort(): Promise<void> {
    this.done = true;
    this.buffered = [];
    this.bufferedBytes = 0;
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    await this.area.discard(this.spool);
  }
}

/**
 * Where one fetch call spools its bytes; see the module comment. Not safe to share between
 * calls that end at different times: {@link dispose} releases everything at once.
 */
export class SpoolArea {
  private readonly memoryBudget: number;
  private readonly memoryPerSpool: number;
  private readonly directory: string;
  private folder: Promise<string> | undefined;
  private fileCount = 0;
  private inMemory = 0;
  private readonly spools = new Set<Spool>();
  private disposed = false;

  constructor(options: SpoolAreaOptions = {}) {
    this.memoryBudget = options.memoryBudgetBytes ?? defaultMemoryBudget;
    this.memoryPerSpool = options.memoryPerSpoolBytes ?? defaultMemoryPerSpool;
    this.directory = options.directory ?? tmpdir();
  }

  /** Bytes held in memory now, over all spools. */
  get memoryBytes(): number {
    return this.inMemory;
  }

  /** A writer for a new spool, refusing more than `limitBytes` when given. */
  writer(limitBytes?: number): SpoolWriter {
    if (this.disposed) throw new SpoolReleasedError();
    const spool = new Spool(this);
    this.spools.add(spool);
    return new SpoolWriter(this, spool, limitBytes);
  }

  /** Spools `content` whole (see {@link writer}). */
  async spool(content: Uint8Array | AsyncIterable<Uint8Array>, limitBytes?: number): Promise<SpooledBytes> {
    const writer = this.writer(limitBytes);
    try {
      if (content instanceof Uint8Array) await writer.write(content);
      else for await (const chunk of content) await writer.write(chunk);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return await writer.finish();
  }

  /** @internal Whether a spool of `held` bytes may keep `adding` more in memory; reserves them if so. */
  keepInMemory(held: number, adding: number): boolean {
    if (held + adding > this.memoryPerSpool || this.inMemory + adding > this.memoryBudget) return false;
    this.inMemory += adding;
    return true;
  }

  /** @internal */
  releaseMemory(bytes: number): void {
    this.inMemory -= bytes;
  }

  /** @internal A new file in the area's folder. */
  async newFile(): Promise<{ path: string; handle: FileHandle }> {
    if (this.disposed) throw new SpoolReleasedError();
    this.folder ??= mkdtemp(join(this.directory, "clientmail-spool-")).then((folder) => {
      watchFolder(folder);
      return folder;
    });
    const folder = await this.folder;
    // Released while the folder was being made: its files are gone, and so is this spool's reader.
    if (this.disposed) throw new SpoolReleasedError();
    const path = join(folder, String(this.fileCount++));
    try {
      return { path, handle: await open(path, "w", 0o600) };
    } catch (error) {
      if (this.disposed) throw new SpoolReleasedError();
      throw error;
    }
  }

  /** @internal */
  async discard(spool: Spool): Promise<void> {
    if (spool.released) return;
    spool.released = true;
    this.inMemory -= spool.memoryBytes;
    spool.chunks = [];
    this.spools.delete(spool);
    if (spool.path !== undefined) await rm(spool.path, { force: true });
  }

  /** Releases every spool: memory dropped, files deleted. Later reads throw. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const spool of this.spools) {
      spool.released = true;
      spool.chunks = [];
    }
    this.spools.clear();
    this.inMemory = 0;
    const folder = await this.folder?.catch(() => undefined);
    if (folder !== undefined) {
      await rm(folder, { recursive: true, force: true });
      liveFolders.delete(folder);
    }
  }
}

/** Bytes already in memory, as {@link SpooledBytes} (nothing is copied; nothing to dispose). */
export function inMemory(bytes: Uint8Array): SpooledBytes {
  return {
    size: bytes.length,
    async *read() {
      yield bytes;
    },
  };
}

/**
 * Runs `body` with a fresh {@link SpoolArea} and disposes it when the iteration ends, however it
 * ends: what the yielded values spooled is readable until the consumer stops iterating.
 */
export async function* withSpoolArea<T>(
  options: SpoolAreaOptions,
  body: (area: SpoolArea) => AsyncIterable<T>,
): AsyncGenerator<T> {
  const area = new SpoolArea(options);
  try {
    yield* body(area);
  } finally {
    await area.dispose();
  }
}

/** The first `maxBytes` of `bytes` (less when it is shorter), e.g. to read a header block. */
export async function readPrefix(bytes: SpooledBytes, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of bytes.read()) {
    const take = Math.min(chunk.length, maxBytes - size);
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, take));
    size += take;
    if (size >= maxBytes) break;
  }
  return Buffer.concat(chunks);
}
