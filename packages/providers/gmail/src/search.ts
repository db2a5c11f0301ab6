/**
 * `search` (Y5): Gmail `q` strings of the client addresses, each address matched as sender or
 * any recipient. The API does no alias expansion and no thread-wide matching, so every term is
 * about one message, which is what filing needs. An IDN address is searched in its ASCII and its
 * Unicode form: Gmail matches the header text as written. Matches are kept only when a
 * normalised participant is one of the addresses, as filing will decide.
 */
import { ValidationError, type ProviderEnvelope } from "@clientmail/core";
import type { CallOptions, ParticipantSearch } from "@clientmail/core/ports";
import { addressSearchForms, headerBlockOf } from "@clientmail/provider-utils";
import type { ListResponse } from "./changes.js";
import { decodeRaw, envelopeFrom, isOutsideSyncedFolders } from "./envelope.js";
import { envelopesOf, getMessages, rawPath, type MessageReader } from "./batch.js";
import type { Prefetch } from "./prefetch.js";

function dateTerms(since: Date | undefined, before: Date | undefined): string {
  // Epoch seconds: bare dates would be read as midnight Pacific time.
  const terms: string[] = [];
  if (since) terms.push(`after:${Math.floor(since.getTime() / 1000)}`);
  if (before) terms.push(`before:${Math.ceil(before.getTime() / 1000)}`);
  terms.push("-in:drafts");
  return terms.join(" ");
}

function addressTerm(address: string): string {
  const quoted = /[\s(){}"]/.test(address) ? `"${address.replace(/"/g, "")}"` : address;
  return `from:${quoted} to:${quoted} cc:${quoted} bcc:${quoted}`;
}

/**
 * Splits the addresses into as few `q` strings as fit `maxLength` characters each:
 * `{from:a to:a cc:a bcc:a from:b …} after:… before:… -in:drafts`. An address whose term alone
 * exceeds the limit still gets a query of its own.
 */
export function buildParticipantQueries(
  addresses: readonly string[],
  options: { since?: Date | undefined; before?: Date | undefined; maxLength: number },
): string[] {
  const suffix = dateTerms(options.since, options.before);
  const fixed = 2 + 1 + suffix.length; // braces, space, suffix
  const queries: string[] = [];
  let current: string[] = [];
  let length = fixed;
  for (const address of [...new Set(addresses)]) {
    const term = addressTerm(address);
    const added = term.length + (current.length > 0 ? 1 : 0);
    if (current.length > 0 && length + added > options.maxLength) {
      queries.push(`{${current.join(" ")}} ${suffix}`);
      current = [];
      length = fixed;
    }
    current.push(term);
    length += term.length + (current.length > 1 ? 1 : 0);
  }
  if (current.length > 0) queries.push(`{${current.join(" ")}} ${suffix}`);
  return queries;
}

/** What searching needs. */
export interface SearchContext {
  reader: MessageReader;
  pageSize: number;
  maxQueryLength: number;
  /** Set when `searchPrefetch` is `"raw"`. */
  prefetch: Prefetch | undefined;
}

/** Yields batches of envelopes of the messages with any of the query's participants. */
export async function* searchParticipants(
  context: SearchContext,
  query: ParticipantSearch,
  options: CallOptions,
): AsyncGenerator<ProviderEnvelope[]> {
  const { signal } = options;
  const { http } = context.reader;
  if (!Array.isArray(query.addresses)) {
    throw new ValidationError([
      { field: "addresses", value: query.addresses, expected: "an array of normalised addresses" },
    ]);
  }
  const wanted = new Set(
    query.addresses.map((address) => address.trim().toLowerCase()).filter((address) => address !== ""),
  );
  const addresses = [...wanted].flatMap(addressSearchForms);
  if (addresses.length === 0) return;
  const involved = (envelope: ProviderEnvelope) =>
    [envelope.from, envelope.sender, envelope.replyTo, envelope.to, envelope.cc, envelope.bcc].some((list) =>
      list.some((entry) => wanted.has(entry.address)),
    );
  const seen = new Set<string>();
  for (const q of buildParticipantQueries(addresses, {
    since: query.since,
    before: query.before,
    maxLength: context.maxQueryLength,
  })) {
    let pageToken: string | undefined;
    do {
      const params = new URLSearchParams({ q, maxResults: String(context.pageSize) });
      if (pageToken !== undefined) params.set("pageToken", pageToken);
      const page = await http.json<ListResponse>(
        "users.messages.list",
        "/messages",
        { query: params },
        signal,
      );
      const ids = (page.messages ?? []).map((message) => message.id).filter((id) => !seen.has(id));
      ids.forEach((id) => seen.add(id));
      if (context.prefetch) {
        for await (const batch of getMessages(context.reader, ids, rawPath, signal)) {
          // A source Gmail refuses alone is still client mail: its envelope is listed from its
          // headers, and the engine's fetch then meets the refusal and sets it aside (R1).
          const refused = batch.refused.map((entry) => entry.id);
          const envelopes: ProviderEnvelope[] =
            refused.length === 0 ? [] : (await envelopesOf(context.reader, refused, signal)).added;
          for (const message of batch.found) {
            if (message.raw === undefined || isOutsideSyncedFolders(message.labelIds ?? [])) continue;
            const source = decodeRaw(message.raw);
            const { raw: _raw, ...rest } = message;
            context.prefetch.remember(rest, source);
            envelopes.push(envelopeFrom(rest, headerBlockOf(source)));
          }
          const matching = envelopes.filter(involved);
          if (matching.length > 0) yield matching;
        }
      } else {
        const matching = (await envelopesOf(context.reader, ids, signal)).added.filter(involved);
        if (matching.length > 0) yield matching;
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
  }
}
