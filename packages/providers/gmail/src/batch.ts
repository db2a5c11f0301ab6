/**
 * Reading messages in batches (`messages.get` through the batch endpoint), with what each
 * per-message answer means: 404 (purged since it was listed) and 400 `invalidArgument` (an id
 * Gmail never issued) mean the message does not exist; 401/403 concern the mailbox's grant and
 * are thrown; rate limits and 5xx were already retried by the HTTP edge and thrown when they
 * persisted; any other refusal is about that message alone.
 */
import { ClientMailError } from "@clientmail/core";
import { toClientMailError, type CallFailure } from "./errors.js";
import {
  envelopeFrom,
  envelopeHeaders,
  isOutsideSyncedFolders,
  type GmailMessageResource,
} from "./envelope.js";
import type { GmailHttp } from "./http.js";
import type { ProviderEnvelope } from "@clientmail/core";

/** What one batch of `messages.get` found. */
export interface MessageBatch {
  found: GmailMessageResource[];
  /** Ids that no longer exist. */
  gone: string[];
  /** Ids Gmail refused on their own, with the failure. */
  refused: { id: string; failure: CallFailure }[];
}

/** Everything the batch readers need. */
export interface MessageReader {
  http: GmailHttp;
  batchSize: number;
  /** Quota units of one `messages.get`. */
  getCost: number;
  /** Units that could be spent right now without waiting. */
  available(): number;
}

/** True when a per-message failure means the message does not exist (purged, or an id Gmail never issued). */
export function isGone(failure: CallFailure): boolean {
  if (failure.status === 404) return true;
  return (
    failure.status === 400 && (failure.reason === "invalidArgument" || failure.reason === "INVALID_ARGUMENT")
  );
}

/** `messages.get` path for the envelope headers only. */
export function metadataPath(id: string): string {
  return `/messages/${encodeURIComponent(id)}?format=metadata&${envelopeHeaders
    .map((name) => `metadataHeaders=${encodeURIComponent(name)}`)
    .join("&")}`;
}

/** `messages.get` path for the raw source. */
export function rawPath(id: string): string {
  return `/messages/${encodeURIComponent(id)}?format=raw`;
}

/** Gets messages in batches; yields what each batch found. Mailbox-level failures are thrown. */
export async function* getMessages(
  reader: MessageReader,
  ids: readonly string[],
  pathOf: (id: string) => string,
  signal: AbortSignal | undefined,
): AsyncGenerator<MessageBatch> {
  for (let start = 0; start < ids.length;) {
    // Near the end of a minute's budget, send what fits now rather than wait for a whole batch.
    const fitting = Math.floor(reader.available() / Math.max(1, reader.getCost));
    const slice = ids.slice(start, start + Math.max(1, Math.min(reader.batchSize, fitting)));
    start += slice.length;
    const results = await reader.http.batchGet<GmailMessageResource>(
      "users.messages.get",
      new Map(slice.map((id) => [id, pathOf(id)])),
      signal,
    );
    const batch: MessageBatch = { found: [], gone: [], refused: [] };
    for (const id of slice) {
      const result = results.get(id);
      if (result?.ok) batch.found.push(result.value);
      else if (!result || isGone(result.failure)) batch.gone.push(id);
      else if (result.failure.status === 401 || result.failure.status === 403)
        throw toClientMailError(result.failure, "users.messages.get");
      else batch.refused.push({ id, failure: result.failure });
    }
    yield batch;
  }
}

/**
 * Envelopes of the given ids (`format=metadata`); ids that are gone or outside the synced
 * folders are reported apart. A listing cannot set a message aside, so a message Gmail refuses
 * alone fails the listing (`internal`, not retryable).
 */
export async function envelopesOf(
  reader: MessageReader,
  ids: readonly string[],
  signal: AbortSignal | undefined,
): Promise<{ added: ProviderEnvelope[]; gone: string[] }> {
  const added: ProviderEnvelope[] = [];
  const gone: string[] = [];
  for await (const batch of getMessages(reader, ids, metadataPath, signal)) {
    const [refused] = batch.refused;
    if (refused) {
      throw new ClientMailError("internal", "Gmail refused the headers of a message", {
        cause: toClientMailError(refused.failure, "users.messages.get"),
        retryable: false,
        details: { provider: "gmail", status: refused.failure.status, reason: refused.failure.reason },
      });
    }
    gone.push(...batch.gone);
    for (const message of batch.found) {
      if (isOutsideSyncedFolders(message.labelIds ?? [])) gone.push(message.id);
      else added.push(envelopeFrom(message, message.payload?.headers ?? []));
    }
  }
  return { added, gone };
}
