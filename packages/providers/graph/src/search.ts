/**
 * `search` (Y5): KQL `$search` on `participants:` in chunks of addresses, restricted to the
 * synced folders, with an exact local filter on normalised participants (KQL matches words, not
 * addresses). An IDN address is searched in its ASCII and its Unicode form.
 *
 * Microsoft caps `$search` on messages at 1,000 results, with no nextLink beyond them: a client
 * with a longer history would be cut short silently. A window that returns the cap is therefore
 * split in two by received date, down to a day; a day that still hits the cap is read as a plain
 * listing of each synced folder filtered on `receivedDateTime` and matched locally.
 */
import {
  ValidationError,
  normalizeAddress,
  type ProviderEnvelope,
  type ValidationIssue,
} from "@clientmail/core";
import type { CallOptions, ParticipantSearch } from "@clientmail/core/ports";
import { addressSearchForms, throwIfAborted } from "@clientmail/provider-utils";
import type { GraphPage } from "./changes.js";
import { sizeExpand, toEnvelope, type GraphMessage } from "./envelope.js";
import type { GraphContext } from "./graph-context.js";

/** Microsoft's limit: `$search` on messages returns at most this many results. */
export const SEARCH_RESULT_CAP = 1000;

const DAY = 86_400_000;

/** A span of received times, [from, to). */
interface Window {
  from: number;
  to: number;
}

function kqlDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

function normalized(query: ParticipantSearch): string[] {
  const issues: ValidationIssue[] = [];
  if (!Array.isArray(query.addresses)) {
    throw new ValidationError([
      { field: "addresses", value: query.addresses, expected: "an array of email addresses" },
    ]);
  }
  const addresses = new Set<string>();
  for (const [index, address] of query.addresses.entries()) {
    try {
      addresses.add(normalizeAddress(address, `addresses.${index}`));
    } catch (error) {
      if (error instanceof ValidationError) issues.push(...error.issues);
      else throw error;
    }
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return [...addresses];
}

function involves(envelope: ProviderEnvelope, wanted: ReadonlySet<string>): boolean {
  return [envelope.from, envelope.sender, envelope.replyTo, envelope.to, envelope.cc, envelope.bcc].some(
    (list) => list.some((entry) => wanted.has(entry.address)),
  );
}

/** Yields batches of envelopes of the messages with any of the query's participants. */
export async function* searchParticipants(
  context: GraphContext,
  query: ParticipantSearch,
  options: CallOptions,
): AsyncGenerator<ProviderEnvelope[]> {
  const { http, settings } = context;
  const { signal } = options;
  const addresses = normalized(query);
  if (addresses.length === 0) return;
  const folderNames = await context.folderIds(signal);
  const seen = new Set<string>();
  const since = query.since?.getTime();
  const before = query.before?.getTime();

  /** Keeps the items of a page that belong to the search and the window; counts what the server returned. */
  const keep = (
    items: readonly GraphMessage[],
    wanted: ReadonlySet<string>,
    window: Window,
  ): ProviderEnvelope[] => {
    const batch: ProviderEnvelope[] = [];
    for (const item of items) {
      const folder = folderNames.get(item.parentFolderId ?? "");
      if (folder === undefined || seen.has(item.id)) continue;
      const envelope = toEnvelope(item, folder);
      const received = item.receivedDateTime
        ? new Date(item.receivedDateTime).getTime()
        : envelope.date.getTime();
      if (received < window.from || received >= window.to) continue;
      if (!involves(envelope, wanted)) continue;
      seen.add(item.id);
      batch.push(envelope);
    }
    return batch;
  };

  const pages = async function* (
    first: string,
    prefer: Record<string, string>,
  ): AsyncGenerator<GraphMessage[]> {
    let url: string | undefined = first;
    while (url !== undefined) {
      throwIfAborted(signal, "graph");
      const { body }: { body: GraphPage } = await http.send<GraphPage>({
        method: "GET",
        url,
        headers: prefer,
        signal,
      });
      yield body.value ?? [];
      url = body["@odata.nextLink"];
    }
  };

  const select = `$select=${context.listSelect}&$expand=${sizeExpand}`;
  const top = Math.min(settings.pageSize, 250);
  const immutable = { Prefer: 'IdType="ImmutableId"' };
  for (let i = 0; i < addresses.length; i += settings.searchChunkSize) {
    const chunk = addresses.slice(i, i + settings.searchChunkSize);
    const wanted = new Set(chunk);
    const participants = `(${chunk
      .flatMap(addressSearchForms)
      .map((address) => `participants:${address}`)
      .join(" OR ")})`;
    const whole: Window = { from: since ?? 0, to: before ?? settings.clock.now().getTime() + DAY };
    const windows: Window[] = [whole];
    while (windows.length > 0) {
      const window = windows.shift()!;
      let kql = participants;
      // KQL compares whole days, in the mailbox's time zone: a day of margin on each side, and
      // the exact window applied locally.
      if (window.from > 0) kql += ` AND received>=${kqlDay(window.from - DAY)}`;
      if (window !== whole || before !== undefined) kql += ` AND received<${kqlDay(window.to + DAY)}`;
      let returned = 0;
      for await (const items of pages(
        `${settings.userPath}/messages?$search=${encodeURIComponent(`"${kql}"`)}&${select}&$top=${top}`,
        immutable,
      )) {
        returned += items.length;
        const batch = keep(items, wanted, window);
        if (batch.length > 0) yield batch;
      }
      if (returned < SEARCH_RESULT_CAP) continue;
      if (window.to - window.from > DAY) {
        const middle = window.from + Math.floor((window.to - window.from) / 2);
        windows.push({ from: window.from, to: middle }, { from: middle, to: window.to });
        continue;
      }
      // A day with more matches than the cap: list it, every synced folder, and match locally.
      const filter = `receivedDateTime ge ${new Date(window.from).toISOString()} and receivedDateTime lt ${new Date(window.to).toISOString()}`;
      for (const folder of settings.folders) {
        for await (const items of pages(
          `${settings.userPath}/mailFolders/${encodeURIComponent(folder)}/messages?$filter=${encodeURIComponent(filter)}&${select}&$top=${top}`,
          immutable,
        )) {
          const batch = keep(items, wanted, window);
          if (batch.length > 0) yield batch;
        }
      }
    }
  }
}
