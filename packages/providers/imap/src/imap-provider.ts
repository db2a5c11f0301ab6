/**
 * The IMAP implementation of the MailProvider port, on imapflow (protocol) and mailparser (MIME,
 * through the parser every provider shares).
 */
import type {
  CallOptions,
  ChangePage,
  MailProvider,
  ParticipantSearch,
  PushSubscription,
} from "@clientmail/core/ports";
import type { FetchResult, ProviderEnvelope } from "@clientmail/core";
import { listChanges } from "./changes.js";
import { ImapConnection } from "./connection.js";
import { fetchMessages } from "./fetch.js";
import { searchParticipants } from "./search.js";
import { resolveSettings, type ImapProviderSettings } from "./settings.js";
import { ImapWatches } from "./watch.js";

/**
 * Creates the IMAP provider for one mailbox.
 *
 * - **Folders**: the special-use folders Inbox, Sent and All Mail where present (see
 *   {@link ImapProviderSettings.folders}); one cursor per folder, serialised into one opaque string.
 * - **Changes**: new messages are listed by UID; deletions by comparing the UIDs the cursor holds
 *   with `UID SEARCH ALL` (so a server without CONDSTORE syncs deletions too); with CONDSTORE a
 *   folder whose HIGHESTMODSEQ did not move is skipped without a search, and messages whose flags
 *   changed are listed again. Without CONDSTORE, flag changes are not reported.
 * - **UIDVALIDITY change**: `changes` throws `cursor_expired` (every UID of that folder is void);
 *   the caller runs a full listing with no cursor. Ids are `folder:uidvalidity:uid`, so ids from
 *   before the change never collide with new ones.
 * - **Fetch**: a message the server refuses alone, or that cannot be parsed, is yielded as an
 *   `UnreadableMessage`; connection failures are thrown (R1).
 * - **Deadlines** (R3): every command has `commandTimeoutMs`; past it the connection is closed
 *   and the call fails as `transient`. An aborted `signal` does the same at once.
 * - **Connections**: one for commands (opened lazily, reopened after a drop), a second one for
 *   the duration of a full listing (the server lists the next page while the first fetches the
 *   page before; once it is in, the first is opened ahead of the fetch), and one per `watch` for
 *   IDLE. Failures are thrown as ClientMailErrors (see
 *   `translateImapError`).
 *
 * Throws a ValidationError naming each invalid setting.
 */
export function createImapProvider(settings: ImapProviderSettings): MailProvider {
  const connection = new ImapConnection(resolveSettings(settings));
  const watches = new ImapWatches(connection);
  return {
    kind: "imap",
    changes: (cursor: string | undefined, options: CallOptions = {}): AsyncIterable<ChangePage> =>
      listChanges(connection, cursor, options),
    search: (query: ParticipantSearch, options: CallOptions = {}): AsyncIterable<ProviderEnvelope[]> =>
      searchParticipants(connection, query, options),
    fetch: (providerIds: readonly string[], options: CallOptions = {}): AsyncIterable<FetchResult> =>
      fetchMessages(connection, providerIds, options),
    watch: (onChange: () => void, options: CallOptions = {}): Promise<PushSubscription> =>
      watches.watch(onChange, options),
    async close(): Promise<void> {
      await watches.stopAll();
      await connection.close();
    },
  };
}
