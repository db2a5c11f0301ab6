/**
 * `fetch`, bounded by bytes (R7). Each message's size comes from the listing that just reported it
 * (see `ListedSizes`) or else from one `UID FETCH (RFC822.SIZE)` per folder; then
 * - a message over `maxMessageBytes` is yielded as `too_large`, never downloaded;
 * - messages up to {@link STREAM_PIECE_BYTES} are fetched whole, several per streamed
 *   `UID FETCH (BODY.PEEK[])`: at most {@link FETCH_CHUNK} messages and {@link FETCH_CHUNK_BYTES}
 *   bytes per chunk;
 * - a larger message (or one whose size the server would not tell) is downloaded alone in partial
 *   fetches (`BODY.PEEK[]<offset.length>`) of {@link STREAM_PIECE_BYTES}, each its own command
 *   with its own deadline (R3), straight into a spool: it is never held whole, and a download
 *   that passes the limit is dropped and reported `too_large`.
 * Every source is spooled (in memory while small, else in a temporary file, see provider-utils'
 * `SpoolArea`) and parsed as a stream; the spools are released when the fetch's iteration ends.
 * The envelope comes from the source's own header block: asking for the header fields as well
 * would make the server send, and imapflow tokenise, them twice.
 *
 * R1: a `NO` to a chunk's FETCH while the connection stays usable is about the chunk's messages,
 * not the connection: the chunk is fetched again one message at a time, and a message the server
 * refuses alone is yielded as `server_refused`. A dropped connection, a refused reconnect or a
 * command past its deadline is thrown as `transient`, and no message is marked.
 */
import { ClientMailError, type FetchResult } from "@clientmail/core";
import type { CallOptions } from "@clientmail/core/ports";
import {
  MessageRefusedError,
  SpoolLimitError,
  headerBlockOf,
  isolateFailures,
  parseRawMessage,
  readPrefix,
  throwIfAborted,
  tooLarge,
  withSpoolArea,
  type SpoolArea,
} from "@clientmail/provider-utils";
import type { FetchMessageObject, FetchQueryObject, ImapFlow } from "imapflow";
import type { ImapConnection } from "./connection.js";
import { parseProviderId, providerIdOf, toRanges } from "./cursor.js";
import { offersThreadIds, toEnvelope, uidCompare } from "./envelope.js";

/** Messages per batched content FETCH, at most. */
export const FETCH_CHUNK = 32;
/** Bytes of content per batched FETCH, at most (by RFC822.SIZE). */
export const FETCH_CHUNK_BYTES = 8 * 2 ** 20;
/** A message larger than this is downloaded alone, in partial fetches of this size. */
export const STREAM_PIECE_BYTES = 2 * 2 ** 20;
/** The most of a source read to find its header block. */
const headerProbeBytes = 256 * 1024;

interface FolderGroup {
  path: string;
  uidValidity: string;
}

/** Response codes of a `NO` that concern the folder or the server as a whole, never one message. */
const folderLevelCodes = new Set(["UNAVAILABLE", "INUSE", "NONEXISTENT", "NOPERM"]);

function responseCodeOf(error: unknown): string {
  const code = (error as { serverResponseCode?: unknown } | null)?.serverResponseCode;
  return typeof code === "string" ? code.toUpperCase() : "";
}

/**
 * The server answered the FETCH with `NO` for reasons of its messages: a `NO` (not `BAD`, not a
 * dropped connection) without a code, or with a code such as `SERVERBUG` or `LIMIT` that a
 * server also gives for a message it cannot read. Whether it concerns one message is what the
 * one-by-one retry then finds out.
 */
function isMessageRefusal(error: unknown): boolean {
  if ((error as { responseStatus?: unknown } | null)?.responseStatus !== "NO") return false;
  return !folderLevelCodes.has(responseCodeOf(error));
}

function refusalDetail(error: unknown): string {
  const code = responseCodeOf(error);
  return code === "" ? "IMAP NO" : `IMAP NO [${code}]`;
}

function sameFolder(client: ImapFlow, group: FolderGroup): boolean {
  return client.mailbox !== false && String(client.mailbox.uidValidity) === group.uidValidity;
}

