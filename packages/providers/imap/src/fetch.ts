/**
 * `fetch`: one streamed `UID FETCH (BODY.PEEK[])` per chunk of at most 32 UIDs (bounding the
 * content held at once); each message is parsed as soon as it has arrived. The envelope comes
 * from the source's own header block: asking for the header fields as well would make the
 * server send, and imapflow tokenise, them twice.
 *
 * R1: a `NO` to a chunk's FETCH while the connection stays usable is about the chunk's messages,
 * not the connection: the chunk is fetched again one message at a time, and a message the server
 * refuses alone is yielded as `server_refused`. A dropped connection, a refused reconnect or a
 * command past its deadline is thrown as `transient`, and no message is marked.
 */
import { ClientMailError, type FetchResult } from "@clientmail/core";
import type { CallOptions } from "@clientmail/core/ports";
import {
  MessageRefusedError,
  headerBlockOf,
  isolateFailures,
  parseRawMessage,
  throwIfAborted,
} from "@clientmail/provider-utils";
import type { FetchMessageObject, ImapFlow } from "imapflow";
import type { ImapConnection } from "./connection.js";
import { parseProviderId, providerIdOf, toRanges } from "./cursor.js";
import { offersThreadIds, toEnvelope, uidCompare } from "./envelope.js";

/** UIDs per streamed content FETCH; bounds the content held in memory at once. */
export const FETCH_CHUNK = 32;

interface FolderGroup {
  path: string;
  uidValidity: string;
}

/** Response codes of a `NO` that concern the folder or the server as a whole, never one message. */
const folderLevelCodes = new Set(["UNAVAILABLE", "INUSE", "NONEXISTENT", "NOPERM"]);

function responseCodeOf(error: unknown): string {
  const code = (error as { serverResponseCode?: unknown } | null)?.serverResponseCode;
  return typeof code === "string" ? code.toUpperCase() : "";
}

/**
 * The server answered the FETCH with `NO` for reasons of its messages: a `NO` (not `BAD`, not a
 * dropped connection) without a code, or with a code such as `SERVERBUG` or `LIMIT` that a
 * server also gives for a message it cannot read. Whether it concerns one message is what the
 * one-by-one retry then finds out.
 */
function isMessageRefusal(error: unknown): boolean {
  if ((error as { responseStatus?: unknown } | null)?.responseStatus !== "NO") return false;
  return !folderLevelCodes.has(responseCodeOf(error));
}

function refusalDetail(error: unknown): string {
  const code = responseCodeOf(error);
  return code === "" ? "IMAP NO" : `IMAP NO [${code}]`;
}

function parseFetched(group: FolderGroup, message: FetchMessageObject): Promise<FetchResult> {
  const source = message.source!;
  const envelope = toEnvelope(group.path, group.uidValidity, {
    ...message,
    size: source.length,
    headers: headerBlockOf(source),
  });
  return parseRawMessage(source, envelope);
}

/**
 * Fetches one chunk of a folder; delivers what arrived, then reports a per-message refusal. Each
 * message is parsed as soon as it has arrived, while the server is still sending the next ones.
 */
async function* fetchChunk(
  connection: ImapConnection,
  group: FolderGroup,
  ids: readonly string[],
  signal: AbortSignal | undefined,
): AsyncGenerator<FetchResult> {
  const uids = ids.map((id) => parseProviderId(id)!.uid).sort(uidCompare);
  const wanted = new Set(uids);
  const { parsed, refusal } = await connection.inFolder(
    group.path,
    { operation: "fetch", signal },
    async (client: ImapFlow) => {
      // No fresh SELECT: UIDVALIDITY cannot change within a session (RFC 3501 §2.3.1.1), and a
      // re-SELECT per call costs a round trip and a mailbox scan on the server.
      if (!client.mailbox || String(client.mailbox.uidValidity) !== group.uidValidity)
        return { parsed: [] as Promise<FetchResult>[], refusal: undefined };
      const query = {
        uid: true,
        flags: true,
        internalDate: true,
        source: true,
        ...(offersThreadIds(client) ? { threadId: true } : {}),
      };
      const arrived: Promise<FetchResult>[] = [];
      // A server that cannot read a message may still answer for it, without the body (Dovecot
      // with `imap_fetch_failure = no-after`): that message is the one it refused.
      const withoutBody: string[] = [];
      const idOf = (uid: number) => providerIdOf(group.path, group.uidValidity, uid);
      try {
        for await (const message of client.fetch(toRanges(uids), query, { uid: true })) {
          if (!wanted.has(message.uid)) continue;
          if (message.source === undefined) withoutBody.push(idOf(message.uid));
          else {
            const parsing = parseFetched(group, message);
            // Observed now: a failure is rethrown where the results are collected below.
            parsing.catch(() => undefined);
            arrived.push(parsing);
          }
        }
      } catch (error) {
        // RFC 5530: some of the messages were expunged meanwhile; what arrived is all there is.
        if (responseCodeOf(error) === "EXPUNGEISSUED" && client.usable)
          return { parsed: arrived, refusal: undefined };
        if (isMessageRefusal(error) && client.usable) {
          const refusal = new MessageRefusedError(refusalDetail(error), {
            refusedIds: withoutBody,
            cause: error,
          });
          return { parsed: arrived, refusal };
        }
        throw error;
      }
      const refusal =
        withoutBody.length === 0
          ? undefined
          : new MessageRefusedError("IMAP FETCH answered without the message body", {
              refusedIds: withoutBody,
            });
      return { parsed: arrived, refusal };
    },
  );
  for (const result of parsed) yield await result;
  if (refusal) throw refusal;
}

/**
 * Yields one result per requested id that still exists (see the module comment). Ids that are
 * not this provider's, or whose folder or UIDVALIDITY is gone, are skipped: those copies no
 * longer exist.
 */
export async function* fetchMessages(
  connection: ImapConnection,
  providerIds: readonly string[],
  options: CallOptions,
): AsyncGenerator<FetchResult> {
  const { signal } = options;
  const groups = new Map<string, { group: FolderGroup; uids: Set<number> }>();
  for (const id of providerIds) {
    const parsed = parseProviderId(id);
    if (!parsed) continue;
    const key = `${parsed.uidValidity}:${parsed.folder}`;
    const entry = groups.get(key) ?? {
      group: { path: parsed.folder, uidValidity: parsed.uidValidity },
      uids: new Set<number>(),
    };
    entry.uids.add(parsed.uid);
    groups.set(key, entry);
  }
  for (const { group, uids } of groups.values()) {
    const ids = [...uids].sort(uidCompare).map((uid) => providerIdOf(group.path, group.uidValidity, uid));
    try {
      for (let start = 0; start < ids.length; start += FETCH_CHUNK) {
        throwIfAborted(signal, "imap");
        const chunk = ids.slice(start, start + FETCH_CHUNK);
        yield* isolateFailures(chunk, (part) => fetchChunk(connection, group, part, signal));
      }
    } catch (error) {
      // A deleted folder means its messages no longer exist: skipped, as for deleted messages.
      if (ClientMailError.hasCode(error, "not_found")) continue;
      throw error;
    }
  }
}
