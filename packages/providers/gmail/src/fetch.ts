/**
 * `fetch`: the raw source of each requested id (taken from the search prefetch when it is
 * there), parsed by the parser every provider shares. Batches go through the batch endpoint.
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
  headerBlockOf,
  isolateFailures,
  parseRawMessage,
} from "@clientmail/provider-utils";
import { decodeRaw, envelopeFrom, type GmailMessageResource } from "./envelope.js";
import { getMessages, rawPath, type MessageReader } from "./batch.js";
import type { Prefetch } from "./prefetch.js";

async function parse(message: GmailMessageResource, source: Buffer): Promise<FetchResult> {
  return await parseRawMessage(source, envelopeFrom(message, headerBlockOf(source)));
}

async function* fetchBatch(
  reader: MessageReader,
  ids: readonly string[],
  signal: AbortSignal | undefined,
): AsyncGenerator<FetchResult> {
  for await (const batch of getMessages(reader, ids, rawPath, signal)) {
    for (const message of batch.found) {
      if (message.raw === undefined) continue;
      const { raw, ...rest } = message;
      yield await parse(rest, decodeRaw(raw));
    }
    if (batch.refused.length > 0) {
      const [first] = batch.refused;
      throw new MessageRefusedError(`Gmail ${first!.failure.status} ${first!.failure.reason ?? ""}`.trim(), {
        refusedIds: batch.refused.map((entry) => entry.id),
      });
    }
  }
}

/** Yields one result per requested id that still exists. */
export async function* fetchMessages(
  reader: MessageReader,
  prefetch: Prefetch | undefined,
  providerIds: readonly string[],
  options: CallOptions,
): AsyncGenerator<FetchResult> {
  const missing: string[] = [];
  for (const id of new Set(providerIds)) {
    const cached = prefetch?.take(id);
    if (cached) yield await parse(cached.message, cached.source);
    else missing.push(id);
  }
  for (let start = 0; start < missing.length; start += reader.batchSize) {
    yield* isolateFailures(missing.slice(start, start + reader.batchSize), (ids) =>
      fetchBatch(reader, ids, options.signal),
    );
  }
}
