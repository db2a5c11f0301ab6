/**
 * Settings of {@link createGraphProvider}, and their validation.
 */
import { ValidationError, type ValidationIssue } from "@clientmail/core";
import {
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type MailboxPacing,
  type TokenSource,
} from "@clientmail/core/ports";
import {
  checkHttpsUrls,
  DEFAULT_MAX_MESSAGE_BYTES,
  resolveMaxMessageBytes,
  sleep as realSleep,
  warnInsecureUrls,
  type RetryPolicy,
  type Sleep,
} from "@clientmail/provider-utils";
import { ConcurrencyLimiter } from "./limiter.js";

/** Timers the provider schedules renewals and polls with; tests pass controllable ones. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Change-notification settings: where Graph posts, and how long subscriptions live. */
export interface GraphPushSettings {
  /** Public HTTPS URL routed to {@link GraphProvider.handleWebhook}. */
  notificationUrl: string;
  /** Public HTTPS URL for lifecycle events, routed to the same handler. Strongly recommended: without it a removed subscription is only noticed at renewal. */
  lifecycleNotificationUrl?: string | undefined;
  /** Subscription lifetime in minutes, 45 to 10 070 (the live service refuses more). Default 4 320 (3 days). */
  subscriptionMinutes?: number | undefined;
}

/** Settings of {@link createGraphProvider}. */
export interface GraphProviderSettings {
  /** The address of the mailbox to sync. */
  mailbox: string;
  /**
   * True for a shared mailbox (or any mailbox other than the signed-in user's): requests go to
   * `/users/{mailbox}` and need Full Access. False (default): `/me`.
   */
  shared?: boolean | undefined;
  /**
   * Returns a valid access token for Graph. Called before every request, so it should cache;
   * `forceRefresh` is true after Graph answered 401. An OAuth `invalid_grant` thrown here (in any
   * usual shape: `error`, `errorCode` or `code` equal to `invalid_grant`) becomes `auth_revoked`.
   */
  getAccessToken?: ((options: { forceRefresh: boolean }) => Promise<string>) | undefined;
  /**
   * Instead of `getAccessToken`: a {@link TokenSource} (`@clientmail/auth`: MSAL delegated, or
   * app-only client credentials for a whole tenant with `shared: true`). Asked with
   * `forceRefresh` once after a 401. Exactly one of the two.
   */
  tokenSource?: TokenSource | undefined;
  /** Folders to sync, by well-known name (`inbox`, `sentitems`, `archive`, ...) or folder id. Default `["inbox", "sentitems"]`. */
  folders?: readonly string[] | undefined;
  /** The `fetch` used for every request. Default: the global one. */
  fetch?: typeof fetch | undefined;
  clock?: Clock | undefined;
  /** Sleep used between retries. Default: a timer. */
  sleep?: Sleep | undefined;
  /** Jitter source for backoff, in [0, 1). Default `Math.random`. */
  random?: (() => number) | undefined;
  timers?: Timers | undefined;
  logger?: Logger | undefined;
  /**
   * The concurrency limit of this mailbox. Outlook allows four concurrent requests per app and
   * mailbox, so every provider of the same mailbox in this process (a shared mailbox connected by
   * several members, a syncer and a sender) should get the same limiter. Default: a limiter of
   * its own with `maxConcurrentRequests`.
   */
  limiter?: ConcurrencyLimiter | undefined;
  /**
   * Concurrent requests shared with other processes syncing the same mailbox (a worker's
   * `MailboxPacing`): each request also holds a slot of it, with the limiter's capacity, so N
   * processes together stay within Outlook's 4 per mailbox. Default: none (this process only).
   */
  sharedRequests?: Pick<MailboxPacing, "acquire"> | undefined;
  /** Concurrent requests to this mailbox, 1 to 4, when no `limiter` is given. Default 4. */
  maxConcurrentRequests?: number | undefined;
  /**
   * Deadline of one HTTP request, reading the whole response body included (R3): a silent or
   * trickling connection fails the request as `transient` (then retried like any transient
   * failure). Default 2 minutes.
   */
  requestTimeoutMs?: number | undefined;
  /** `Prefer: odata.maxpagesize` for delta and search, 1 to 1000. Default 100. */
  pageSize?: number | undefined;
  /** Addresses per `$search` query in `MailProvider.search`. Default 10. */
  searchChunkSize?: number | undefined;
  /**
   * How requests are repeated after throttling, 5xx and network failures. Defaults: 6 attempts,
   * full-jitter backoff from 1 s capped at 32 s when Graph gives no Retry-After; a Retry-After up
   * to 2 minutes is waited out, a longer one fails the call as `rate_limited` with `retryAfterMs`
   * for the engine to wait out (R6).
   */
  retry?: Partial<RetryPolicy> | undefined;
  /** Change notifications; without them `watch` polls. */
  push?: GraphPushSettings | undefined;
  /** Poll interval of `watch` when push is off or failed. Default 60 000 ms. */
  pollIntervalMs?: number | undefined;
  /**
   * Graph root. Default `https://graph.microsoft.com/v1.0`. Microsoft's fixed endpoint needs no
   * host policy (R9); this is a setting for fakes, and must be https unless `allowInsecure` is set.
   */
  baseUrl?: string | undefined;
  /**
   * R7: the largest message fetched, in bytes (by PR_MESSAGE_SIZE, and by what `$value` brings).
   * A larger one is not downloaded, or dropped as soon as its download passes the limit: it is
   * reported `too_large` and the engine quarantines it (R2). Default 50 MiB (52428800); 64 KiB to
   * 2 GiB.
   */
  maxMessageBytes?: number | undefined;
  /**
   * Allows an `http://` `baseUrl`, for a fake on loopback in tests. Logged once when the provider
   * is created. Default false.
   */
  allowInsecure?: boolean | undefined;
}

