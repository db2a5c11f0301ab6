/**
 * `changes`: new messages are listed by UID; deletions by comparing the UIDs the cursor holds
 * with `UID SEARCH ALL` (so a server without CONDSTORE syncs deletions too); with CONDSTORE a
 * folder whose HIGHESTMODSEQ did not move is skipped without a search, and messages whose flags
 * changed are listed again. A UIDVALIDITY change throws `cursor_expired`.
 */
import { ClientMailError, type ProviderEnvelope } from "@clientmail/core";
import type { CallOptions, ChangePage } from "@clientmail/core/ports";
import { readCursor, throwIfAborted } from "@clientmail/provider-utils";
import type { ImapConnection } from "./connection.js";
import {
  decodeCursor,
  encodeCursor,
  providerIdOf,
  toRanges,
  type CursorState,
  type FolderState,
} from "./cursor.js";
import { fetchEnvelopes, uidCompare } from "./envelope.js";
import { syncedFolders, type SyncedFolder } from "./folders.js";

/** What one pass over a folder found, before envelopes are fetched. */
interface FolderDiff {
  path: string;
  uidValidity: string;
  highestModseq: string | undefined;
  uidNext: number;
  /** Known UIDs still present. */
  kept: number[];
  removed: number[];
  /** New UIDs, ascending, then known UIDs whose flags changed. */
  toList: number[];
  exists: number;
}

interface PendingPage {
  added: ProviderEnvelope[];
  removed: string[];
  cursor: string;
}

function uidValidityChanged(path: string): ClientMailError {
  return new ClientMailError(
    "cursor_expired",
    `The UIDVALIDITY of IMAP folder ${JSON.stringify(path)} changed`,
    {
      details: { provider: "imap", folder: path },
    },
  );
}

/** Compares one folder with its cursor state. Returns undefined when nothing changed. */
async function diffFolder(
  connection: ImapConnection,
  path: string,
  previous: FolderState | undefined,
  signal: AbortSignal | undefined,
): Promise<FolderDiff | undefined> {
  return await connection.inFolder(
    path,
    { operation: "changes", signal },
    async (client) => {
      const mailbox = client.mailbox;
      if (!mailbox) throw new ClientMailError("transient", "The IMAP folder was closed during the command");
      const uidValidity = String(mailbox.uidValidity);
      if (previous && previous.uidValidity !== uidValidity) throw uidValidityChanged(path);
      const condstore =
        client.enabled.has("CONDSTORE") && mailbox.highestModseq !== undefined && mailbox.noModseq !== true;
      const highestModseq = condstore ? String(mailbox.highestModseq) : undefined;
      if (previous) {
        if (condstore && previous.highestModseq !== undefined && previous.highestModseq === highestModseq)
          return undefined;
        if (!condstore && previous.uidNext === mailbox.uidNext && previous.uids.length === mailbox.exists)
          return undefined;
      }
      const current = mailbox.exists === 0 ? [] : (await client.search({ all: true }, { uid: true })) || [];
      current.sort(uidCompare);
      const known = new Set(previous?.uids ?? []);
      const present = new Set(current);
      const removed = (previous?.uids ?? []).filter((uid) => !present.has(uid));
      const kept = (previous?.uids ?? []).filter((uid) => present.has(uid));
      const added = current.filter((uid) => !known.has(uid));
      let changed: number[] = [];
      if (condstore && previous?.highestModseq !== undefined && kept.length > 0) {
        const flagged = await client.fetchAll(
          toRanges(kept),
          { uid: true, flags: true },
          { uid: true, changedSince: BigInt(previous.highestModseq) },
        );
        changed = flagged.map((message) => message.uid).filter((uid) => known.has(uid) && present.has(uid));
        changed.sort(uidCompare);
      }
      return {
        path,
        uidValidity,
        highestModseq,
        uidNext: mailbox.uidNext,
        kept,
        removed,
        toList: [...added, ...changed],
        exists: mailbox.exists,
      };
    },
    true,
  );
}

async function estimateTotal(
  connection: ImapConnection,
  folders: readonly SyncedFolder[],
  signal: AbortSignal | undefined,
): Promise<number | undefined> {
  let total = 0;
  for (const folder of folders) {
    const status = await connection
      .command({ operation: "changes", folder: folder.path, signal }, (client) =>
        client.status(folder.path, { messages: true }),
      )
      .catch((error: unknown) => {
        // An estimate is optional; a lost connection or an abort is not.
        if (ClientMailError.hasCode(error, "internal")) return undefined;
        throw error;
      });
    if (status === undefined) return undefined;
    total += status ? (status.messages ?? 0) : 0;
  }
  return total;
}

