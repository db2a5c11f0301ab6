/**
 * The Graph sync cursor: per synced folder, the deltaLink of its last complete round or the
 * nextLink to resume a round (delta is per folder). Serialised as JSON `{v: 1, links}`; query
 * options live inside the links, so they need no room of their own.
 */
import { ValidationError } from "@clientmail/core";

/** A decoded cursor. */
export interface GraphCursor {
  v: 1;
  /** Per folder: the deltaLink of the last complete round, or the nextLink to resume a round. */
  links: Record<string, string>;
}

/** Serialises a cursor. */
export function encodeCursor(links: Record<string, string>): string {
  return JSON.stringify({ v: 1, links } satisfies GraphCursor);
}

/** Parses a cursor written by {@link encodeCursor}; throws a ValidationError (field `cursor`) for anything else. */
export function decodeCursor(cursor: string): GraphCursor {
  let parsed: Partial<GraphCursor> | null = null;
  try {
    parsed = JSON.parse(cursor) as Partial<GraphCursor> | null;
  } catch {
    // reported below
  }
  if (
    parsed?.v === 1 &&
    typeof parsed.links === "object" &&
    parsed.links !== null &&
    Object.values(parsed.links).every((link) => typeof link === "string")
  ) {
    return { v: 1, links: { ...parsed.links } };
  }
  throw new ValidationError([
    {
      field: "cursor",
      value: cursor.length > 40 ? `${cursor.slice(0, 40)}…` : cursor,
      expected: "a cursor returned by this Graph provider's changes()",
    },
  ]);
}