function integerIn(issues: ValidationIssue[], field: string, value: unknown, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    issues.push({ field, value, expected: `an integer from ${min} to ${max}` });
  }
}

/**
 * Throws a {@link ValidationError} naming every invalid setting. Returns the URL settings that
 * use `allowInsecure` (plain http), to be logged.
 */
export function validateSettings(settings: GraphProviderSettings): string[] {
  const issues: ValidationIssue[] = [];
  const input = settings as Partial<GraphProviderSettings> | undefined;
  if (typeof input !== "object" || input === null) {
    throw new ValidationError([{ field: "settings", value: input, expected: "a settings object" }]);
  }
  if (typeof input.mailbox !== "string" || !/^[^\s@]+@[^\s@]+$/.test(input.mailbox.trim())) {
    issues.push({ field: "settings.mailbox", value: input.mailbox, expected: "the mailbox's email address" });
  }
  const hasTokenSource = typeof input.tokenSource?.accessToken === "function";
  if (typeof input.getAccessToken !== "function" && !hasTokenSource) {
    issues.push({
      field: input.tokenSource === undefined ? "settings.getAccessToken" : "settings.tokenSource",
      value: input.tokenSource === undefined ? input.getAccessToken : "[object]",
      expected: "a function returning an access token, or a TokenSource { accessToken() }",
    });
  } else if (input.getAccessToken !== undefined && input.tokenSource !== undefined) {
    issues.push({
      field: "settings.tokenSource",
      value: "[object]",
      expected: "either getAccessToken or tokenSource, not both",
    });
  }
  if (
    input.folders !== undefined &&
    (!Array.isArray(input.folders) ||
      input.folders.length === 0 ||
      input.folders.some((f) => typeof f !== "string" || f.trim() === ""))
  ) {
    issues.push({
      field: "settings.folders",
      value: input.folders,
      expected: "a non-empty list of folder names or ids",
    });
  }
  integerIn(issues, "settings.maxConcurrentRequests", input.maxConcurrentRequests, 1, 4);
  if (input.limiter !== undefined && !(input.limiter instanceof ConcurrencyLimiter)) {
    issues.push({ field: "settings.limiter", value: "[object]", expected: "a ConcurrencyLimiter" });
  }
  if (input.sharedRequests !== undefined && typeof input.sharedRequests?.acquire !== "function") {
    issues.push({ field: "settings.sharedRequests", value: "[object]", expected: "a MailboxPacing" });
  }
  if (input.limiter !== undefined && input.maxConcurrentRequests !== undefined) {
    issues.push({
      field: "settings.maxConcurrentRequests",
      value: input.maxConcurrentRequests,
      expected: "not set when a limiter is given (the limiter's capacity applies)",
    });
  }
  integerIn(issues, "settings.requestTimeoutMs", input.requestTimeoutMs, 100, 3_600_000);
  integerIn(issues, "settings.pageSize", input.pageSize, 1, 1000);
  integerIn(issues, "settings.searchChunkSize", input.searchChunkSize, 1, 50);
  integerIn(issues, "settings.pollIntervalMs", input.pollIntervalMs, 1000, 86_400_000);
  integerIn(issues, "settings.retry.maxAttempts", input.retry?.maxAttempts, 1, 20);
  integerIn(issues, "settings.retry.baseDelayMs", input.retry?.baseDelayMs, 1, 3_600_000);
  integerIn(issues, "settings.retry.maxDelayMs", input.retry?.maxDelayMs, 1, 3_600_000);
  integerIn(issues, "settings.retry.maxWaitMs", input.retry?.maxWaitMs, 0, 86_400_000);
  if (input.push !== undefined) {
    for (const key of ["notificationUrl", "lifecycleNotificationUrl"] as const) {
      const url = input.push[key];
      if (url === undefined && key === "lifecycleNotificationUrl") continue;
      if (typeof url !== "string" || !url.startsWith("https://")) {
        issues.push({ field: `settings.push.${key}`, value: url, expected: "a public https:// URL" });
      }
    }
    integerIn(issues, "settings.push.subscriptionMinutes", input.push.subscriptionMinutes, 45, 10_070);
  }
  resolveMaxMessageBytes(issues, "settings.maxMessageBytes", input.maxMessageBytes);
  const insecureUrls = checkHttpsUrls(
    [["settings.baseUrl", input.baseUrl]],
    input.allowInsecure,
    issues,
    "settings.allowInsecure",
  );
  if (issues.length > 0) throw new ValidationError(issues);
  return insecureUrls;
}

