/**
 * `fetch`: the envelope (with threading headers) of up to 20 messages through one `$batch`, then
 * each MIME source (`$value`), in parallel within the mailbox's concurrency limit, parsed by the
 * parser every provider shares.
 *
 * R1: a message that is gone (404, in the batch or on `$value`) is skipped; throttling and 5xx
 * are retried, then thrown; 401/403 are thrown (`auth_revoked`); any other refusal of one message
 * sets it aside as `server_refused`, and the rest of the batch is delivered.
 */
import { ClientMailError, type FetchResult } from "@clientmail/core";
import type { CallOptions } from "@clientmail/core/ports";
import {
  MessageRefusedError,
  isolateFailures,
  parseRawMessage,
  unreadable,
} from "@clientmail/provider-utils";
import { BATCH_LIMIT, batchGet } from "./batch.js";
import { completeFromSource, toEnvelope, type GraphMessage } from "./envelope.js";
import { graphErrorCode } from "./errors.js";
import type { GraphContext } from "./graph-context.js";

type Download = { source: Buffer } | { gone: true } | { refused: string };

async function download(
  context: GraphContext,
  id: string,
  signal: AbortSignal | undefined,
): Promise<Download> {
  try {
    const { body } = await context.http.send<Buffer>(
      {
        method: "GET",
        url: `${context.settings.userPath}/messages/${encodeURIComponent(id)}/$value`,
        signal,
      },
      true,
    );
    return { source: body };
  } catch (error) {
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
  ids: readonly string[],
  signal: AbortSignal | undefined,
): AsyncGenerator<FetchResult> {
  const folderNames = await context.folderIds(signal);
  const batch = await batchGet(context, ids, (id) => context.messageUrl(id, "headers"), signal);
  const found = ids.flatMap((id) => {
    const message = batch.found.get(id);
    return message ? [[id, message] as const] : [];
  });
  // Downloads run in parallel; the limiter keeps them within the mailbox's budget.
  const downloads = await Promise.all(found.map(([id]) => download(context, id, signal)));
  for (const [index, [id, metadata]] of found.entries()) {
    const outcome = downloads[index]!;
    if ("gone" in outcome) continue;
    if ("refused" in outcome) {
      yield unreadable(id, "server_refused", outcome.refused);
      continue;
    }
    yield await parse(id, metadata, folderNames, outcome.source);
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
  source: Buffer,
): Promise<FetchResult> {
  const folder = folderNames.get(metadata.parentFolderId ?? "") ?? metadata.parentFolderId ?? "";
  const envelope = completeFromSource({ ...toEnvelope(metadata, folder), providerId: id }, source);
  return await parseRawMessage(source, envelope);
}

/** Yields one result per requested id that still exists. */
export async function* fetchMessages(
  context: GraphContext,
  providerIds: readonly string[],
  options: CallOptions,
): AsyncGenerator<FetchResult> {
  const ids = [...new Set(providerIds)];
  for (let i = 0; i < ids.length; i += BATCH_LIMIT) {
    yield* isolateFailures(ids.slice(i, i + BATCH_LIMIT), (group) =>
      fetchGroup(context, group, options.signal),
    );
  }
}
