/**
 * Settings of {@link createGmailProvider}, and their validation: every invalid setting is named
 * at once, with its value (secrets redacted) and what was expected.
 */
import { ValidationError, type ValidationIssue } from "@clientmail/core";
import {
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type MailboxPacing,
} from "@clientmail/core/ports";
import {
  checkHttpsUrls,
  defaultRetryPolicy,
  resolveMaxMessageBytes,
  sleep as realSleep,
  warnInsecureUrls,
  type RetryPolicy,
  type Sleep,
} from "@clientmail/provider-utils";
import type { GmailApiMethod } from "./http.js";
import type { TokenSource } from "@clientmail/core/ports";
import {
  isTokenSource,
  type AccessTokenSource,
  type GmailOAuthCredentials,
  type RefreshedTokens,
} from "./oauth.js";
import type { QuotaPacer } from "./quota-pacer.js";

/** Settings of {@link createGmailProvider}. */
export interface GmailProviderSettings {
  /**
   * OAuth credentials of the mailbox; a {@link TokenSource} (`@clientmail/auth`: a refresh token
   * kept encrypted, a service account with domain-wide delegation), asked again with
   * `forceRefresh` once after a 401; or a source of access tokens the host manages.
   */
  credentials: GmailOAuthCredentials | AccessTokenSource | TokenSource;
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
  /** Jitter source for backoff, in [0, 1). Default `Math.random`. */
  random?: (() => number) | undefined;
  logger?: Logger | undefined;
  /**
   * Default `https://gmail.googleapis.com`. Google's fixed endpoints need no host policy (R9);
   * these are settings for fakes, and must be https unless `allowInsecure` is set.
   */
  baseUrl?: string | undefined;
  /** Default `https://oauth2.googleapis.com/token`; https, like `baseUrl`. */
  tokenUrl?: string | undefined;
  /**
   * Allows `http://` in `baseUrl` and `tokenUrl`, for a fake on loopback in tests. Logged once
   * when the provider is created. Default false.
   */
  allowInsecure?: boolean | undefined;
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
        /**
         * The user's budget shared with other processes (a worker's `MailboxPacing`): every unit
         * this provider spends is also taken from it, so N processes together keep one user's
         * quota. Default: none (this process only).
         */
        shared?: Pick<MailboxPacing, "take"> | undefined;
      }
    | undefined;
  /**
   * How calls are repeated after rate limits, 5xx and network failures. Defaults: 5 attempts,
   * full-jitter backoff from 1 s capped at 64 s (Google's recommended maximum), server-requested
   * waits (Retry-After, quota reset) sat out up to 2 minutes; a longer one fails the call as
   * `rate_limited` with `retryAfterMs` for the engine to wait out (R6).
   */
  retry?: Partial<RetryPolicy> | undefined;
  /**
   * Deadline of one HTTP request, reading the whole response body included (R3): a silent or
   * trickling connection fails the request as `transient` (then retried like any transient
   * failure). Default 2 minutes.
   */
  requestTimeoutMs?: number | undefined;
  /** messages.list / history.list page size. Default 500 (the API maximum). */
  pageSize?: number | undefined;
  /** Parts per batch request. Default 25: batches near 50 trip Gmail's concurrency cap. */
  batchSize?: number | undefined;
  /** Longest `q` the provider sends. Default 1,500 characters. */
  maxQueryLength?: number | undefined;
  /**
   * What `search` reads per match. `"metadata"` (default) reads headers and sizes only; `fetch`
   * then reads the source, in batches bounded by bytes (R7). `"raw"` reads the full source
   * once, builds the envelope from it and keeps it in memory for the `fetch` that follows, so a
   * filed message costs one `messages.get` instead of two; but a search batch of `batchSize`
   * sources is then read whole whatever their sizes: only for mailboxes without large mail.
   */
  searchPrefetch?: "raw" | "metadata" | undefined;
  /**
   * R7: the largest message fetched, in bytes (by `sizeEstimate`, and by what the download
   * brings). A larger one is not downloaded, or dropped as soon as its download passes the
   * limit: it is reported `too_large` and the engine quarantines it (R2). Default 50 MiB
   * (52428800); 64 KiB to 2 GiB.
   */
  maxMessageBytes?: number | undefined;
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

/** Settings with every default applied. */
export interface ResolvedGmailSettings {
  credentials: GmailOAuthCredentials | AccessTokenSource | TokenSource;
  emailAddress: string | undefined;
  onTokens: ((tokens: RefreshedTokens) => void) | undefined;
  fetch: typeof fetch;
  clock: Clock;
  sleep: Sleep;
  random: () => number;
  logger: Logger;
  baseUrl: string;
  tokenUrl: string;
  unitsPerMinute: number;
  utilisation: number;
  costs: Partial<Record<GmailApiMethod, number>>;
  pacer: QuotaPacer | undefined;
  shared: Pick<MailboxPacing, "take"> | undefined;
  retry: RetryPolicy;
  requestTimeoutMs: number;
  pageSize: number;
  batchSize: number;
  maxQueryLength: number;
  searchPrefetch: "raw" | "metadata";
  prefetchBudgetBytes: number;
  maxMessageBytes: number;
  push: { topicName: string; labelIds: string[]; renewEveryMs: number } | undefined;
  pollIntervalMs: number;
}

