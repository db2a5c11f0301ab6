import { ClientMailError, ValidationError } from "@clientmail/core";
import type { FetchedMessage, ProviderEnvelope } from "@clientmail/core";
import {
  silentLogger,
  systemClock,
  type CallOptions,
  type ChangePage,
  type Clock,
  type Logger,
  type MailProvider,
  type ParticipantSearch,
  type PushSubscription,
} from "@clientmail/core/ports";
import {
  decodeRaw,
  envelopeFrom,
  envelopeHeaders,
  fetchedMessageFrom,
  headersOfSource,
  isOutsideSyncedFolders,
  type GmailMessageResource,
} from "./envelope.js";
import {
  GmailHttp,
  defaultGmailCosts,
  type GmailApiMethod,
  type GmailHttpStats,
  type RetryPolicy,
} from "./gmail-http.js";
import {
  OAuthTokens,
  type AccessTokenSource,
  type GmailOAuthCredentials,
  type RefreshedTokens,
} from "./oauth.js";
import { QuotaPacer, realSleep, type Sleep } from "./quota-pacer.js";
import { buildParticipantQueries } from "./search-query.js";

/** Settings of {@link createGmailProvider}. */
export interface GmailProviderSettings {
  /** OAuth credentials of the mailbox, or a source of access tokens the host manages. */
  credentials: GmailOAuthCredentials | AccessTokenSource;
  /** The mailbox address; used to check push notifications. Calls use `me`. */
  emailAddress?: string | undefined;
  /** Called after each token refresh so the host can persist the access token. */
  onTokens?: ((tokens: RefreshedTokens) => void) | undefined;
  /** The HTTP client; defaults to the global `fetch`. */
  fetch?: typeof fetch | undefined;
  /** Time source for token expiry and quota pacing. */
  clock?: Clock | undefined;
  /** How to wait (backoff, pacing); tests and benchmarks pass a virtual one. */
  sleep?: Sleep | undefined;
  logger?: Logger | undefined;
  /** Default `https://gmail.googleapis.com`. */
  baseUrl?: string | undefined;
  /** Default `https://oauth2.googleapis.com/token`. */
  tokenUrl?: string | undefined;
  quota?:
    | {
        /** The per-user limit of the Cloud project: 15,000 (legacy) or 6,000 (projects from May 2026). */
        unitsPerUserPerMinute?: number | undefined;
        /** Share of the limit this mailbox may use per sliding minute. Default 0.9. */
        utilisation?: number | undefined;
        /** Cost overrides, e.g. `{"users.messages.get": 20}` under the 2026 table. */
        costs?: Partial<Record<GmailApiMethod, number>> | undefined;
        /** Share one pacer between providers of the same user (e.g. a sender and a syncer). */
        pacer?: QuotaPacer | undefined;
      }
    | undefined;
  retry?: Partial<RetryPolicy> | undefined;
  /** messages.list / history.list page size. Default 500 (the API maximum). */
  pageSize?: number | undefined;
  /** Parts per batch request. Default 25: batches near 50 trip Gmail's concurrency cap. */
  batchSize?: number | undefined;
  /** Longest `q` the provider sends. Default 1,500 characters. */
  maxQueryLength?: number | undefined;
  /**
   * What `search` reads per match. `"raw"` (default) reads the full source once, builds the
   * envelope from it and keeps it in memory for the `fetch` that follows, so a filed message
   * costs one `messages.get`. `"metadata"` reads headers only (fetch then costs a second get).
   */
  searchPrefetch?: "raw" | "metadata" | undefined;
  /** Memory bound of the prefetch kept between `search` and `fetch`. Default 64 MiB. */
  prefetchBudgetBytes?: number | undefined;
  /** Push via `users.watch` + Pub/Sub. Without it, `watch` polls. */
  push?:
    | {
        /** `projects/{project}/topics/{topic}`; Gmail needs publish rights on it. */
        topicName: string;
        labelIds?: string[] | undefined;
        /** How often `users.watch` is renewed. Default daily, as Google recommends. */
        renewEveryMs?: number | undefined;
      }
    | undefined;
  /** Polling interval of `watch`: the fallback when push is off or a notification is lost. Default 60 s without push, 10 min with. */
  pollIntervalMs?: number | undefined;
}

