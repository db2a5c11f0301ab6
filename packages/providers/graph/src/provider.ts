/**
 * `createGraphProvider`: the MailProvider for Microsoft 365 / Outlook mailboxes over Microsoft
 * Graph.
 */
import { createHash } from "node:crypto";
import { simpleParser } from "mailparser";
import { ClientMailError, RateLimitedError } from "@clientmail/core";
import type { FetchedMessage, ProviderEnvelope } from "@clientmail/core";
import {
  silentLogger,
  systemClock,
  type CallOptions,
  type ChangePage,
  type MailProvider,
  type ParticipantSearch,
  type PushSubscription,
} from "@clientmail/core/ports";
import {
  envelopeSelect,
  isPartial,
  messageIdList,
  sizeExpand,
  toEnvelope,
  type GraphMessage,
} from "./envelope.js";
import { GraphHttp, graphErrorCode, retryAfterMs } from "./http.js";
import { limiterForMailbox } from "./limiter.js";
import { validateSettings, type GraphProviderSettings, type Timers } from "./settings.js";
import { SubscriptionManager } from "./subscriptions.js";

/** A Graph mailbox provider: the {@link MailProvider} port plus the webhook receiver for change notifications. */
export interface GraphProvider extends MailProvider {
  readonly kind: "graph";
  /**
   * Handles a request Graph sent to `push.notificationUrl` or `push.lifecycleNotificationUrl`:
   * route both URLs here. Answers the validation handshake, ignores items whose clientState does
   * not match, and answers 202 at once.
   */
  handleWebhook(request: Request): Promise<Response>;
  /** Resolves when background subscription work (renewals, re-creations) has finished. */
  drain(): Promise<void>;
}

interface DeltaPage {
  value?: GraphMessage[];
  "@odata.nextLink"?: string;
  "@odata.deltaLink"?: string;
}

interface BatchResponse {
  responses?: { id: string; status: number; headers?: Record<string, string>; body?: unknown }[];
}

interface Cursor {
  v: 1;
  /** Per folder: the deltaLink of the last complete round, or the nextLink to resume a round. */
  links: Record<string, string>;
}

const immutableIdPrefer = 'IdType="ImmutableId"';

function decodeCursor(cursor: string | undefined): Cursor {
  if (cursor === undefined) return { v: 1, links: {} };
  try {
    const parsed = JSON.parse(cursor) as Partial<Cursor>;
    if (parsed.v === 1 && typeof parsed.links === "object" && parsed.links !== null)
      return { v: 1, links: { ...parsed.links } };
  } catch {
    // fall through
  }
  throw new ClientMailError(
    "cursor_expired",
    "The Graph cursor is not one this provider wrote; a full resync is needed",
    {
      details: { reason: "unreadable" },
    },
  );
}

const defaultTimers: Timers = {
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      },
      { once: true },
    );
  });
}

function kqlDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * Creates the provider for one Microsoft 365 mailbox.
 *
 * - `changes`: per-folder delta (`Prefer: IdType="ImmutableId"`, `$select` of envelope fields
 *   only). A delta link Graph no longer accepts (410, SyncStateNotFound, resyncRequired) throws
 *   `cursor_expired`; the engine then calls `changes(undefined)` for a full listing.
 * - `search`: KQL `$search` on `participants:` in chunks of addresses, restricted to the synced folders.
 * - `fetch`: envelope and headers through `$batch` (20 per batch), then the MIME source (`$value`), parsed.
 * - At most `maxConcurrentRequests` (≤ 4) requests in flight per mailbox, shared by every
 *   provider of this process for the same mailbox; Retry-After honoured, else exponential backoff.
 * - `watch`: change-notification subscriptions when `push` is set, else polling.
 *
 * Throws a ValidationError naming the setting when `settings` is invalid.
 */
