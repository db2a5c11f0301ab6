/**
 * `fetch`: the envelope (with threading headers and PR_MESSAGE_SIZE) of up to 20 messages
 * through one `$batch`, then each MIME source (`$value`), in parallel within the mailbox's
 * concurrency limit, parsed by the parser every provider shares.
 *
 * R7: a message whose size is over `maxMessageBytes` is yielded as `too_large` without being
 * downloaded; every `$value` streams into a spool (in memory while small, else a temporary file),
 * and a download that passes the limit (the size Graph reports is approximate) is dropped and
 * reported `too_large`. A body shorter than its Content-Length is retried, never parsed. The
 * spools are released when the fetch's iteration ends.
 *
 * R1: a message that is gone (404, in the batch or on `$value`) is skipped; throttling and 5xx
 * are retried, then thrown; 401/403 are thrown (`auth_revoked`); any other refusal of one message
 * sets it aside as `server_refused`, and the rest of the batch is delivered.
 */
import { ClientMailError, type FetchResult } from "@clientmail/core";
import type { CallOptions } from "@clientmail/core/ports";
import {
  MessageRefusedError,
  SpoolLimitError,
  isolateFailures,
  parseRawMessage,
  readPrefix,
  tooLarge,
  unreadable,
  withSpoolArea,
  type SpoolArea,
  type SpooledBytes,
} from "@clientmail/provider-utils";
import { BATCH_LIMIT, batchGet } from "./batch.js";
import { completeFromSource, toEnvelope, type GraphMessage } from "./envelope.js";
import { graphErrorCode } from "./errors.js";
import type { GraphContext } from "./graph-context.js";

const headerProbeBytes = 256 * 1024;

type Download =
  | { source: SpooledBytes }
  | { gone: true }
  | { refused: string }
  | { tooLarge: { size: number; limit: number } };

async function download(
  context: GraphContext,
  area: SpoolArea,
  id: string,
  signal: AbortSignal | undefined,
): Promise<Download> {
  try {
    const source = await context.http.sendStream(
      {
        method: "GET",
        url: `${context.settings.userPath}/messages/${encodeURIComponent(id)}/$value`,
        signal,
      },
      async (body) => {
        const writer = area.writer(context.settings.maxMessageBytes);
        try {
          for await (const chunk of body) await writer.write(chunk);
          return await writer.finish();
        } catch (error) {
          await writer.abort();
          throw error;
        }
      },
    );
    return { source };
  } catch (error) {
    if (error instanceof SpoolLimitError)
      return { tooLarge: { size: error.seenBytes, limit: error.limitBytes } };
    if (ClientMailError.hasCode(error, "not_found")) return { gone: true };
    // Anything else not retryable and not about the grant concerns this message alone.
    if (
      ClientMailError.hasCode(error, "internal") &&
      !error.retryable &&
      typeof error.details.status === "number"
    )
      return {
        refused:
          `Graph ${error.details.status} ${typeof error.details.graphCode === "string" ? error.details.graphCode : ""}`.trim(),
      };
    throw error;
  }
}

async function* fetchGroup(
  context: GraphContext,
  area: SpoolArea,
  ids: readonly string[],
  signal: AbortSignal | undefined,
): AsyncGenerator<FetchResult> {
  const folderNames = await context.folderIds(signal);
  const batch = await batchGet(context, ids, (id) => context.messageUrl(id, "headers"), signal);
  const limit = context.settings.maxMessageBytes;
  const found: Array<readonly [string, GraphMessage]> = [];
  for (const id of ids) {
    const message = batch.found.get(id);
    if (!message) continue;
    const size = toEnvelope(message, "").size;
    if (size > limit) yield tooLarge(id, size, limit);
    else found.push([id, message]);
  }
  // Downloads run in parallel; the limiter keeps them within the mailbox's budget, the spool
  // area keeps what they bring within its memory budget (R7).
  // Every download settles before a failure is thrown: one still writing its spool when the
  // iteration ends (and the spool area is released) would fail with a file error of its own.
  const settled = await Promise.allSettled(found.map(([id]) => download(context, area, id, signal)));
  const failed = settled.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
  const downloads = settled.map((result) => (result as PromiseFulfilledResult<Download>).value);
  for (const [index, [id, metadata]] of found.entries()) {
    const outcome = downloads[index]!;
    if ("gone" in outcome) continue;
    if ("refused" in outcome) {
      yield unreadable(id, "server_refused", outcome.refused);
      continue;
    }
    if ("tooLarge" in outcome) {
      yield tooLarge(id, outcome.tooLarge.size, outcome.tooLarge.limit);
      continue;
    }
    yield await parse(id, metadata, folderNames, outcome.source, area);
  }
  if (batch.refused.size > 0) {
    const [first] = batch.refused.values();
    throw new MessageRefusedError(`Graph ${first!.status} ${graphErrorCode(first!.body) ?? ""}`.trim(), {
      refusedIds: [...batch.refused.keys()],
    });
  }
}

async function parse(
  id: string,
  metadata: GraphMessage,
  folderNames: ReadonlyMap<string, string>,
  source: SpooledBytes,
  area: SpoolArea,
): Promise<FetchResult> {
  const folder = folderNames.get(metadata.parentFolderId ?? "") ?? metadata.parentFolderId ?? "";
  const listed = toEnvelope(metadata, folder);
  const head = await readPrefix(source, headerProbeBytes);
  const envelope = completeFromSource({ ...listed, providerId: id }, head);
  envelope.size = listed.size || source.size;
  return await parseRawMessage(source, envelope, { area });
}

/**
 * Yields one result per requested id that still exists. What a result spooled is readable until
 * the iteration ends.
 */
export function fetchMessages(
  context: GraphContext,
  providerIds: readonly string[],
  options: CallOptions,
): AsyncGenerator<FetchResult> {
  return withSpoolArea({}, async function* (area) {
    const ids = [...new Set(providerIds)];
    for (let i = 0; i < ids.length; i += BATCH_LIMIT) {
      yield* isolateFailures(ids.slice(i, i + BATCH_LIMIT), (group) =>
        fetchGroup(context, area, group, options.signal),
      );
    }
  });
}