/** The Gmail provider: the {@link MailProvider} port plus Gmail-specific hooks. */
export interface GmailProvider extends MailProvider {
  readonly kind: "gmail";
  /**
   * Hands a Pub/Sub push (the JSON body Google POSTs to the push endpoint) to the active `watch`
   * subscriptions. Returns true when it was for this mailbox and a change hint was raised. The
   * host must verify the push's OIDC token before calling this. Never throws on bad input.
   */
  handlePushNotification(body: unknown): boolean;
  /** Counters for tests and benchmarks: HTTP calls, retries, units paced. */
  stats(): GmailHttpStats & { unitsPaced: number; pacingWaitMs: number };
}

interface ListResponse {
  messages?: { id: string; threadId: string }[];
  nextPageToken?: string;
  resultSizeEstimate?: number;
}

interface HistoryRecord {
  id: string;
  messagesAdded?: { message: { id: string } }[];
  messagesDeleted?: { message: { id: string } }[];
  labelsAdded?: { message: { id: string } }[];
  labelsRemoved?: { message: { id: string } }[];
}

interface HistoryResponse {
  history?: HistoryRecord[];
  nextPageToken?: string;
  historyId?: string;
}

interface ProfileResponse {
  emailAddress: string;
  messagesTotal?: number;
  historyId: string;
}

type Cursor =
  { kind: "history"; historyId: string } | { kind: "listing"; historyId: string; pageToken: string };

function encodeCursor(cursor: Cursor): string {
  return cursor.kind === "history" ? `h:${cursor.historyId}` : `l:${cursor.historyId}:${cursor.pageToken}`;
}

function decodeCursor(text: string): Cursor {
  const history = /^h:(\d+)$/.exec(text);
  if (history) return { kind: "history", historyId: history[1]! };
  const listing = /^l:(\d+):(.+)$/.exec(text);
  if (listing) return { kind: "listing", historyId: listing[1]!, pageToken: listing[2]! };
  throw new ValidationError([
    {
      field: "cursor",
      value: text,
      expected: 'a Gmail cursor ("h:<historyId>" or "l:<historyId>:<pageToken>")',
    },
  ]);
}

function positive(
  field: string,
  value: number | undefined,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0 || value > max) {
    throw new ValidationError([{ field, value, expected: `a positive number up to ${max}` }]);
  }
  return value;
}

interface Prefetched {
  message: GmailMessageResource;
  source: Buffer;
  at: number;
}

/** Prefetched sources not fetched within this time are dropped: they were not filed. */
const prefetchTtlMs = 10 * 60_000;

/**
 * Creates the Gmail provider for one connected mailbox.
 *
 * - `changes`: with no cursor, a full listing (`messages.list` + metadata batches); with a
 *   cursor, `history.list` from its historyId. An expired historyId (404) throws
 *   `cursor_expired`: the engine then runs a full listing (Y6).
 * - `search`: `q` of the client addresses, chunked to `maxQueryLength` (Y5).
 * - `fetch`: raw source, parsed with mailparser, only for the ids asked (F1).
 * - Quota: every call is paced per user to `utilisation` × the per-user limit; rate limits and
 *   5xx are retried with backoff honouring Retry-After, then surface as `rate_limited` or
 *   `transient` (Y7). `invalid_grant` surfaces as `auth_revoked`.
 *
 * Throws a {@link ValidationError} naming the setting when a setting is invalid.
 */