function metadataQuery(client: ImapFlow): FetchQueryObject {
  return {
    uid: true,
    flags: true,
    internalDate: true,
    ...(offersThreadIds(client) ? { threadId: true } : {}),
  };
}

/** What the fetch needs besides the connection. */
interface FetchContext {
  connection: ImapConnection;
  area: SpoolArea;
  limitBytes: number;
  signal: AbortSignal | undefined;
}

/**
 * RFC822.SIZE of `uids` (those still there). Undefined when the server refused to tell on a
 * healthy connection: every message is then downloaded alone, which works whatever the size.
 */
async function sizesOf(
  context: FetchContext,
  group: FolderGroup,
  uids: readonly number[],
): Promise<Map<number, number> | undefined> {
  return await context.connection.inFolder(
    group.path,
    { operation: "fetch", signal: context.signal },
    async (client: ImapFlow) => {
      const sizes = new Map<number, number>();
      // No fresh SELECT: UIDVALIDITY cannot change within a session (RFC 3501 §2.3.1.1), and a
      // re-SELECT per call costs a round trip and a mailbox scan on the server.
      if (!sameFolder(client, group)) return sizes;
      try {
        for await (const message of client.fetch(toRanges(uids), { uid: true, size: true }, { uid: true }))
          if (typeof message.size === "number") sizes.set(message.uid, message.size);
      } catch (error) {
        if (responseCodeOf(error) === "EXPUNGEISSUED" && client.usable) return sizes;
        if (isMessageRefusal(error) && client.usable) return undefined;
        throw error;
      }
      return sizes;
    },
  );
}

async function parsed(
  context: FetchContext,
  group: FolderGroup,
  message: FetchMessageObject,
  source: Parameters<typeof parseRawMessage>[0],
  size: number,
): Promise<FetchResult> {
  const spooled = Buffer.isBuffer(source) ? await context.area.spool(source) : source;
  // A source held whole gives its header block without reading the spool back.
  const head = Buffer.isBuffer(source)
    ? source.subarray(0, headerProbeBytes)
    : await readPrefix(spooled, headerProbeBytes);
  const envelope = toEnvelope(group.path, group.uidValidity, {
    ...message,
    size,
    headers: headerBlockOf(head),
  });
  return await parseRawMessage(spooled, envelope, { area: context.area });
}

/** What one chunk's content FETCH brought: the messages that arrived, and a per-message refusal. */
interface LoadedChunk {
  sources: FetchMessageObject[];
  refusal: MessageRefusedError | undefined;
}

/** The content FETCH of one chunk of small messages (one command). */
async function loadChunk(
  context: FetchContext,
  group: FolderGroup,
  ids: readonly string[],
): Promise<LoadedChunk> {
  const uids = ids.map((id) => parseProviderId(id)!.uid).sort(uidCompare);
  const wanted = new Set(uids);
  return await context.connection.inFolder(
    group.path,
    { operation: "fetch", signal: context.signal },
    async (client: ImapFlow) => {
      if (!sameFolder(client, group)) return { sources: [] as FetchMessageObject[], refusal: undefined };
      const query = { ...metadataQuery(client), source: true };
      const arrived: FetchMessageObject[] = [];
      // A server that cannot read a message may still answer for it, without the body (Dovecot
      // with `imap_fetch_failure = no-after`): that message is the one it refused.
      const withoutBody: string[] = [];
      const idOf = (uid: number) => providerIdOf(group.path, group.uidValidity, uid);
      try {
        for await (const message of client.fetch(toRanges(uids), query, { uid: true })) {
          if (!wanted.has(message.uid)) continue;
          if (message.source === undefined) withoutBody.push(idOf(message.uid));
          else arrived.push(message);
        }
      } catch (error) {
        // RFC 5530: some of the messages were expunged meanwhile; what arrived is all there is.
        if (responseCodeOf(error) === "EXPUNGEISSUED" && client.usable)
          return { sources: arrived, refusal: undefined };
        if (isMessageRefusal(error) && client.usable) {
          const refusal = new MessageRefusedError(refusalDetail(error), {
            refusedIds: withoutBody,
            cause: error,
          });
          return { sources: arrived, refusal };
        }
        throw error;
      }
      const refusal =
        withoutBody.length === 0
          ? undefined
          : new MessageRefusedError("IMAP FETCH answered without the message body", {
              refusedIds: withoutBody,
            });
      return { sources: arrived, refusal };
    },
  );
}