/**
 * Lists the pages of changes since `cursor` (every message when undefined), as the port's
 * `changes` describes. Each page's cursor resumes right after it.
 *
 * A full listing runs on a connection of its own, closed when the listing ends: the engine
 * fetches the content of page N while it lists page N+1, and on one connection each would wait
 * for the other's commands.
 */
export async function* listChanges(
  commands: ImapConnection,
  cursor: string | undefined,
  options: CallOptions,
): AsyncGenerator<ChangePage> {
  const connection = cursor === undefined ? commands.sibling() : commands;
  // Once the listing connection is in (so the server is known to answer), the command connection
  // the fetch will use is opened meanwhile.
  const listing = connection === commands ? undefined : () => commands.connectAhead();
  try {
    yield* listOn(connection, cursor, options, listing);
  } finally {
    if (connection !== commands) await connection.close();
  }
}

async function* listOn(
  connection: ImapConnection,
  cursor: string | undefined,
  options: CallOptions,
  onConnected: (() => void) | undefined,
): AsyncGenerator<ChangePage> {
  const { signal } = options;
  const { config } = connection;
  const pageSize = cursor === undefined ? config.backfillPageSize : config.pageSize;
  const state: CursorState = cursor === undefined ? new Map() : readCursor("imap", cursor, decodeCursor);
  throwIfAborted(signal, "imap");
  const folders = await syncedFolders(connection, { operation: "changes", signal });
  onConnected?.();
  const estimated = cursor === undefined ? await estimateTotal(connection, folders, signal) : undefined;
  let pending: PendingPage | undefined;
  const emit = (page: PendingPage, done: boolean): ChangePage => ({
    ...page,
    done,
    estimatedTotal: estimated,
  });

  // Folders no longer synced (removed from settings or deleted on the server): their copies are gone.
  const syncedPaths = new Set(folders.map((folder) => folder.path));
  for (const [path, folder] of [...state]) {
    if (syncedPaths.has(path)) continue;
    state.delete(path);
    const removed = folder.uids.map((uid) => providerIdOf(path, folder.uidValidity, uid));
    if (pending) yield emit(pending, false);
    pending = { added: [], removed, cursor: encodeCursor(state) };
  }

  for (const folder of folders) {
    throwIfAborted(signal, "imap");
    const previous = state.get(folder.path);
    const diff = await diffFolder(connection, folder.path, previous, signal);
    if (!diff) continue;
    const known = new Set(diff.kept);
    const commit = (complete: boolean) => {
      state.set(folder.path, {
        uidValidity: diff.uidValidity,
        uids: [...known].sort(uidCompare),
        // Only a complete pass may record the modseq/uidNext that let the next pass skip the folder.
        highestModseq: complete ? diff.highestModseq : previous?.highestModseq,
        uidNext: complete ? diff.uidNext : previous?.uidNext,
      });
      return encodeCursor(state);
    };
    let removed = diff.removed.map((uid) => providerIdOf(folder.path, diff.uidValidity, uid));
    if (diff.toList.length === 0 && removed.length === 0) {
      // Nothing to report: fold the folder's new state into the page waiting to be yielded.
      const next = commit(true);
      if (pending) pending.cursor = next;
      else pending = { added: [], removed: [], cursor: next };
      continue;
    }
    if (diff.toList.length === 0) {
      if (pending) yield emit(pending, false);
      pending = { added: [], removed, cursor: commit(true) };
      continue;
    }
    for (let start = 0; start < diff.toList.length; start += pageSize) {
      throwIfAborted(signal, "imap");
      const uids = diff.toList.slice(start, start + pageSize);
      const listed = await connection.inFolder(
        folder.path,
        { operation: "changes", signal },
        async (client) => {
          const mailbox = client.mailbox;
          if (mailbox && String(mailbox.uidValidity) !== diff.uidValidity)
            throw uidValidityChanged(folder.path);
          return await fetchEnvelopes(client, folder.path, diff.uidValidity, uids);
        },
      );
      const added = listed.envelopes;
      for (const [index, envelope] of added.entries()) {
        known.add(listed.uids[index]!);
        // A size of 0 is what an envelope says when the server did not tell: fetch asks again.
        if (envelope.size > 0) connection.listedSizes.set(envelope.providerId, envelope.size);
      }
      const last = start + pageSize >= diff.toList.length;
      if (pending) yield emit(pending, false);
      pending = { added, removed, cursor: commit(last) };
      removed = [];
      // More of this folder follows, so the page is not the last: it goes out now, and the engine
      // works on it while the next one is listed. The last page of a folder waits, as only what
      // comes after it says whether it is the last of all (`done`).
      if (!last) {
        yield emit(pending, false);
        pending = undefined;
      }
    }
  }
  yield emit(pending ?? { added: [], removed: [], cursor: encodeCursor(state) }, true);
}