export function createGmailProvider(settings: GmailProviderSettings): GmailProvider {
  const issues: { field: string; value: unknown; expected: string }[] = [];
  if (
    settings === null ||
    typeof settings !== "object" ||
    settings.credentials === null ||
    typeof settings.credentials !== "object"
  ) {
    throw new ValidationError([
      { field: "credentials", value: undefined, expected: "OAuth credentials or an access-token source" },
    ]);
  }
  const credentials = settings.credentials;
  if ("refreshToken" in credentials) {
    for (const key of ["clientId", "clientSecret", "refreshToken"] as const) {
      if (typeof credentials[key] !== "string" || credentials[key] === "") {
        issues.push({
          field: `credentials.${key}`,
          value: key === "clientId" ? credentials[key] : "[redacted]",
          expected: "a non-empty string",
        });
      }
    }
  } else if (typeof credentials.getAccessToken !== "function") {
    issues.push({
      field: "credentials",
      value: "[object]",
      expected: "{ clientId, clientSecret, refreshToken } or { getAccessToken() }",
    });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  const fetchImpl = settings.fetch ?? globalThis.fetch.bind(globalThis);
  const clock = settings.clock ?? systemClock;
  const sleep = settings.sleep ?? realSleep;
  const logger = settings.logger ?? silentLogger;
  const pageSize = positive("pageSize", settings.pageSize, 500, 500);
  const batchSize = positive("batchSize", settings.batchSize, 25, 100);
  const maxQueryLength = positive("maxQueryLength", settings.maxQueryLength, 1500);
  const unitsPerMinute = positive(
    "quota.unitsPerUserPerMinute",
    settings.quota?.unitsPerUserPerMinute,
    15_000,
  );
  const utilisation = positive("quota.utilisation", settings.quota?.utilisation, 0.9, 1);
  const retry: RetryPolicy = {
    maxAttempts: positive("retry.maxAttempts", settings.retry?.maxAttempts, 5),
    baseDelayMs: positive("retry.baseDelayMs", settings.retry?.baseDelayMs, 1000),
    maxDelayMs: positive("retry.maxDelayMs", settings.retry?.maxDelayMs, 64_000),
  };
  const renewEvery = positive("push.renewEveryMs", settings.push?.renewEveryMs, 86_400_000);
  const pollEvery = positive("pollIntervalMs", settings.pollIntervalMs, settings.push ? 600_000 : 60_000);
  if (
    settings.push !== undefined &&
    (typeof settings.push.topicName !== "string" || settings.push.topicName === "")
  ) {
    throw new ValidationError([
      {
        field: "push.topicName",
        value: settings.push.topicName,
        expected: "projects/{project}/topics/{topic}",
      },
    ]);
  }
  const prefetchMode = settings.searchPrefetch ?? "raw";
  const prefetchBudget = positive("prefetchBudgetBytes", settings.prefetchBudgetBytes, 64 * 1024 * 1024);
  const pacer =
    settings.quota?.pacer ?? new QuotaPacer(Math.floor(unitsPerMinute * utilisation), clock, sleep);
  const tokens = new OAuthTokens(credentials, {
    fetch: fetchImpl,
    tokenUrl: settings.tokenUrl ?? "https://oauth2.googleapis.com/token",
    clock,
    sleep,
    onTokens: settings.onTokens,
    maxAttempts: retry.maxAttempts,
  });
  const http = new GmailHttp({
    fetch: fetchImpl,
    baseUrl: (settings.baseUrl ?? "https://gmail.googleapis.com").replace(/\/$/, ""),
    userId: "me",
    tokens,
    pacer,
    costs: { ...defaultGmailCosts, ...settings.quota?.costs },
    retry,
    clock,
    sleep,
    logger,
    random: Math.random,
  });

  const prefetched = new Map<string, Prefetched>();
  let prefetchedBytes = 0;
  const remember = (entry: Prefetched) => {
    if (entry.source.length > prefetchBudget) return;
    // Map order is insertion order: the first entries are the oldest.
    for (const [oldestId, oldest] of prefetched) {
      const overBudget = prefetchedBytes + entry.source.length > prefetchBudget;
      if (!overBudget && oldest.at > entry.at - prefetchTtlMs) break;
      prefetched.delete(oldestId);
      prefetchedBytes -= oldest.source.length;
    }
    prefetched.set(entry.message.id, entry);
    prefetchedBytes += entry.source.length;
  };
  const take = (id: string): Prefetched | undefined => {
    const entry = prefetched.get(id);
    if (entry) {
      prefetched.delete(id);
      prefetchedBytes -= entry.source.length;
    }
    return entry;
  };

  const metadataPath = (id: string) =>
    `/messages/${encodeURIComponent(id)}?format=metadata&${envelopeHeaders.map((name) => `metadataHeaders=${encodeURIComponent(name)}`).join("&")}`;
  const rawPath = (id: string) => `/messages/${encodeURIComponent(id)}?format=raw`;

  /** Gets messages in batches; yields found resources per batch; ids that are gone are reported apart. */
  async function* getMessages(
    ids: readonly string[],
    pathOf: (id: string) => string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<{ found: GmailMessageResource[]; gone: string[] }> {
    const cost = { ...defaultGmailCosts, ...settings.quota?.costs }["users.messages.get"];
    for (let start = 0; start < ids.length;) {
      // Near the end of a minute's budget, send what fits now rather than wait for a whole batch.
      const fitting = Math.floor(pacer.available() / Math.max(1, cost));
      const slice = ids.slice(start, start + Math.max(1, Math.min(batchSize, fitting)));
      start += slice.length;
      const results = await http.batchGet<GmailMessageResource>(
        "users.messages.get",
        new Map(slice.map((id) => [id, pathOf(id)])),
        signal,
      );
      const found: GmailMessageResource[] = [];
      const gone: string[] = [];
      for (const id of slice) {
        const result = results.get(id);
        if (result?.ok) found.push(result.value);
        // 404: purged since it was listed; 400: an id Gmail never issued. Neither exists.
        else if (!result || result.failure.status === 404 || result.failure.status === 400) gone.push(id);
        else
          throw new ClientMailError(
            "internal",
            `Gmail messages.get failed: ${result.failure.status} ${result.failure.reason ?? ""}`.trim(),
            {
              details: { status: result.failure.status, reason: result.failure.reason },
              retryable: false,
            },
          );
      }
      yield { found, gone };
    }
  }

  async function envelopesOf(
    ids: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<{ added: ProviderEnvelope[]; gone: string[] }> {
    const added: ProviderEnvelope[] = [];
    const gone: string[] = [];
    for await (const batch of getMessages(ids, metadataPath, signal)) {
      gone.push(...batch.gone);
      for (const message of batch.found) {
        if (isOutsideSyncedFolders(message.labelIds ?? [])) gone.push(message.id);
        else added.push(envelopeFrom(message, message.payload?.headers ?? []));
      }
    }
    return { added, gone };
  }

  async function* fullListing(
    start: Cursor | undefined,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<ChangePage> {
    let historyId: string;
    let pageToken: string | undefined;
    let estimatedTotal: number | undefined;
    if (start?.kind === "listing") {
      historyId = start.historyId;
      pageToken = start.pageToken;
    } else {
      // Read the history id before listing: changes made during the listing are replayed after it.
      const profile = await http.json<ProfileResponse>("users.getProfile", "/profile", {}, signal);
      historyId = profile.historyId;
      estimatedTotal = profile.messagesTotal;
    }
    for (;;) {
      const query = new URLSearchParams({ maxResults: String(pageSize) });
      if (pageToken !== undefined) query.set("pageToken", pageToken);
      let page: ListResponse;
      try {
        page = await http.json<ListResponse>("users.messages.list", "/messages", { query }, signal);
      } catch (error) {
        if (
          pageToken !== undefined &&
          ClientMailError.isInstance(error) &&
          (error.code === "internal" || error.code === "not_found")
        ) {
          throw new ClientMailError(
            "cursor_expired",
            "Gmail no longer accepts this listing page token: run a full listing",
            { cause: error },
          );
        }
        throw error;
      }
      const { added } = await envelopesOf(
        (page.messages ?? []).map((message) => message.id),
        signal,
      );
      const next = page.nextPageToken;
      yield {
        added,
        removed: [],
        cursor: encodeCursor(
          next ? { kind: "listing", historyId, pageToken: next } : { kind: "history", historyId },
        ),
        done: next === undefined,
        estimatedTotal: estimatedTotal ?? page.resultSizeEstimate,
      };
      if (!next) return;
      pageToken = next;
    }
  }

  async function* historySince(
    startHistoryId: string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<ChangePage> {
    let pageToken: string | undefined;
    let cursor = startHistoryId;
    for (;;) {
      const query = new URLSearchParams({ startHistoryId, maxResults: String(pageSize) });
      for (const type of ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"])
        query.append("historyTypes", type);
      if (pageToken !== undefined) query.set("pageToken", pageToken);
      let page: HistoryResponse;
      try {
        page = await http.json<HistoryResponse>("users.history.list", "/history", { query }, signal);
      } catch (error) {
        if (
          ClientMailError.hasCode(error, "not_found") ||
          (ClientMailError.isInstance(error) && error.details.reason === "invalidArgument")
        ) {
          logger.warn("gmail history expired", { code: "cursor_expired" });
          throw new ClientMailError(
            "cursor_expired",
            "Gmail no longer has history from this cursor: run a full listing",
            {
              cause: error,
              details: { startHistoryId },
            },
          );
        }
        throw error;
      }
      const records = page.history ?? [];
      const changed = new Set<string>();
      const deleted = new Set<string>();
      for (const record of records) {
        for (const entry of [
          ...(record.messagesAdded ?? []),
          ...(record.labelsAdded ?? []),
          ...(record.labelsRemoved ?? []),
        ]) {
          changed.add(entry.message.id);
          deleted.delete(entry.message.id);
        }
        for (const entry of record.messagesDeleted ?? []) {
          deleted.add(entry.message.id);
          changed.delete(entry.message.id);
        }
      }
      const next = page.nextPageToken;
      // Records come in ascending historyId order, so the last one is where this page ends.
      if (next) {
        const last = records[records.length - 1];
        if (last) cursor = last.id;
      } else {
        cursor = page.historyId ?? cursor;
      }
      if (records.length > 0 || !next) {
        const { added, gone } = await envelopesOf([...changed], signal);
        yield {
          added,
          removed: [...deleted, ...gone],
          cursor: encodeCursor({ kind: "history", historyId: cursor }),
          done: !next,
        };
      }
      if (!next) return;
      pageToken = next;
    }
  }

  const subscriptions = new Set<{
    onChange: () => void;
    stop: () => Promise<void>;
    lastHistoryId: string | undefined;
  }>();
  let closed = false;

  const provider: GmailProvider = {
    kind: "gmail",

    async *changes(cursor: string | undefined, options?: CallOptions): AsyncIterable<ChangePage> {
      let decoded: Cursor | undefined;
      try {
        decoded = cursor === undefined ? undefined : decodeCursor(cursor);
      } catch (error) {
        // The port's contract: a cursor this provider cannot read is one it no longer accepts.
        throw new ClientMailError("cursor_expired", "The Gmail cursor cannot be read", {
          cause: error,
          details: { provider: "gmail" },
        });
      }
      const signal = options?.signal;
      yield* decoded?.kind === "history"
        ? historySince(decoded.historyId, signal)
        : fullListing(decoded, signal);
    },

    async *search(query: ParticipantSearch, options?: CallOptions): AsyncIterable<ProviderEnvelope[]> {
      const signal = options?.signal;
      if (!Array.isArray(query.addresses)) {
        throw new ValidationError([
          { field: "addresses", value: query.addresses, expected: "an array of normalised addresses" },
        ]);
      }
      const addresses = query.addresses
        .map((address) => address.trim().toLowerCase())
        .filter((address) => address !== "");
      if (addresses.length === 0) return;
      const seen = new Set<string>();
      for (const q of buildParticipantQueries(addresses, {
        since: query.since,
        before: query.before,
        maxLength: maxQueryLength,
      })) {
        let pageToken: string | undefined;
        do {
          const params = new URLSearchParams({ q, maxResults: String(pageSize) });
          if (pageToken !== undefined) params.set("pageToken", pageToken);
          const page = await http.json<ListResponse>(
            "users.messages.list",
            "/messages",
            { query: params },
            signal,
          );
          const ids = (page.messages ?? []).map((message) => message.id).filter((id) => !seen.has(id));
          ids.forEach((id) => seen.add(id));
          if (prefetchMode === "raw") {
            for await (const batch of getMessages(ids, rawPath, signal)) {
              const envelopes: ProviderEnvelope[] = [];
              for (const message of batch.found) {
                if (message.raw === undefined || isOutsideSyncedFolders(message.labelIds ?? [])) continue;
                const source = decodeRaw(message.raw);
                const { raw: _raw, ...rest } = message;
                remember({ message: rest, source, at: clock.now().getTime() });
                envelopes.push(envelopeFrom(rest, headersOfSource(source)));
              }
              if (envelopes.length > 0) yield envelopes;
            }
          } else {
            const { added } = await envelopesOf(ids, signal);
            if (added.length > 0) yield added;
          }
          pageToken = page.nextPageToken;
        } while (pageToken !== undefined);
      }
    },

    async *fetch(providerIds: readonly string[], options?: CallOptions): AsyncIterable<FetchedMessage> {
      const signal = options?.signal;
      const missing: string[] = [];
      for (const id of new Set(providerIds)) {
        const cached = take(id);
        if (cached && cached.at > clock.now().getTime() - prefetchTtlMs)
          yield await fetchedMessageFrom(cached.message, cached.source);
        else missing.push(id);
      }
      for await (const batch of getMessages(missing, rawPath, signal)) {
        for (const message of batch.found) {
          if (message.raw === undefined) continue;
          const { raw, ...rest } = message;
          yield await fetchedMessageFrom(rest, decodeRaw(raw));
        }
      }
    },

    async watch(onChange: () => void, options?: CallOptions): Promise<PushSubscription> {
      if (closed) throw new ClientMailError("mailbox_unavailable", "This Gmail provider is closed");
      const signal = options?.signal;
      const timers: ReturnType<typeof setTimeout>[] = [];
      let pushActive = false;
      const profile = await http.json<ProfileResponse>("users.getProfile", "/profile", {}, signal);
      const subscription = {
        onChange,
        lastHistoryId: profile.historyId as string | undefined,
        stop: async () => {
          if (!subscriptions.delete(subscription)) return;
          timers.forEach((timer) => clearInterval(timer));
          if (pushActive && ![...subscriptions].length) {
            await http.json("users.stop", "/stop", { httpMethod: "POST" }).catch((error: unknown) => {
              logger.warn("gmail users.stop failed", {
                code: ClientMailError.isInstance(error) ? error.code : "unknown",
              });
            });
          }
        },
      };
      const push = settings.push;
      const startWatch = async () => {
        try {
          await http.json("users.watch", "/watch", {
            httpMethod: "POST",
            body: {
              topicName: push!.topicName,
              labelIds: push!.labelIds ?? [],
              labelFilterBehavior: "INCLUDE",
            },
          });
          pushActive = true;
        } catch (error) {
          // Push is an optimisation: without it the poll below still finds every change.
          pushActive = false;
          logger.warn("gmail users.watch failed; polling only", {
            code: ClientMailError.isInstance(error) ? error.code : "unknown",
          });
        }
      };
      if (push) {
        await startWatch();
        timers.push(setInterval(() => void startWatch(), renewEvery));
      }
      timers.push(
        setInterval(() => {
          http
            .json<ProfileResponse>("users.getProfile", "/profile")
            .then((current) => {
              if (current.historyId !== subscription.lastHistoryId) {
                subscription.lastHistoryId = current.historyId;
                onChange();
              }
            })
            .catch((error: unknown) => {
              logger.warn("gmail poll failed", {
                code: ClientMailError.isInstance(error) ? error.code : "unknown",
              });
            });
        }, pollEvery),
      );
      timers.forEach((timer) => (timer as { unref?: () => void }).unref?.());
      subscriptions.add(subscription);
      return { stop: subscription.stop };
    },

    handlePushNotification(body: unknown): boolean {
      try {
        const data = (body as { message?: { data?: unknown } } | null)?.message?.data;
        if (typeof data !== "string") return false;
        const payload = JSON.parse(Buffer.from(data, "base64url").toString("utf8")) as {
          emailAddress?: unknown;
          historyId?: unknown;
        };
        if (typeof payload.historyId !== "string" && typeof payload.historyId !== "number") return false;
        const address =
          typeof payload.emailAddress === "string" ? payload.emailAddress.toLowerCase() : undefined;
        if (settings.emailAddress !== undefined && address !== settings.emailAddress.toLowerCase())
          return false;
        let raised = false;
        for (const subscription of subscriptions) {
          const historyId = String(payload.historyId);
          if (
            subscription.lastHistoryId !== undefined &&
            BigInt(historyId) <= BigInt(subscription.lastHistoryId)
          )
            continue;
          subscription.lastHistoryId = historyId;
          subscription.onChange();
          raised = true;
        }
        return raised;
      } catch {
        return false;
      }
    },

    stats() {
      return { ...http.stats, unitsPaced: pacer.totalUnits, pacingWaitMs: pacer.waitedMs };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const subscription of [...subscriptions]) await subscription.stop();
      prefetched.clear();
      prefetchedBytes = 0;
    },
  };
  return provider;
}
