/**
 * Envelopes of IMAP messages: fetched as raw header fields (`BODY.PEEK[HEADER.FIELDS (...)]`),
 * about twice as fast with imapflow as FETCH ENVELOPE and, unlike ENVELOPE, carrying References
 * (threading, H1); turned into envelopes by the builder every provider shares.
 */
import type { ProviderEnvelope } from "@clientmail/core";
import { ENVELOPE_HEADER_FIELDS, envelopeFromHeaders } from "@clientmail/provider-utils";
import type { FetchMessageObject, FetchQueryObject, ImapFlow } from "imapflow";
import { providerIdOf, toRanges } from "./cursor.js";

/** Ascending UID order. */
export function uidCompare(a: number, b: number): number {
  return a - b;
}

/** True when the server gives thread ids (Gmail's X-GM-THRID, or RFC 8474 OBJECTID). */
export function offersThreadIds(client: ImapFlow): boolean {
  return client.capabilities.has("X-GM-EXT-1") || client.capabilities.has("OBJECTID");
}

function envelopeQuery(client: ImapFlow): FetchQueryObject {
  return {
    uid: true,
    flags: true,
    size: true,
    internalDate: true,
    headers: [...ENVELOPE_HEADER_FIELDS],
    ...(offersThreadIds(client) ? { threadId: true } : {}),
  };
}

/** The envelope of a fetched message; `headers` may be the requested fields or the source's header block. */
export function toEnvelope(path: string, uidValidity: string, message: FetchMessageObject): ProviderEnvelope {
  return envelopeFromHeaders({
    providerId: providerIdOf(path, uidValidity, message.uid),
    folder: path,
    headers: message.headers,
    size: message.size,
    flags: message.flags,
    internalDate: message.internalDate,
    threadId: message.threadId,
  });
}

/**
 * Fetches envelopes for `uids` of the selected folder, ascending by UID, with the UID of each
 * (`uids[i]` is the UID of `envelopes[i]`). Vanished UIDs are absent.
 */
export async function fetchEnvelopes(
  client: ImapFlow,
  path: string,
  uidValidity: string,
  uids: readonly number[],
): Promise<{ envelopes: ProviderEnvelope[]; uids: number[] }> {
  if (uids.length === 0) return { envelopes: [], uids: [] };
  const wanted = new Set(uids);
  // Each message becomes its envelope as it arrives, so imapflow's message objects die young
  // (a page of them held until the last arrived outlives the garbage collector's young space).
  const envelopes: ProviderEnvelope[] = [];
  const listed: number[] = [];
  let ascending = true;
  for await (const message of client.fetch(toRanges([...uids].sort(uidCompare)), envelopeQuery(client), {
    uid: true,
  })) {
    if (!wanted.has(message.uid)) continue;
    if (listed.length > 0 && message.uid < listed[listed.length - 1]!) ascending = false;
    listed.push(message.uid);
    envelopes.push(toEnvelope(path, uidValidity, message));
  }
  if (ascending) return { envelopes, uids: listed };
  // A server may answer out of UID order: sorted here, the UIDs with their envelopes.
  const order = listed.map((_, index) => index).sort((a, b) => listed[a]! - listed[b]!);
  return { envelopes: order.map((index) => envelopes[index]!), uids: order.map((index) => listed[index]!) };
}
