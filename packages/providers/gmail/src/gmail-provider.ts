/**
 * `createGmailProvider`: the Gmail API implementation of the MailProvider port, a thin factory
 * over its modules (settings, http, changes, search, fetch, watch).
 */
import type { FetchResult, ProviderEnvelope } from "@clientmail/core";
import type {
  CallOptions,
  ChangePage,
  MailProvider,
  ParticipantSearch,
  PushSubscription,
} from "@clientmail/core/ports";
import { providerClosedError } from "@clientmail/provider-utils";
import { listChanges } from "./changes.js";
import { fetchMessages } from "./fetch.js";
import { createGmailHttp, type GmailHttpStats } from "./http.js";
import type { MessageReader } from "./batch.js";
import { Prefetch } from "./prefetch.js";
import { MessageSizes } from "./sizes.js";
import { searchParticipants } from "./search.js";
import { resolveSettings, type GmailProviderSettings } from "./settings.js";
import { GmailWatches, gmailPushRegistrar } from "./watch.js";

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

/**
 * Creates the Gmail provider for one connected mailbox.
 *
 * - `changes`: with no cursor, a full listing (`messages.list` + metadata batches); with a
 *   cursor, `history.list` from its historyId. An expired historyId (404) throws
 *   `cursor_expired`: the engine then runs a full listing (Y6).
 * - `search`: `q` of the client addresses (both forms of an IDN address), chunked to
 *   `maxQueryLength` (Y5).
 * - `fetch`: raw source, parsed by the shared parser, only for the ids asked (F1); a message
 *   Gmail refuses alone is yielded as `server_refused` (R1). Batches are bounded by bytes, a large
 *   message is streamed into a spool, and one over `maxMessageBytes` is `too_large` (R7).
 * - Quota: every call is paced per user to `utilisation` × the per-user limit; rate limits and
 *   5xx are retried with backoff honouring Retry-After and the daily quota reset, then surface as
 *   `rate_limited` (with `retryAfterMs`) or `transient` (Y7, R6). `invalid_grant` surfaces as
 *   `auth_revoked`.
 * - Deadlines (R3): every request has `requestTimeoutMs`, the body read included.
 *
 * Throws a ValidationError naming every invalid setting.
 */
export function createGmailProvider(settings: GmailProviderSettings): GmailProvider {
  const config = resolveSettings(settings);
  const { http, pacer, costs } = createGmailHttp(config);
  const reader: MessageReader = {
    http,
    batchSize: config.batchSize,
    getCost: costs["users.messages.get"],
    available: () => pacer.available(),
  };
  const prefetch =
    config.searchPrefetch === "raw" ? new Prefetch(config.prefetchBudgetBytes, config.clock) : undefined;
  const sizes = new MessageSizes();
  const watches = new GmailWatches(http, config, config.logger);
  const push = config.push && gmailPushRegistrar(http, config.push, config.emailAddress);
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw providerClosedError("gmail");
  };

  return {
    kind: "gmail",
    async *changes(cursor: string | undefined, options: CallOptions = {}): AsyncIterable<ChangePage> {
      ensureOpen();
      for await (const page of listChanges(
        { reader, pageSize: config.pageSize, logger: config.logger },
        cursor,
        options,
      )) {
        sizes.remember(page.added);
        yield page;
      }
    },
    async *search(query: ParticipantSearch, options: CallOptions = {}): AsyncIterable<ProviderEnvelope[]> {
      ensureOpen();
      for await (const envelopes of searchParticipants(
        { reader, pageSize: config.pageSize, maxQueryLength: config.maxQueryLength, prefetch },
        query,
        options,
      )) {
        sizes.remember(envelopes);
        yield envelopes;
      }
    },
    async *fetch(providerIds: readonly string[], options: CallOptions = {}): AsyncIterable<FetchResult> {
      ensureOpen();
      yield* fetchMessages(
        { reader, prefetch, sizes, limitBytes: config.maxMessageBytes },
        providerIds,
        options,
      );
    },
    watch: (onChange: () => void, options: CallOptions = {}): Promise<PushSubscription> =>
      watches.watch(onChange, options),
    push,
    handlePushNotification: (body: unknown): boolean => watches.handlePushNotification(body),
    stats: () => ({ ...http.stats, unitsPaced: pacer.totalUnits, pacingWaitMs: pacer.waitedMs }),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await watches.close();
      prefetch?.clear();
      sizes.clear();
    },
  };
}
