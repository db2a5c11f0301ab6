/**
 * `fetch`, bounded by bytes (R7). Gmail sends a source as base64 inside JSON, so a batch answer
 * is read whole: batches are bounded by the messages' `sizeEstimate` (known from the listing or
 * search that found them, see {@link MessageSizes}), at most {@link BATCH_BYTES} per batch. A
 * message over {@link SINGLE_FETCH_BYTES}, or whose size is not known, is read alone, its `raw`
 * decoded as it streams in (see `raw-stream.ts`) straight into a spool; a message over
 * `maxMessageBytes` is not read at all when its size is known, and dropped as soon as its
 * download passes the limit when not: either way it is yielded as `too_large`. Sources (and the
 * search prefetch, when on) are spooled and parsed by the parser every provider shares; the
 * spools are released when the fetch's iteration ends.
 *
 * R1: a per-message 404 means the message is gone (skipped); a per-message rate limit or 5xx is
 * not about the message (retried, then thrown as `rate_limited` / `transient`); a per-message 401
 * or 403 concerns the grant (thrown); any other per-message refusal sets that message aside as
 * `server_refused`, and the rest of the batch is delivered.
 */
import type { FetchResult } from "@clientmail/core";
import type { CallOptions } from "@clientmail/core/ports";
import {
  MessageRefusedError,
  SpoolLimitError,
  headerBlockOf,
  isolateFailures,
  parseRawMessage,
  readPrefix,
  tooLarge,
  unreadable,
  withSpoolArea,
  type SpoolArea,
  type SpooledBytes,
} from "@clientmail/provider-utils";
import { decodeRaw, envelopeFrom, type GmailMessageResource } from "./envelope.js";
import { getMessages, isGone, rawPath, type MessageReader } from "./batch.js";
import type { Prefetch } from "./prefetch.js";
import { RawMessageReader } from "./raw-stream.js";
import type { MessageSizes } from "./sizes.js";

/** Sum of `sizeEstimate` per batch of sources, at most (the answer is about 4/3 of it, base64). */
export const BATCH_BYTES = 4 * 2 ** 20;
/** A message larger than this (or of unknown size) is read alone, streamed. */
export const SINGLE_FETCH_BYTES = 2 ** 20;
const headerProbeBytes = 256 * 1024;

/** What fetching needs. */
export interface FetchContext {
  reader: MessageReader;
  prefetch: Prefetch | undefined;
  sizes: MessageSizes;
  limitBytes: number;
}

interface Call {
  context: FetchContext;
  area: SpoolArea;
  signal: AbortSignal | undefined;
}

async function parse(call: Call, message: GmailMessageResource, source: SpooledBytes): Promise<FetchResult> {
  const head = headerBlockOf(await readPrefix(source, headerProbeBytes));
  return await parseRawMessage(source, envelopeFrom(message, head), { area: call.area });
}

async function parseHeld(call: Call, message: GmailMessageResource, source: Buffer): Promise<FetchResult> {
  if (source.length > call.context.limitBytes)
    return tooLarge(message.id, source.length, call.context.limitBytes);
  return await parse(call, message, await call.area.spool(source));
}

async function* fetchBatch(call: Call, ids: readonly string[]): AsyncGenerator<FetchResult> {
  for await (const batch of getMessages(call.context.reader, ids, rawPath, call.signal)) {
    for (const [index, message] of batch.found.entries()) {
      if (message.raw === undefined) continue;
      const { raw, ...rest } = message;
      // Let go of each base64 string once decoded: only the spools stay.
      batch.found[index] = rest;
      yield await parseHeld(call, rest, decodeRaw(raw));
    }
    if (batch.refused.length > 0) {
      const [first] = batch.refused;
      throw new MessageRefusedError(`Gmail ${first!.failure.status} ${first!.failure.reason ?? ""}`.trim(), {
        refusedIds: batch.refused.map((entry) => entry.id),
      });
    }
  }
}

/** One message read alone, its `raw` decoded into a spool as it arrives. */
async function* fetchSingle(call: Call, id: string): AsyncGenerator<FetchResult> {
  const { area, context } = call;
  let result;
  try {
    result = await context.reader.http.streamGet(
      "users.messages.get",
      rawPath(id),
      async (body) => {
        const writer = area.writer(context.limitBytes);
        try {
          const reader = new RawMessageReader();
          for await (const chunk of body) for (const piece of reader.push(chunk)) await writer.write(piece);
          const message = reader.end();
          return { message, source: await writer.finish() };
        } catch (error) {
          await writer.abort();
          throw error;
        }
      },
      call.signal,
    );
  } catch (error) {
    if (error instanceof SpoolLimitError) {
      yield tooLarge(id, error.seenBytes, error.limitBytes);
      return;
    }
    throw error;
  }
  if (!result.ok) {
    if (isGone(result.failure)) return;
    yield unreadable(
      id,
      "server_refused",
      `Gmail ${result.failure.status} ${result.failure.reason ?? ""}`.trim(),
    );
    return;
  }
  const { message, source } = result.value;
  if (message.raw === undefined) return;
  yield await parse(call, message, source);
}

/**
 * Yields one result per requested id that still exists (see the module comment). What a result
 * spooled is readable until the iteration ends.
 */
export function fetchMessages(
  context: FetchContext,
  providerIds: readonly string[],
  options: CallOptions,
): AsyncGenerator<FetchResult> {
  return withSpoolArea({}, async function* (area) {
    const call: Call = { context, area, signal: options.signal };
    let batch: string[] = [];
    let batchBytes = 0;
    const flush = async function* () {
      const ids = batch;
      batch = [];
      batchBytes = 0;
      yield* isolateFailures(ids, (group) => fetchBatch(call, group));
    };
    for (const id of new Set(providerIds)) {
      const cached = context.prefetch?.take(id);
      if (cached) {
        yield await parseHeld(call, cached.message, cached.source);
        continue;
      }
      const size = context.sizes.get(id);
      if (size !== undefined && size > context.limitBytes) {
        yield tooLarge(id, size, context.limitBytes);
        continue;
      }
      if (size === undefined || size > SINGLE_FETCH_BYTES) {
        yield* fetchSingle(call, id);
        continue;
      }
      if (batch.length >= context.reader.batchSize || (batch.length > 0 && batchBytes + size > BATCH_BYTES))
        yield* flush();
      batch.push(id);
      batchBytes += size;
    }
    if (batch.length > 0) yield* flush();
  });
}