export function createGraphProvider(settings: GraphProviderSettings): GraphProvider {
  validateSettings(settings);
  const mailbox = settings.mailbox.trim().toLowerCase();
  const folders = [...(settings.folders ?? ["inbox", "sentitems"])];
  const clock = settings.clock ?? systemClock;
  const logger = settings.logger ?? silentLogger;
  const pageSize = settings.pageSize ?? 100;
  const searchChunkSize = settings.searchChunkSize ?? 10;
  const userPath = settings.shared ? `/users/${encodeURIComponent(mailbox)}` : "/me";
  const http = new GraphHttp({
    baseUrl: (settings.baseUrl ?? "https://graph.microsoft.com/v1.0").replace(/\/$/, ""),
    fetch: settings.fetch ?? ((input, init) => fetch(input, init)),
    getAccessToken: settings.getAccessToken,
    clock,
    sleep: settings.sleep ?? defaultSleep,
    random: settings.random ?? Math.random,
    logger,
    limiter: limiterForMailbox(mailbox, settings.maxConcurrentRequests ?? 4),
    retry: {
      maxAttempts: settings.retry?.maxAttempts ?? 6,
      baseDelayMs: settings.retry?.baseDelayMs ?? 1000,
      maxDelayMs: settings.retry?.maxDelayMs ?? 32_000,
      maxWaitMs: settings.retry?.maxWaitMs ?? 120_000,
    },
  });
  const subscriptions = new SubscriptionManager({
    http,
    push: settings.push,
    folders,
    userPath,
    clock,
    timers: settings.timers ?? defaultTimers,
    logger,
    pollIntervalMs: settings.pollIntervalMs ?? 60_000,
  });
  const preferHeaders = { Prefer: `odata.maxpagesize=${pageSize}, ${immutableIdPrefer}` };
  const select = envelopeSelect.join(",");
  // In-Reply-To and References exist only as internet headers; threading (H1) needs them for every envelope.
  const deltaSelect = `${select},internetMessageHeaders`;
  let closed = false;
  let folderIds: Promise<Map<string, string>> | undefined;

  const ensureOpen = (): void => {
    if (closed) throw new ClientMailError("internal", "This Graph provider was closed", { retryable: false });
  };

  /** Maps Graph folder ids to the configured folder names, resolved once. */
  const resolveFolderIds = (signal?: AbortSignal): Promise<Map<string, string>> => {
    folderIds ??= (async () => {
      const map = new Map<string, string>();
      for (const folder of folders) {
        const { body } = await http.send<{ id: string }>({
          method: "GET",
          url: `${userPath}/mailFolders/${encodeURIComponent(folder)}?$select=id,displayName`,
          signal,
        });
        map.set(body.id, folder);
      }
      return map;
    })();
    folderIds.catch(() => {
      folderIds = undefined;
    });
    return folderIds;
  };

  const messageUrl = (id: string, fields: "envelope" | "headers" | "location"): string =>
    fields === "location"
      ? `${userPath}/messages/${encodeURIComponent(id)}?$select=id,parentFolderId`
      : `${userPath}/messages/${encodeURIComponent(id)}?$select=${fields === "headers" ? deltaSelect : select}&$expand=${sizeExpand}`;

  /** Full envelopes for partial delta items, by id; ids that are gone are absent. */
  async function completeEnvelopes(ids: string[], signal?: AbortSignal): Promise<Map<string, GraphMessage>> {
    const found = new Map<string, GraphMessage>();
    for (let i = 0; i < ids.length; i += 20) {
      for (const [id, message] of await batchGet(ids.slice(i, i + 20), "headers", signal))
        found.set(id, message);
    }
    return found;
  }

  /**
   * GETs messages through `$batch`, retrying the items Graph throttled (inner 429/5xx) with the
   * wait they asked for. Items that are gone (404) are absent from the result.
   */
  async function batchGet(
    ids: string[],
    fields: "envelope" | "headers" | "location",
    signal?: AbortSignal,
  ): Promise<Map<string, GraphMessage>> {
    const result = new Map<string, GraphMessage>();
    let pending = [...ids];
    for (let round = 1; pending.length > 0; round += 1) {
      const { body } = await http.send<BatchResponse>({
        method: "POST",
        url: "/$batch",
        body: {
          requests: pending.map((id, index) => ({
            id: String(index),
            method: "GET",
            url: messageUrl(id, fields),
            headers: { Prefer: immutableIdPrefer },
          })),
        },
        weight: 4,
        signal,
      });
      const retry: string[] = [];
      let wait: number | undefined;
      for (const response of body.responses ?? []) {
        const id = pending[Number(response.id)];
        if (id === undefined) continue;
        if (response.status >= 200 && response.status < 300) {
          result.set(id, response.body as GraphMessage);
          continue;
        }
        if (response.status === 404) continue;
        const code = graphErrorCode(response.body);
        if (response.status === 429 || response.status >= 500) {
          retry.push(id);
          const asked = retryAfterMs(new Headers(response.headers ?? {}), clock.now());
          if (asked !== undefined) wait = Math.max(wait ?? 0, asked);
          continue;
        }
        if (response.status === 401 || response.status === 403) {
          throw new ClientMailError("auth_revoked", "Microsoft Graph denies access to this mailbox", {
            details: { status: response.status, graphCode: code },
          });
        }
        throw new ClientMailError(
          "internal",
          `Microsoft Graph refused a batched request (${response.status})`,
          {
            details: { status: response.status, graphCode: code },
            retryable: false,
          },
        );
      }
      if (retry.length === 0) break;
      if (round >= 6) {
        throw new RateLimitedError("Microsoft Graph kept throttling batched requests", wait, {
          details: { pending: retry.length },
        });
      }
      logger.debug("graph: retrying throttled batch items", { count: retry.length, round });
      await http.wait(wait ?? http.backoff(round), signal);
      pending = retry;
    }
    return result;
  }

  async function fetchOne(
    id: string,
    metadata: GraphMessage,
    folderNames: Map<string, string>,
    signal?: AbortSignal,
  ): Promise<FetchedMessage | undefined> {
    let mime: Buffer;
    try {
      ({ body: mime } = await http.send<Buffer>(
        { method: "GET", url: `${userPath}/messages/${encodeURIComponent(id)}/$value`, signal },
        true,
      ));
    } catch (error) {
      if (ClientMailError.hasCode(error, "not_found")) return undefined;
      throw error;
    }
    const parsed = await simpleParser(mime, { skipImageLinks: true });
    const envelope = toEnvelope(
      metadata,
      folderNames.get(metadata.parentFolderId ?? "") ?? metadata.parentFolderId ?? "",
    );
    envelope.providerId = id;
    // Sent Items carry no internetMessageHeaders; the MIME source always has the threading headers.
    if (envelope.inReplyTo.length === 0)
      envelope.inReplyTo = messageIdList(typeof parsed.inReplyTo === "string" ? parsed.inReplyTo : undefined);
    if (envelope.references.length === 0) {
      const refs = parsed.references;
      envelope.references = Array.isArray(refs) ? refs.flatMap((r) => messageIdList(r)) : messageIdList(refs);
    }
    envelope.messageId ??= parsed.messageId;
    envelope.size = envelope.size || mime.length;
    return {
      envelope,
      text: parsed.text,
      html: typeof parsed.html === "string" ? parsed.html : undefined,
      attachments: parsed.attachments.map((attachment) => {
        const content = attachment.content;
        return {
          filename: attachment.filename ?? "attachment",
          contentType: attachment.contentType,
          size: content.length,
          contentHash: createHash("sha256").update(content).digest("hex"),
          content: async function* () {
            yield new Uint8Array(content.buffer, content.byteOffset, content.length);
          },
        };
      }),
    };
  }

  const provider: GraphProvider = {
    kind: "graph",

    async *changes(cursor: string | undefined, options?: CallOptions): AsyncIterable<ChangePage> {
      ensureOpen();
      const state = decodeCursor(cursor);
      const links: Record<string, string> = {};
      for (const folder of folders) {
        const link = state.links[folder];
        if (link !== undefined) links[folder] = link;
      }
      // Ids seen added in this pass, by folder: a move between two synced folders shows as
      // removed in one and added in the other, and must not end as a removal.
      const addedIn = new Map<string, string>();
      for (const [index, folder] of folders.entries()) {
        let url =
          links[folder] ??
          `${userPath}/mailFolders/${encodeURIComponent(folder)}/messages/delta?$select=${deltaSelect}&$expand=${sizeExpand}`;
        for (;;) {
          const { body } = await http.send<DeltaPage>({
            method: "GET",
            url,
            headers: preferHeaders,
            signal: options?.signal,
          });
          const added = new Map<string, ProviderEnvelope>();
          const removed = new Set<string>();
          const partial: string[] = [];
          for (const item of body.value ?? []) {
            if (typeof item.id !== "string") continue;
            if (item["@removed"] !== undefined) {
              added.delete(item.id);
              const other = addedIn.get(item.id);
              if (other === undefined || other === folder) removed.add(item.id);
              continue;
            }
            removed.delete(item.id);
            addedIn.set(item.id, folder);
            if (isPartial(item)) partial.push(item.id);
            else added.set(item.id, toEnvelope(item, folder));
          }
          if (removed.size > 0) {
            // Delta is per folder: a move shows as a removal in the old folder. With immutable
            // ids the message is still found; if it now lives in a synced folder it is not gone
            // (that folder's delta reports it), whatever order the folders are read in.
            const synced = await resolveFolderIds(options?.signal);
            const ids = [...removed];
            for (let i = 0; i < ids.length; i += 20) {
              for (const [id, message] of await batchGet(ids.slice(i, i + 20), "location", options?.signal)) {
                if (synced.has(message.parentFolderId ?? "")) removed.delete(id);
              }
            }
          }
          if (partial.length > 0) {
            const complete = await completeEnvelopes(partial, options?.signal);
            for (const id of partial) {
              const message = complete.get(id);
              if (message) added.set(id, toEnvelope(message, folder));
            }
          }
          const next = body["@odata.nextLink"];
          const delta = body["@odata.deltaLink"];
          if (next === undefined && delta === undefined) {
            throw new ClientMailError(
              "transient",
              "Microsoft Graph sent a delta page without nextLink or deltaLink",
              {
                details: { folder },
              },
            );
          }
          links[folder] = next ?? delta ?? url;
          const done = next === undefined && index === folders.length - 1;
          yield {
            added: [...added.values()],
            removed: [...removed],
            cursor: JSON.stringify({ v: 1, links }),
            done,
          };
          if (next === undefined) break;
          url = next;
        }
      }
    },

    async *search(query: ParticipantSearch, options?: CallOptions): AsyncIterable<ProviderEnvelope[]> {
      ensureOpen();
      const folderNames = await resolveFolderIds(options?.signal);
      const seen = new Set<string>();
      const addresses = [
        ...new Set(query.addresses.map((a) => a.trim().toLowerCase()).filter((a) => a !== "")),
      ];
      for (let i = 0; i < addresses.length; i += searchChunkSize) {
        const chunk = addresses.slice(i, i + searchChunkSize);
        let kql = `(${chunk.map((a) => `participants:${a}`).join(" OR ")})`;
        // KQL compares whole days; the exact window is applied below.
        if (query.since) kql += ` AND received>=${kqlDate(query.since)}`;
        if (query.before) kql += ` AND received<=${kqlDate(query.before)}`;
        let url: string | undefined =
          `${userPath}/messages?$search=${encodeURIComponent(`"${kql}"`)}&$select=${deltaSelect}&$expand=${sizeExpand}&$top=${Math.min(pageSize, 250)}`;
        while (url !== undefined) {
          const { body }: { body: DeltaPage } = await http.send<DeltaPage>({
            method: "GET",
            url,
            headers: { Prefer: immutableIdPrefer },
            signal: options?.signal,
          });
          const batch: ProviderEnvelope[] = [];
          for (const item of body.value ?? []) {
            const folder = folderNames.get(item.parentFolderId ?? "");
            if (folder === undefined || seen.has(item.id)) continue;
            const envelope = toEnvelope(item, folder);
            const received = item.receivedDateTime ? new Date(item.receivedDateTime) : envelope.date;
            if (query.since && received < query.since) continue;
            if (query.before && received >= query.before) continue;
            seen.add(item.id);
            batch.push(envelope);
          }
          if (batch.length > 0) yield batch;
          url = body["@odata.nextLink"];
        }
      }
    },

    async *fetch(providerIds: readonly string[], options?: CallOptions): AsyncIterable<FetchedMessage> {
      ensureOpen();
      const folderNames = await resolveFolderIds(options?.signal);
      const ids = [...new Set(providerIds)];
      for (let i = 0; i < ids.length; i += 20) {
        const chunk = ids.slice(i, i + 20);
        const metadata = await batchGet(chunk, "headers", options?.signal);
        // Downloads run in parallel; the limiter keeps them within the mailbox's budget.
        const results = await Promise.all(
          chunk.flatMap((id) => {
            const message = metadata.get(id);
            return message ? [fetchOne(id, message, folderNames, options?.signal)] : [];
          }),
        );
        for (const message of results) if (message) yield message;
      }
    },

    async watch(onChange: () => void, _options?: CallOptions): Promise<PushSubscription> {
      ensureOpen();
      return subscriptions.watch(onChange);
    },

    handleWebhook(request: Request): Promise<Response> {
      return subscriptions.handleWebhook(request);
    },

    drain(): Promise<void> {
      return subscriptions.drain();
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await subscriptions.close();
    },
  };
  return provider;
}