/**
 * Fetches one chunk of small messages whole; delivers what arrived, then reports a per-message
 * refusal. `loaded` is the chunk's FETCH when it was started ahead (see {@link fetchFolder}).
 */
async function* fetchChunk(
  context: FetchContext,
  group: FolderGroup,
  ids: readonly string[],
  loaded?: Promise<LoadedChunk>,
): AsyncGenerator<FetchResult> {
  const { sources, refusal } = await (loaded ?? loadChunk(context, group, ids));
  for (const [index, message] of sources.entries()) {
    const source = message.source!;
    // Let go of the chunk's buffers as they are spooled: only the spools stay.
    sources[index] = { ...message, source: undefined };
    const id = providerIdOf(group.path, group.uidValidity, message.uid);
    if (source.length > context.limitBytes) yield tooLarge(id, source.length, context.limitBytes);
    else yield await parsed(context, group, message, source, source.length);
  }
  if (refusal) throw refusal;
}

/** One partial fetch: bytes, or the message is gone, or the server refused it alone. */
type Piece = { gone: true } | { refused: string } | { row: FetchMessageObject; bytes: Buffer };

/**
 * Downloads one message in partial fetches, each its own command (R3), into a spool (R7); see
 * the module comment. Yields nothing when the message is gone.
 */
async function* fetchStreamed(
  context: FetchContext,
  group: FolderGroup,
  id: string,
): AsyncGenerator<FetchResult> {
  const uid = parseProviderId(id)!.uid;
  const writer = context.area.writer(context.limitBytes);
  let metadata: FetchMessageObject | undefined;
  try {
    for (let offset = 0; ;) {
      throwIfAborted(context.signal, "imap");
      const piece = await context.connection.inFolder(
        group.path,
        { operation: "fetch", signal: context.signal },
        async (client: ImapFlow): Promise<Piece> => {
          if (!sameFolder(client, group)) return { gone: true };
          const query: FetchQueryObject = {
            ...(offset === 0 ? metadataQuery(client) : { uid: true }),
            source: { start: offset, maxLength: STREAM_PIECE_BYTES },
          };
          try {
            const row = await client.fetchOne(String(uid), query, { uid: true });
            if (row === false) return { gone: true };
            if (row.source === undefined && offset === 0)
              return { refused: "IMAP FETCH answered without the message body" };
            return { row, bytes: row.source ?? Buffer.alloc(0) };
          } catch (error) {
            if (responseCodeOf(error) === "EXPUNGEISSUED" && client.usable) return { gone: true };
            if (isMessageRefusal(error) && client.usable) return { refused: refusalDetail(error) };
            throw error;
          }
        },
      );
      if ("gone" in piece) {
        await writer.abort();
        return;
      }
      if ("refused" in piece) {
        await writer.abort();
        throw new MessageRefusedError(piece.refused, { refusedIds: [id] });
      }
      metadata ??= piece.row;
      await writer.write(piece.bytes);
      offset += piece.bytes.length;
      if (piece.bytes.length < STREAM_PIECE_BYTES) break;
    }
  } catch (error) {
    if (error instanceof SpoolLimitError) {
      yield tooLarge(id, error.seenBytes, error.limitBytes);
      return;
    }
    await writer.abort();
    throw error;
  }
  const spooled = await writer.finish();
  yield await parsed(context, group, metadata, spooled, spooled.size);
}

/**
 * The sizes of `uids` as the listing reported them, when it reported every one of them: a UID's
 * size never changes, so the `UID FETCH (RFC822.SIZE)` round trip is spared. A message expunged
 * since then is simply not answered by the content FETCH.
 */
function listedSizesOf(
  context: FetchContext,
  group: FolderGroup,
  uids: readonly number[],
): Map<number, number> | undefined {
  const sizes = new Map<number, number>();
  for (const uid of uids) {
    const size = context.connection.listedSizes.get(providerIdOf(group.path, group.uidValidity, uid));
    if (size === undefined) return undefined;
    sizes.set(uid, size);
  }
  return sizes;
}

