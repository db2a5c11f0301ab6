/**
 * `changes`: with no cursor, a full listing (`messages.list` + metadata batches), reading the
 * history id first so changes made during the listing are replayed after it; with a cursor,
 * `history.list` from its history id. An expired history id (404, or 400 invalidArgument) throws
 * `cursor_expired`: the engine then runs a full listing (Y6).
 */
import { ClientMailError } from "@clientmail/core";
import type { CallOptions, ChangePage, Logger } from "@clientmail/core/ports";
import { cursorExpiredError, readCursor } from "@clientmail/provider-utils";
import { decodeCursor, encodeCursor, type GmailCursor } from "./cursor.js";
import { envelopesOf, type MessageReader } from "./batch.js";

/** `messages.list` as far as the provider reads it. */
export interface ListResponse {
  messages?: { id: string; threadId: string }[];
  nextPageToken?: string;
  resultSizeEstimate?: number;
}

interface HistoryRecord {
  id: string;
  messagesAdded?: { message: { id: string } }[];
  messagesDeleted?: { message: { id: string } }[];
  labelsAdded?: { message: { id: string } }[];
  labelsRemoved?: { message: { id: string } }[];
}

interface HistoryResponse {
  history?: HistoryRecord[];
  nextPageToken?: string;
  historyId?: string;
}

/** `users.getProfile`. */
export interface ProfileResponse {
  emailAddress: string;
  messagesTotal?: number;
  historyId: string;
}

/** What listing changes needs. */
export interface ChangesContext {
  reader: MessageReader;
  pageSize: number;
  logger: Logger;
}

async function* fullListing(
  context: ChangesContext,
  start: GmailCursor | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<ChangePage> {
  const { http } = context.reader;
  let historyId: string;
  let pageToken: string | undefined;
  let estimatedTotal: number | undefined;
  if (start?.kind === "listing") {
    historyId = start.historyId;
    pageToken = start.pageToken;
  } else {
    // Read the history id before listing: changes made during the listing are replayed after it.
    const profile = await http.json<ProfileResponse>("users.getProfile", "/profile", {}, signal);
    historyId = profile.historyId;
    estimatedTotal = profile.messagesTotal;
  }
  for (;;) {
    const query = new URLSearchParams({ maxResults: String(context.pageSize) });
    if (pageToken !== undefined) query.set("pageToken", pageToken);
    let page: ListResponse;
    try {
      page = await http.json<ListResponse>("users.messages.list", "/messages", { query }, signal);
    } catch (error) {
      if (
        pageToken !== undefined &&
        ClientMailError.isInstance(error) &&
        (error.code === "internal" || error.code === "not_found")
      ) {
        throw cursorExpiredError(
          "gmail",
          "Gmail no longer accepts this listing page token: run a full listing",
          {
            cause: error,
          },
        );
      }
      throw error;
    }
    const { added } = await envelopesOf(
      context.reader,
      (page.messages ?? []).map((message) => message.id),
      signal,
    );
    const next = page.nextPageToken;
    yield {
      added,
      removed: [],
      cursor: encodeCursor(
        next ? { kind: "listing", historyId, pageToken: next } : { kind: "history", historyId },
      ),
      done: next === undefined,
      estimatedTotal: estimatedTotal ?? page.resultSizeEstimate,
    };
    if (!next) return;
    pageToken = next;
  }
}

async function* historySince(
  context: ChangesContext,
  startHistoryId: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<ChangePage> {
  const { http } = context.reader;
  let pageToken: string | undefined;
  let cursor = startHistoryId;
  for (;;) {
    const query = new URLSearchParams({ startHistoryId, maxResults: String(context.pageSize) });
    for (const type of ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"])
      query.append("historyTypes", type);
    if (pageToken !== undefined) query.set("pageToken", pageToken);
    let page: HistoryResponse;
    try {
      page = await http.json<HistoryResponse>("users.history.list", "/history", { query }, signal);
    } catch (error) {
      if (
        ClientMailError.hasCode(error, "not_found") ||
        (ClientMailError.isInstance(error) && error.details.reason === "invalidArgument")
      ) {
        context.logger.warn("gmail history expired", { code: "cursor_expired" });
        throw cursorExpiredError(
          "gmail",
          "Gmail no longer has history from this cursor: run a full listing",
          {
            cause: error,
            details: { startHistoryId },
          },
        );
      }
      throw error;
    }
    const records = page.history ?? [];
    const changed = new Set<string>();
    const deleted = new Set<string>();
    for (const record of records) {
      for (const entry of [
        ...(record.messagesAdded ?? []),
        ...(record.labelsAdded ?? []),
        ...(record.labelsRemoved ?? []),
      ]) {
        changed.add(entry.message.id);
        deleted.delete(entry.message.id);
      }
      for (const entry of record.messagesDeleted ?? []) {
        deleted.add(entry.message.id);
        changed.delete(entry.message.id);
      }
    }
    const next = page.nextPageToken;
    // Records come in ascending historyId order, so the last one is where this page ends.
    if (next) {
      const last = records[records.length - 1];
      if (last) cursor = last.id;
    } else {
      cursor = page.historyId ?? cursor;
    }
    if (records.length > 0 || !next) {
      const { added, gone } = await envelopesOf(context.reader, [...changed], signal);
      yield {
        added,
        removed: [...deleted, ...gone],
        cursor: encodeCursor({ kind: "history", historyId: cursor }),
        done: !next,
      };
    }
    if (!next) return;
    pageToken = next;
  }
}

/** Lists the pages of changes since `cursor` (every message when undefined). */
export async function* listChanges(
  context: ChangesContext,
  cursor: string | undefined,
  options: CallOptions,
): AsyncGenerator<ChangePage> {
  const decoded = cursor === undefined ? undefined : readCursor("gmail", cursor, decodeCursor);
  yield* decoded?.kind === "history"
    ? historySince(context, decoded.historyId, options.signal)
    : fullListing(context, decoded, options.signal);
}
