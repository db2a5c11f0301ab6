/**
 * `changes`: per-folder delta (`Prefer: IdType="ImmutableId"`, `$select` of envelope fields
 * only). A delta link Graph no longer accepts (410, SyncStateNotFound, resyncRequired) throws
 * `cursor_expired`; the engine then calls `changes(undefined)` for a full listing.
 */
import { ClientMailError, type ProviderEnvelope } from "@clientmail/core";
import type { CallOptions, ChangePage } from "@clientmail/core/ports";
import { readCursor } from "@clientmail/provider-utils";
import { BATCH_LIMIT, batchGet } from "./batch.js";
import { decodeCursor, encodeCursor } from "./cursor.js";
import { isPartial, toEnvelope, type GraphMessage } from "./envelope.js";
import type { GraphContext } from "./graph-context.js";

/** A page of a delta round or of a listing. */
export interface GraphPage {
  value?: GraphMessage[];
  "@odata.nextLink"?: string;
  "@odata.deltaLink"?: string;
}

function refusedError(refused: ReadonlyMap<string, unknown>): ClientMailError {
  return new ClientMailError("internal", "Microsoft Graph refused the envelope of a message", {
    retryable: false,
    details: { provider: "graph", count: refused.size },
  });
}

/** Full envelopes (with the threading headers) for partial delta items, by id; ids that are gone are absent. */
async function completeEnvelopes(
  context: GraphContext,
  ids: readonly string[],
  signal: AbortSignal | undefined,
): Promise<Map<string, GraphMessage>> {
  const found = new Map<string, GraphMessage>();
  for (let i = 0; i < ids.length; i += BATCH_LIMIT) {
    const batch = await batchGet(
      context,
      ids.slice(i, i + BATCH_LIMIT),
      (id) => context.messageUrl(id, "headers"),
      signal,
    );
    if (batch.refused.size > 0) throw refusedError(batch.refused);
    for (const [id, message] of batch.found) found.set(id, message);
  }
  return found;
}

/**
 * Delta is per folder: a move shows as a removal in the old folder. With immutable ids the
 * message is still found; if it now lives in a synced folder it is not gone (that folder's delta
 * reports it), whatever order the folders are read in.
 */
async function stillSynced(
  context: GraphContext,
  ids: readonly string[],
  signal: AbortSignal | undefined,
): Promise<Set<string>> {
  const synced = await context.folderIds(signal);
  const kept = new Set<string>();
  for (let i = 0; i < ids.length; i += BATCH_LIMIT) {
    const batch = await batchGet(
      context,
      ids.slice(i, i + BATCH_LIMIT),
      (id) => context.messageUrl(id, "location"),
      signal,
    );
    if (batch.refused.size > 0) throw refusedError(batch.refused);
    for (const [id, message] of batch.found) if (synced.has(message.parentFolderId ?? "")) kept.add(id);
  }
  return kept;
}

/** Lists the pages of changes since `cursor` (every message when undefined). */
export async function* listChanges(
  context: GraphContext,
  cursor: string | undefined,
  options: CallOptions,
): AsyncGenerator<ChangePage> {
  const { settings, http } = context;
  const { signal } = options;
  const state =
    cursor === undefined ? { v: 1 as const, links: {} } : readCursor("graph", cursor, decodeCursor);
  const links: Record<string, string> = {};
  for (const folder of settings.folders) {
    const link = state.links[folder];
    if (link !== undefined) links[folder] = link;
  }
  // Ids seen added in this pass, by folder: a move between two synced folders shows as
  // removed in one and added in the other, and must not end as a removal.
  const addedIn = new Map<string, string>();
  for (const [index, folder] of settings.folders.entries()) {
    let url = links[folder] ?? context.deltaUrl(folder);
    for (;;) {
      const { body } = await http.send<GraphPage>({
        method: "GET",
        url,
        headers: context.deltaPrefer,
        signal,
      });
      const added = new Map<string, ProviderEnvelope>();
      const removed = new Set<string>();
      const partial: string[] = [];
      for (const item of body.value ?? []) {
        if (typeof item.id !== "string") continue;
        if (item["@removed"] !== undefined) {
          added.delete(item.id);
          const other = addedIn.get(item.id);
          if (other === undefined || other === folder) removed.add(item.id);
          continue;
        }
        removed.delete(item.id);
        addedIn.set(item.id, folder);
        if (isPartial(item)) partial.push(item.id);
        else added.set(item.id, toEnvelope(item, folder));
      }
      if (removed.size > 0)
        for (const id of await stillSynced(context, [...removed], signal)) removed.delete(id);
      if (partial.length > 0) {
        const complete = await completeEnvelopes(context, partial, signal);
        for (const id of partial) {
          const message = complete.get(id);
          if (message) added.set(id, toEnvelope(message, folder));
        }
      }
      const next = body["@odata.nextLink"];
      const delta = body["@odata.deltaLink"];
      if (next === undefined && delta === undefined) {
        throw new ClientMailError(
          "transient",
          "Microsoft Graph sent a delta page without nextLink or deltaLink",
          {
            details: { provider: "graph", folder },
          },
        );
      }
      links[folder] = next ?? delta ?? url;
      yield {
        added: [...added.values()],
        removed: [...removed],
        cursor: encodeCursor(links),
        done: next === undefined && index === settings.folders.length - 1,
      };
      if (next === undefined) break;
      url = next;
    }
  }
}