/** Settings with every default applied. */
export interface ResolvedGraphSettings {
  mailbox: string;
  userPath: string;
  getAccessToken: (options: { forceRefresh: boolean }) => Promise<string>;
  folders: readonly string[];
  fetch: typeof fetch;
  clock: Clock;
  sleep: Sleep;
  random: () => number;
  timers: Timers;
  logger: Logger;
  limiter: ConcurrencyLimiter;
  sharedRequests: Pick<MailboxPacing, "acquire"> | undefined;
  requestTimeoutMs: number;
  pageSize: number;
  searchChunkSize: number;
  retry: RetryPolicy;
  push: GraphPushSettings | undefined;
  pollIntervalMs: number;
  baseUrl: string;
  maxMessageBytes: number;
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

function graphTokenFrom(source: TokenSource): (options: { forceRefresh: boolean }) => Promise<string> {
  return async ({ forceRefresh }) => (await source.accessToken({ forceRefresh })).token;
}

/** Validates (see {@link validateSettings}) and applies defaults. */
export function resolveSettings(settings: GraphProviderSettings): ResolvedGraphSettings {
  const insecureUrls = validateSettings(settings);
  warnInsecureUrls(settings.logger, "graph", insecureUrls);
  const mailbox = settings.mailbox.trim().toLowerCase();
  return {
    mailbox,
    userPath: settings.shared ? `/users/${encodeURIComponent(mailbox)}` : "/me",
    getAccessToken: settings.tokenSource
      ? graphTokenFrom(settings.tokenSource)
      : (settings.getAccessToken as (options: { forceRefresh: boolean }) => Promise<string>),
    folders: [...(settings.folders ?? ["inbox", "sentitems"])],
    fetch: settings.fetch ?? ((input, init) => fetch(input, init)),
    clock: settings.clock ?? systemClock,
    sleep: settings.sleep ?? realSleep,
    random: settings.random ?? Math.random,
    timers: settings.timers ?? defaultTimers,
    logger: settings.logger ?? silentLogger,
    limiter: settings.limiter ?? new ConcurrencyLimiter(settings.maxConcurrentRequests ?? 4),
    sharedRequests: settings.sharedRequests,
    requestTimeoutMs: settings.requestTimeoutMs ?? 120_000,
    pageSize: settings.pageSize ?? 100,
    searchChunkSize: settings.searchChunkSize ?? 10,
    retry: {
      maxAttempts: settings.retry?.maxAttempts ?? 6,
      baseDelayMs: settings.retry?.baseDelayMs ?? 1000,
      maxDelayMs: settings.retry?.maxDelayMs ?? 32_000,
      maxWaitMs: settings.retry?.maxWaitMs ?? 120_000,
    },
    push: settings.push,
    pollIntervalMs: settings.pollIntervalMs ?? 60_000,
    baseUrl: (settings.baseUrl ?? "https://graph.microsoft.com/v1.0").replace(/\/$/, ""),
    maxMessageBytes: settings.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
  };
}
