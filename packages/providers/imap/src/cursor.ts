/**
 * The IMAP sync cursor: per synced folder its UIDVALIDITY, the set of UIDs already reported (as
 * compact ranges), and — when the server offers CONDSTORE — the HIGHESTMODSEQ of the last
 * complete pass. Serialised into one opaque string: `imap1.` + base64url(JSON).
 *
 * Keeping the UID set is what makes deletions detectable on every server, with or without
 * CONDSTORE/QRESYNC: a pass compares it with `UID SEARCH ALL` (plain UID diffing).
 */
import { ValidationError } from "@clientmail/core";

/** What the cursor remembers about one folder. */
export interface FolderState {
  /** UIDVALIDITY, as a decimal string. */
  uidValidity: string;
  /** UIDs already reported and not yet reported removed, ascending. */
  uids: number[];
  /** HIGHESTMODSEQ at the start of the last complete pass, when the server offers CONDSTORE. */
  highestModseq?: string | undefined;
  /** UIDNEXT at the start of the last complete pass (lets a server without CONDSTORE skip idle folders). */
  uidNext?: number | undefined;
}

/** The decoded cursor: folder path -> state. */
export type CursorState = Map<string, FolderState>;

const prefix = "imap1.";

/** Compresses ascending UIDs into an IMAP sequence set (`1:5,7,9:12`). */
export function toRanges(uids: readonly number[]): string {
  const parts: string[] = [];
  let start: number | undefined;
  let previous: number | undefined;
  for (const uid of uids) {
    if (previous !== undefined && uid === previous + 1) {
      previous = uid;
      continue;
    }
    if (start !== undefined && previous !== undefined)
      parts.push(start === previous ? `${start}` : `${start}:${previous}`);
    start = uid;
    previous = uid;
  }
  if (start !== undefined && previous !== undefined)
    parts.push(start === previous ? `${start}` : `${start}:${previous}`);
  return parts.join(",");
}

/** Expands a sequence set written by {@link toRanges} into ascending UIDs. Throws on anything else. */
export function fromRanges(text: string): number[] {
  if (text === "") return [];
  const uids: number[] = [];
  for (const part of text.split(",")) {
    const match = /^(\d+)(?::(\d+))?$/.exec(part);
    if (!match) throw new Error(`bad UID range ${JSON.stringify(part)}`);
    const start = Number(match[1]);
    const end = match[2] === undefined ? start : Number(match[2]);
    if (end < start || (uids.length > 0 && start <= uids[uids.length - 1]!))
      throw new Error("UID ranges out of order");
    for (let uid = start; uid <= end; uid++) uids.push(uid);
  }
  return uids;
}

interface SerializedFolder {
  v: string;
  u: string;
  m?: string;
  n?: number;
}

/** Serialises a cursor state. Deterministic for equal states. */
export function encodeCursor(state: CursorState): string {
  const folders: Record<string, SerializedFolder> = {};
  for (const [path, folder] of [...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const entry: SerializedFolder = { v: folder.uidValidity, u: toRanges(folder.uids) };
    if (folder.highestModseq !== undefined) entry.m = folder.highestModseq;
    if (folder.uidNext !== undefined) entry.n = folder.uidNext;
    folders[path] = entry;
  }
  return prefix + Buffer.from(JSON.stringify({ f: folders }), "utf8").toString("base64url");
}

function invalidCursor(value: string, cause?: unknown): ValidationError {
  return new ValidationError(
    [
      {
        field: "cursor",
        value: value.length > 40 ? `${value.slice(0, 40)}…` : value,
        expected: "a cursor returned by this IMAP provider's changes()",
      },
    ],
    cause === undefined ? {} : { cause },
  );
}

/** Parses a cursor written by {@link encodeCursor}; throws a ValidationError (field `cursor`) for anything else. */
export function decodeCursor(cursor: string): CursorState {
  if (!cursor.startsWith(prefix)) throw invalidCursor(cursor);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor.slice(prefix.length), "base64url").toString("utf8"));
  } catch (error) {
    throw invalidCursor(cursor, error);
  }
  const folders = (parsed as { f?: unknown } | null)?.f;
  if (typeof folders !== "object" || folders === null) throw invalidCursor(cursor);
  const state: CursorState = new Map();
  for (const [path, raw] of Object.entries(folders as Record<string, unknown>)) {
    const entry = raw as Partial<SerializedFolder> | null;
    if (
      typeof entry !== "object" ||
      entry === null ||
      typeof entry.v !== "string" ||
      !/^\d+$/.test(entry.v) ||
      typeof entry.u !== "string" ||
      (entry.m !== undefined && (typeof entry.m !== "string" || !/^\d+$/.test(entry.m))) ||
      (entry.n !== undefined && !Number.isSafeInteger(entry.n))
    ) {
      throw invalidCursor(cursor);
    }
    let uids: number[];
    try {
      uids = fromRanges(entry.u);
    } catch (error) {
      throw invalidCursor(cursor, error);
    }
    state.set(path, { uidValidity: entry.v, uids, highestModseq: entry.m, uidNext: entry.n });
  }
  return state;
}

/** The provider id of one message copy: `folder:uidvalidity:uid` (the folder may itself contain colons). */
export function providerIdOf(folder: string, uidValidity: string | bigint, uid: number): string {
  return `${folder}:${String(uidValidity)}:${uid}`;
}

/** Splits a provider id written by {@link providerIdOf}; undefined when it is not one. */
export function parseProviderId(
  id: string,
): { folder: string; uidValidity: string; uid: number } | undefined {
  const match = /^(.+):(\d+):(\d+)$/s.exec(id);
  if (!match) return undefined;
  const uid = Number(match[3]);
  if (!Number.isSafeInteger(uid) || uid <= 0) return undefined;
  return { folder: match[1]!, uidValidity: match[2]!, uid };
}
