/**
 * `search` (Y5): `UID SEARCH OR FROM/TO/CC/BCC/SENDER/REPLY-TO` per address, in every synced
 * folder. An IDN address is searched in its ASCII and its Unicode form (imapflow then sends
 * `CHARSET UTF-8`); matches are kept only when a normalised participant equals a searched
 * address, since IMAP SEARCH matches substrings.
 */
import {
  ValidationError,
  normalizeAddress,
  type ProviderEnvelope,
  type ValidationIssue,
} from "@clientmail/core";
import type { CallOptions, ParticipantSearch } from "@clientmail/core/ports";
import { addressSearchForms, throwIfAborted } from "@clientmail/provider-utils";
import type { SearchObject } from "imapflow";
import type { ImapConnection } from "./connection.js";
import { fetchEnvelopes, uidCompare } from "./envelope.js";
import { syncedFolders } from "./folders.js";

/** Nested ORs grow with every address; a few addresses per SEARCH keeps commands small. */
const ADDRESSES_PER_COMMAND = 8;

function validAddresses(query: ParticipantSearch): string[] {
  const issues: ValidationIssue[] = [];
  if (!Array.isArray(query.addresses) || query.addresses.length === 0) {
    issues.push({ field: "addresses", value: query.addresses, expected: "at least one email address" });
  }
  const addresses: string[] = [];
  for (const [index, address] of (query.addresses ?? []).entries()) {
    try {
      addresses.push(normalizeAddress(address, `addresses.${index}`));
    } catch (error) {
      if (error instanceof ValidationError) issues.push(...error.issues);
      else throw error;
    }
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return addresses;
}

function searchCommands(addresses: readonly string[], query: ParticipantSearch): SearchObject[] {
  const forms = addresses.flatMap(addressSearchForms);
  const searches: SearchObject[] = [];
  for (let start = 0; start < forms.length; start += ADDRESSES_PER_COMMAND) {
    const criteria = forms
      .slice(start, start + ADDRESSES_PER_COMMAND)
      .flatMap((address): SearchObject[] => [
        { from: address },
        { to: address },
        { cc: address },
        { bcc: address },
        { header: { sender: address } },
        { header: { "reply-to": address } },
      ]);
    const search: SearchObject = { or: criteria };
    if (query.since) search.since = query.since;
    if (query.before) search.before = query.before;
    searches.push(search);
  }
  return searches;
}

/** Yields batches of envelopes of the messages with any of the query's participants. */
export async function* searchParticipants(
  connection: ImapConnection,
  query: ParticipantSearch,
  options: CallOptions,
): AsyncGenerator<ProviderEnvelope[]> {
  const { signal } = options;
  const addresses = validAddresses(query);
  const wanted = new Set(addresses);
  const searches = searchCommands(addresses, query);
  for (const folder of await syncedFolders(connection, { operation: "search", signal })) {
    throwIfAborted(signal, "imap");
    const { uids, uidValidity } = await connection.inFolder(
      folder.path,
      { operation: "search", signal },
      async (client) => {
        const found = new Set<number>();
        for (const search of searches)
          for (const uid of (await client.search(search, { uid: true })) || []) found.add(uid);
        return {
          uids: [...found].sort(uidCompare),
          uidValidity: String(client.mailbox ? client.mailbox.uidValidity : 0),
        };
      },
      true,
    );
    for (let start = 0; start < uids.length; start += connection.config.pageSize) {
      throwIfAborted(signal, "imap");
      const batch = uids.slice(start, start + connection.config.pageSize);
      const { envelopes } = await connection.inFolder(
        folder.path,
        { operation: "search", signal },
        (client) => fetchEnvelopes(client, folder.path, uidValidity, batch),
      );
      const matching = envelopes.filter((envelope) =>
        [envelope.from, envelope.sender, envelope.replyTo, envelope.to, envelope.cc, envelope.bcc].some(
          (list) => list.some((entry) => wanted.has(entry.address)),
        ),
      );
      if (matching.length > 0) yield matching;
    }
  }
}
