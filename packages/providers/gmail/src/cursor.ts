/**
 * The Gmail sync cursor: `h:<historyId>` once the mailbox is in sync (the next pass reads
 * `history.list` from there), or `l:<historyId>:<pageToken>` in the middle of a full listing
 * (the history id read before the listing began, so changes made during it are replayed after).
 */
import { ValidationError } from "@clientmail/core";

/** A decoded cursor. */
export type GmailCursor =
  { kind: "history"; historyId: string } | { kind: "listing"; historyId: string; pageToken: string };

/** Serialises a cursor. */
export function encodeCursor(cursor: GmailCursor): string {
  return cursor.kind === "history" ? `h:${cursor.historyId}` : `l:${cursor.historyId}:${cursor.pageToken}`;
}

/** Parses a cursor written by {@link encodeCursor}; throws a ValidationError (field `cursor`) for anything else. */
export function decodeCursor(text: string): GmailCursor {
  const history = /^h:(\d+)$/.exec(text);
  if (history) return { kind: "history", historyId: history[1]! };
  const listing = /^l:(\d+):(.+)$/.exec(text);
  if (listing) return { kind: "listing", historyId: listing[1]!, pageToken: listing[2]! };
  throw new ValidationError([
    {
      field: "cursor",
      value: text.length > 40 ? `${text.slice(0, 40)}…` : text,
      expected: 'a Gmail cursor ("h:<historyId>" or "l:<historyId>:<pageToken>")',
    },
  ]);
}