function positive(
  issues: ValidationIssue[],
  field: string,
  value: number | undefined,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > max) {
    issues.push({ field, value, expected: `a positive number up to ${max}` });
    return fallback;
  }
  return value;
}

function credentialIssues(credentials: unknown): ValidationIssue[] {
  if (credentials === null || typeof credentials !== "object") {
    return [
      { field: "credentials", value: undefined, expected: "OAuth credentials or an access-token source" },
    ];
  }
  if (isTokenSource(credentials)) return [];
  if ("refreshToken" in credentials) {
    const oauth = credentials as Partial<GmailOAuthCredentials>;
    return (["clientId", "clientSecret", "refreshToken"] as const).flatMap((key) =>
      typeof oauth[key] === "string" && oauth[key] !== ""
        ? []
        : [
            {
              field: `credentials.${key}`,
              value: key === "clientId" ? oauth[key] : "[redacted]",
              expected: "a non-empty string",
            },
          ],
    );
  }
  if (typeof (credentials as Partial<AccessTokenSource>).getAccessToken !== "function") {
    return [
      {
        field: "credentials",
        value: "[object]",
        expected:
          "{ clientId, clientSecret, refreshToken }, a TokenSource { accessToken() } or { getAccessToken() }",
      },
    ];
  }
  return [];
}

/** Applies defaults; throws a {@link ValidationError} naming every invalid setting. */
export function resolveSettings(settings: GmailProviderSettings): ResolvedGmailSettings {
  if (settings === null || typeof settings !== "object") {
    throw new ValidationError([{ field: "settings", value: settings, expected: "a settings object" }]);
  }
  const issues = credentialIssues(settings.credentials);
  const push = settings.push;
  if (push !== undefined && (typeof push.topicName !== "string" || push.topicName === "")) {
    issues.push({
      field: "push.topicName",
      value: push.topicName,
      expected: "projects/{project}/topics/{topic}",
    });
  }
  const prefetch = settings.searchPrefetch ?? "metadata";
  if (prefetch !== "raw" && prefetch !== "metadata") {
    issues.push({ field: "searchPrefetch", value: prefetch, expected: '"raw" or "metadata"' });
  }
  const insecureUrls = checkHttpsUrls(
    [
      ["baseUrl", settings.baseUrl],
      ["tokenUrl", settings.tokenUrl],
    ],
    settings.allowInsecure,
    issues,
  );
  const resolved: ResolvedGmailSettings = {
    credentials: settings.credentials,
    emailAddress: settings.emailAddress,
    onTokens: settings.onTokens,
    fetch: settings.fetch ?? globalThis.fetch.bind(globalThis),
    clock: settings.clock ?? systemClock,
    sleep: settings.sleep ?? realSleep,
    random: settings.random ?? Math.random,
    logger: settings.logger ?? silentLogger,
    baseUrl: (settings.baseUrl ?? "https://gmail.googleapis.com").replace(/\/$/, ""),
    tokenUrl: settings.tokenUrl ?? "https://oauth2.googleapis.com/token",
    unitsPerMinute: positive(
      issues,
      "quota.unitsPerUserPerMinute",
      settings.quota?.unitsPerUserPerMinute,
      15_000,
    ),
    utilisation: positive(issues, "quota.utilisation", settings.quota?.utilisation, 0.9, 1),
    costs: settings.quota?.costs ?? {},
    pacer: settings.quota?.pacer,
    shared: settings.quota?.shared,
    retry: {
      maxAttempts: positive(
        issues,
        "retry.maxAttempts",
        settings.retry?.maxAttempts,
        defaultRetryPolicy.maxAttempts,
        20,
      ),
      baseDelayMs: positive(
        issues,
        "retry.baseDelayMs",
        settings.retry?.baseDelayMs,
        defaultRetryPolicy.baseDelayMs,
      ),
      maxDelayMs: positive(
        issues,
        "retry.maxDelayMs",
        settings.retry?.maxDelayMs,
        defaultRetryPolicy.maxDelayMs,
      ),
      maxWaitMs: positive(issues, "retry.maxWaitMs", settings.retry?.maxWaitMs, defaultRetryPolicy.maxWaitMs),
    },
    requestTimeoutMs: positive(issues, "requestTimeoutMs", settings.requestTimeoutMs, 120_000),
    pageSize: positive(issues, "pageSize", settings.pageSize, 500, 500),
    batchSize: positive(issues, "batchSize", settings.batchSize, 25, 100),
    maxQueryLength: positive(issues, "maxQueryLength", settings.maxQueryLength, 1500),
    searchPrefetch: prefetch,
    prefetchBudgetBytes: positive(
      issues,
      "prefetchBudgetBytes",
      settings.prefetchBudgetBytes,
      64 * 1024 * 1024,
    ),
    maxMessageBytes: resolveMaxMessageBytes(issues, "maxMessageBytes", settings.maxMessageBytes),
    push:
      push === undefined
        ? undefined
        : {
            topicName: push.topicName,
            labelIds: push.labelIds ?? [],
            renewEveryMs: positive(issues, "push.renewEveryMs", push.renewEveryMs, 86_400_000),
          },
    pollIntervalMs: positive(issues, "pollIntervalMs", settings.pollIntervalMs, push ? 600_000 : 60_000),
  };
  if (issues.length > 0) throw new ValidationError(issues);
  warnInsecureUrls(resolved.logger, "gmail", insecureUrls);
  return resolved;
}
