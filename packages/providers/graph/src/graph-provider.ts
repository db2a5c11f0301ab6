/**
 * `createGraphProvider`: the MailProvider for Microsoft 365 / Outlook mailboxes over Microsoft
 * Graph, a thin factory over its modules (settings, http, changes, search, fetch, watch).
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
import { createGraphContext } from "./graph-context.js";
import { createGraphHttp } from "./http.js";
import { searchParticipants } from "./search.js";
import { resolveSettings, type GraphProviderSettings } from "./settings.js";
import { graphPushRegistrar } from "./push-registrar.js";
import { SubscriptionManager } from "./watch.js";

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

/**
 * Creates the provider for one Microsoft 365 mailbox.
 *
 * - `changes`: per-folder delta (`Prefer: IdType="ImmutableId"`, `$select` of envelope fields
 *   only). A delta link Graph no longer accepts (410, SyncStateNotFound, resyncRequired) throws
 *   `cursor_expired`; the engine then calls `changes(undefined)` for a full listing.
 * - `search`: KQL `$search` on `participants:` in chunks of addresses, restricted to the synced
 *   folders; windows that hit Microsoft's 1,000-result cap are split by date (Y5).
 * - `fetch`: envelope and headers through `$batch` (20 per batch), then the MIME source
 *   (`$value`), parsed; a message Graph refuses alone is yielded as `server_refused` (R1).
 * - At most `maxConcurrentRequests` (≤ 4) requests in flight per mailbox, through the `limiter`
 *   the host shares between the providers of one mailbox; Retry-After honoured, else full-jitter
 *   backoff; a longer wait than `retry.maxWaitMs` fails as `rate_limited` (R6).
 * - Deadlines (R3): every request has `requestTimeoutMs`, the body read included.
 * - `watch`: change-notification subscriptions when `push` is set, else polling.
 *
 * Throws a ValidationError naming every invalid setting.
 */
export function createGraphProvider(settings: GraphProviderSettings): GraphProvider {
  const config = resolveSettings(settings);
  const http = createGraphHttp(config);
  const context = createGraphContext(http, config);
  const subscriptions = new SubscriptionManager({
    http,
    push: config.push,
    folders: config.folders,
    userPath: config.userPath,
    clock: config.clock,
    timers: config.timers,
    logger: config.logger,
    pollIntervalMs: config.pollIntervalMs,
  });
  const push =
    config.push &&
    graphPushRegistrar({
      http,
      push: config.push,
      folders: config.folders,
      userPath: config.userPath,
      clock: config.clock,
    });
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw providerClosedError("graph");
  };

  return {
    kind: "graph",
    async *changes(cursor: string | undefined, options: CallOptions = {}): AsyncIterable<ChangePage> {
      ensureOpen();
      yield* listChanges(context, cursor, options);
    },
    async *search(query: ParticipantSearch, options: CallOptions = {}): AsyncIterable<ProviderEnvelope[]> {
      ensureOpen();
      yield* searchParticipants(context, query, options);
    },
    async *fetch(providerIds: readonly string[], options: CallOptions = {}): AsyncIterable<FetchResult> {
      ensureOpen();
      yield* fetchMessages(context, providerIds, options);
    },
    async watch(onChange: () => void, _options: CallOptions = {}): Promise<PushSubscription> {
      ensureOpen();
      return subscriptions.watch(onChange);
    },
    push,
    handleWebhook: (request: Request): Promise<Response> => subscriptions.handleWebhook(request),
    drain: (): Promise<void> => subscriptions.drain(),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await subscriptions.close();
    },
  };
}