/** Plans and fetches the ids of one folder (see the module comment). */
async function* fetchFolder(
  context: FetchContext,
  group: FolderGroup,
  uids: readonly number[],
): AsyncGenerator<FetchResult> {
  const sizes = listedSizesOf(context, group, uids) ?? (await sizesOf(context, group, uids));
  const idOf = (uid: number) => providerIdOf(group.path, group.uidValidity, uid);
  // The plan: each id is set aside as too large, downloaded alone, or fetched in a chunk.
  type Step =
    | { kind: "too-large"; id: string; size: number }
    | { kind: "streamed"; id: string }
    | { kind: "chunk"; ids: string[] };
  const steps: Step[] = [];
  let chunk: string[] = [];
  let chunkBytes = 0;
  for (const uid of uids) {
    const id = idOf(uid);
    const size = sizes?.get(uid);
    if (sizes && size === undefined) continue; // gone since it was listed
    if (size !== undefined && size > context.limitBytes) {
      steps.push({ kind: "too-large", id, size });
      continue;
    }
    if (size === undefined || size > STREAM_PIECE_BYTES) {
      steps.push({ kind: "streamed", id });
      continue;
    }
    if (chunk.length >= FETCH_CHUNK || (chunk.length > 0 && chunkBytes + size > FETCH_CHUNK_BYTES)) {
      steps.push({ kind: "chunk", ids: chunk });
      chunk = [];
      chunkBytes = 0;
    }
    chunk.push(id);
    chunkBytes += size;
  }
  if (chunk.length > 0) steps.push({ kind: "chunk", ids: chunk });
  // The next chunk's FETCH is sent while this one is parsed, so the server is not left idle
  // meanwhile; at most two chunks' bytes are held (R7).
  let ahead: Promise<LoadedChunk> | undefined;
  for (const [index, step] of steps.entries()) {
    throwIfAborted(context.signal, "imap");
    if (step.kind === "too-large") {
      yield tooLarge(step.id, step.size, context.limitBytes);
      continue;
    }
    if (step.kind === "streamed") {
      yield* isolateFailures([step.id], () => fetchStreamed(context, group, step.id));
      continue;
    }
    const loaded = ahead ?? loadChunk(context, group, step.ids);
    ahead = undefined;
    const next = steps[index + 1];
    if (next?.kind === "chunk") {
      const started = loaded.then(() => loadChunk(context, group, next.ids));
      // Observed now; a failure is thrown when the next chunk is reached.
      started.catch(() => undefined);
      ahead = started;
    }
    let first = true;
    yield* isolateFailures(step.ids, (part) => {
      // The chunk's own FETCH is used once; a retry of part of it (after a refusal) fetches anew.
      const use = first && part.length === step.ids.length ? loaded : undefined;
      first = false;
      return fetchChunk(context, group, part, use);
    });
  }
}

/**
 * Yields one result per requested id that still exists (see the module comment). Ids that are
 * not this provider's, or whose folder or UIDVALIDITY is gone, are skipped: those copies no
 * longer exist. What a result spooled is readable until the iteration ends.
 */
export function fetchMessages(
  connection: ImapConnection,
  providerIds: readonly string[],
  options: CallOptions,
): AsyncGenerator<FetchResult> {
  return withSpoolArea({}, async function* (area) {
    const context: FetchContext = {
      connection,
      area,
      limitBytes: connection.config.maxMessageBytes,
      signal: options.signal,
    };
    const groups = new Map<string, { group: FolderGroup; uids: Set<number> }>();
    for (const id of providerIds) {
      const parsedId = parseProviderId(id);
      if (!parsedId) continue;
      const key = `${parsedId.uidValidity}:${parsedId.folder}`;
      const entry = groups.get(key) ?? {
        group: { path: parsedId.folder, uidValidity: parsedId.uidValidity },
        uids: new Set<number>(),
      };
      entry.uids.add(parsedId.uid);
      groups.set(key, entry);
    }
    for (const { group, uids } of groups.values()) {
      try {
        yield* fetchFolder(context, group, [...uids].sort(uidCompare));
      } catch (error) {
        // A deleted folder means its messages no longer exist: skipped, as for deleted messages.
        if (ClientMailError.hasCode(error, "not_found")) continue;
        throw error;
      }
    }
  });
}
