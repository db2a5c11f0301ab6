/**
 * The provider's HTTP edge: access tokens, quota pacing, one deadline per request covering the
 * body read (R3), retries through the shared retry (Retry-After and quota resets honoured, full
 * jitter otherwise), and translation of Gmail failures into clientmail codes (see `errors.ts`).
 * Nothing native leaks.
 */
import { ClientMailError } from "@clientmail/core";
import type { Clock, Logger } from "@clientmail/core/ports";
import { retry, withDeadline, type RetryPolicy, type Sleep } from "@clientmail/provider-utils";
import { describeFailure, isRateLimit, isRetryable, toClientMailError, type CallFailure } from "./errors.js";
import { OAuthTokens } from "./oauth.js";
import { QuotaPacer } from "./quota-pacer.js";
import type { ResolvedGmailSettings } from "./settings.js";

/** The Gmail API methods the provider calls, as Google names them. */
export type GmailApiMethod =
  | "users.getProfile"
  | "users.watch"
  | "users.stop"
  | "users.history.list"
  | "users.messages.list"
  | "users.messages.get"
  | "users.messages.send";

/** Quota units per call (legacy table, in force for projects active before May 2026). */
export const defaultGmailCosts: Readonly<Record<GmailApiMethod, number>> = {
  "users.getProfile": 1,
  "users.watch": 100,
  "users.stop": 1,
  "users.history.list": 2,
  "users.messages.list": 5,
  "users.messages.get": 5,
  "users.messages.send": 100,
};

/** The outcome of one part of a batch. */
export type PartResult<T> = { ok: true; value: T } | { ok: false; failure: CallFailure };

/** Everything a {@link GmailHttp} needs. */
export interface GmailHttpOptions {
  fetch: typeof fetch;
  baseUrl: string;
  userId: string;
  tokens: OAuthTokens;
  pacer: QuotaPacer;
  costs: Readonly<Record<GmailApiMethod, number>>;
  retry: RetryPolicy;
  requestTimeoutMs: number;
  clock: Clock;
  sleep: Sleep;
  logger: Logger;
  random: () => number;
}

/** Counters readable by tests and benchmarks. */
export interface GmailHttpStats {
  calls: number;
  batchRequests: number;
  retries: number;
  rateLimited: number;
}

/** One HTTP exchange, body read whole. */
interface Exchange {
  status: number;
  ok: boolean;
  headers: Headers;
  text: string;
}

/** Sends Gmail requests with pacing, auth, deadlines, retries and error translation. */
export class GmailHttp {
  readonly stats: GmailHttpStats = { calls: 0, batchRequests: 0, retries: 0, rateLimited: 0 };

  constructor(private readonly options: GmailHttpOptions) {}

  private userPath(path: string): string {
    return `/gmail/v1/users/${encodeURIComponent(this.options.userId)}${path}`;
  }

  private retrying<T>(method: string, call: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return retry(call, {
      policy: this.options.retry,
      sleep: this.options.sleep,
      random: this.options.random,
      signal,
      onRetry: ({ attempt, delayMs, error }) => {
        this.stats.retries += 1;
        if (error.code === "rate_limited") this.stats.rateLimited += 1;
        this.options.logger.debug("gmail call retried", {
          method,
          code: error.code,
          status: error.details.status,
          reason: error.details.reason,
          attempt,
          delayMs,
        });
      },
    });
  }

  /**
   * One request within the request deadline, the whole body read included. A network failure is
   * `transient`; the deadline and an abort fail with `withDeadline`'s errors.
   */
  private async exchange(
    method: string,
    url: string,
    init: { method: string; body?: string; headers?: Record<string, string> },
    signal: AbortSignal | undefined,
  ): Promise<Exchange> {
    const token = await this.options.tokens.accessToken(signal);
    this.stats.calls += 1;
    return await withDeadline(
      { provider: "gmail", operation: method, timeoutMs: this.options.requestTimeoutMs, signal },
      async (deadline) => {
        try {
          const response = await this.options.fetch(url, {
            method: init.method,
            headers: { authorization: `Bearer ${token}`, ...init.headers },
            ...(init.body !== undefined ? { body: init.body } : {}),
            signal: deadline,
          });
          const text = await response.text();
          return { status: response.status, ok: response.ok, headers: response.headers, text };
        } catch {
          if (deadline.aborted) throw deadline.reason as ClientMailError;
          throw toClientMailError(
            { status: 0, reason: "network", message: "network error", retryAfterMs: undefined },
            method,
          );
        }
      },
    );
  }

  private failureOf(exchange: Exchange): CallFailure {
    return describeFailure(
      exchange.status,
      exchange.text,
      exchange.headers.get("retry-after"),
      this.options.clock.now().getTime(),
    );
  }

  /**
   * One attempt at a JSON endpoint (quota paced; the access token refreshed once on 401).
   * Throws the translated failure.
   */
  private async once<T>(
    method: GmailApiMethod,
    url: string,
    init: { method: string; body?: string; headers?: Record<string, string> },
    signal: AbortSignal | undefined,
  ): Promise<T> {
    for (let refreshed = false; ; refreshed = true) {
      await this.options.pacer.take(this.options.costs[method], signal);
      const exchange = await this.exchange(method, url, init, signal);
      if (exchange.ok) {
        if (exchange.status === 204 || exchange.text === "") return undefined as T;
        try {
          return JSON.parse(exchange.text) as T;
        } catch {
          // A 2xx cut off mid-body: the connection dropped; the request is safe to repeat.
          throw toClientMailError(
            { status: exchange.status, reason: "truncatedBody", message: "", retryAfterMs: undefined },
            method,
          );
        }
      }
      const failure = this.failureOf(exchange);
      if (failure.status === 401 && !refreshed) {
        this.options.tokens.invalidate();
        continue;
      }
      throw toClientMailError(failure, method);
    }
  }

  /**
   * One attempt at a JSON endpoint, never retried (the token refresh on 401 aside, which happens
   * before Gmail reads the request): for calls that must not repeat on their own, like
   * `messages.send` (S4). Throws the translated failure.
   */
  async jsonOnce<T>(
    method: GmailApiMethod,
    path: string,
    request: { httpMethod: string; body: unknown },
    signal?: AbortSignal,
  ): Promise<T> {
    const url = `${this.options.baseUrl}${this.userPath(path)}`;
    return await this.once<T>(
      method,
      url,
      {
        method: request.httpMethod,
        body: JSON.stringify(request.body),
        headers: { "content-type": "application/json" },
      },
      signal,
    );
  }

  /**
   * Calls one JSON endpoint, retrying rate limits, 5xx, network failures, truncated bodies and
   * requests past their deadline. Throws a ClientMailError when it gives up.
   */
  async json<T>(
    method: GmailApiMethod,
    path: string,
    request: { query?: URLSearchParams; httpMethod?: string; body?: unknown } = {},
    signal?: AbortSignal,
  ): Promise<T> {
    const query = request.query && [...request.query.keys()].length > 0 ? `?${request.query.toString()}` : "";
    const url = `${this.options.baseUrl}${this.userPath(path)}${query}`;
    const init = {
      method: request.httpMethod ?? "GET",
      ...(request.body !== undefined
        ? { body: JSON.stringify(request.body), headers: { "content-type": "application/json" } }
        : {}),
    };
    return await this.retrying(method, () => this.once<T>(method, url, init, signal), signal);
  }

  /**
   * Runs many GETs of the same method through Gmail's batch endpoint; quota is paced for every
   * part, since a batch of n counts as n calls. Parts that fail with a retryable error (rate
   * limits, 5xx, a part missing from the response) are retried, the others only, after the
   * longest wait any of them asked for; when they keep failing, the worst of them is thrown.
   * Parts that fail otherwise come back as per-part failures for the caller to judge.
   */
  async batchGet<T>(
    method: GmailApiMethod,
    paths: ReadonlyMap<string, string>,
    signal?: AbortSignal,
  ): Promise<Map<string, PartResult<T>>> {
    const results = new Map<string, PartResult<T>>();
    let pending = [...paths.keys()];
    let refreshed = false;
    await this.retrying(
      method,
      async () => {
        for (;;) {
          if (pending.length === 1) {
            const key = pending[0]!;
            results.set(key, await this.single<T>(method, paths.get(key)!, signal));
            pending = [];
            return;
          }
          await this.options.pacer.take(this.options.costs[method] * pending.length, signal);
          const parts = await this.sendBatch(
            method,
            pending.map((key) => [key, paths.get(key)!] as const),
            signal,
          );
          this.stats.batchRequests += 1;
          const retry: string[] = [];
          let worst: CallFailure | undefined;
          for (const key of pending) {
            const part = parts.get(key) ?? {
              ok: false as const,
              failure: { status: 0, reason: "missingPart", message: "", retryAfterMs: undefined },
            };
            if (part.ok) {
              results.set(key, part as PartResult<T>);
              continue;
            }
            const failure = part.failure;
            if (!isRetryable(failure) && failure.status !== 401) {
              results.set(key, { ok: false, failure });
              continue;
            }
            retry.push(key);
            if (
              !worst ||
              (failure.retryAfterMs ?? 0) > (worst.retryAfterMs ?? 0) ||
              (isRateLimit(failure) && !isRateLimit(worst))
            )
              worst = failure;
          }
          pending = retry;
          if (!worst) return;
          if (worst.status === 401 && !refreshed) {
            refreshed = true;
            this.options.tokens.invalidate();
            continue;
          }
          throw toClientMailError(worst, method);
        }
      },
      signal,
    );
    return results;
  }

  /**
   * One GET outside a batch whose body `consume` reads as a stream (R7: a large message is never
   * held whole), within the request deadline. Pacing, token refresh, retries and the judgement of
   * failures are those of {@link batchGet}'s single part: a failure that concerns only this
   * resource is returned, the rest thrown. `consume` runs again on a retry, from the start; an
   * error it throws that is not a `ClientMailError` (a size limit passed) ends the call as it is.
   */
  async streamGet<T>(
    method: GmailApiMethod,
    path: string,
    consume: (body: AsyncIterable<Uint8Array>) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<PartResult<T>> {
    const url = `${this.options.baseUrl}${this.userPath(path)}`;
    let refreshed = false;
    return await this.retrying(
      method,
      async (): Promise<PartResult<T>> => {
        for (;;) {
          await this.options.pacer.take(this.options.costs[method], signal);
          const token = await this.options.tokens.accessToken(signal);
          this.stats.calls += 1;
          const outcome = await withDeadline(
            { provider: "gmail", operation: method, timeoutMs: this.options.requestTimeoutMs, signal },
            async (deadline): Promise<{ value: T } | { failure: CallFailure }> => {
              const network = () =>
                toClientMailError(
                  { status: 0, reason: "network", message: "network error", retryAfterMs: undefined },
                  method,
                );
              let response: Response;
              try {
                response = await this.options.fetch(url, {
                  method: "GET",
                  headers: { authorization: `Bearer ${token}` },
                  signal: deadline,
                });
              } catch {
                if (deadline.aborted) throw deadline.reason as ClientMailError;
                throw network();
              }
              if (!response.ok || response.body === null) {
                const text = await response.text().catch(() => "");
                return {
                  failure: describeFailure(
                    response.status,
                    text,
                    response.headers.get("retry-after"),
                    this.options.clock.now().getTime(),
                  ),
                };
              }
              const body = response.body as unknown as AsyncIterable<Uint8Array>;
              const reads = {
                async *[Symbol.asyncIterator]() {
                  try {
                    yield* body;
                  } catch {
                    if (deadline.aborted) throw deadline.reason as ClientMailError;
                    throw network();
                  }
                },
              };
              return { value: await consume(reads) };
            },
          );
          if ("value" in outcome) return { ok: true, value: outcome.value };
          const { failure } = outcome;
          if (failure.status === 401 && !refreshed) {
            refreshed = true;
            this.options.tokens.invalidate();
            continue;
          }
          const error = toClientMailError(failure, method);
          if (
            error.retryable ||
            ["auth_revoked", "rate_limited"].includes(error.code) ||
            failure.status === 401
          )
            throw error;
          return { ok: false, failure };
        }
      },
      signal,
    );
  }

  /** One GET outside a batch, as a part result: a failure that concerns only this resource is returned, the rest thrown. */
  private async single<T>(
    method: GmailApiMethod,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<PartResult<T>> {
    try {
      return {
        ok: true,
        value: await this.once<T>(
          method,
          `${this.options.baseUrl}${this.userPath(path)}`,
          { method: "GET" },
          signal,
        ),
      };
    } catch (error) {
      if (
        !ClientMailError.isInstance(error) ||
        error.retryable ||
        ["auth_revoked", "rate_limited"].includes(error.code)
      )
        throw error;
      const status = typeof error.details.status === "number" ? error.details.status : 0;
      if (status === 401 || status === 0) throw error;
      const reason = typeof error.details.reason === "string" ? error.details.reason : undefined;
      return { ok: false, failure: { status, reason, message: "", retryAfterMs: undefined } };
    }
  }

  private async sendBatch(
    method: GmailApiMethod,
    parts: readonly (readonly [string, string])[],
    signal: AbortSignal | undefined,
  ): Promise<Map<string, PartResult<unknown>>> {
    const boundary = `clientmail_${Math.floor(this.options.random() * 1e12).toString(36)}`;
    const body =
      parts
        .map(
          ([, path], index) =>
            `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <item-${index}>\r\n\r\nGET ${this.userPath(path)}\r\n\r\n`,
        )
        .join("") + `--${boundary}--\r\n`;
    const exchange = await this.exchange(
      method,
      `${this.options.baseUrl}/batch/gmail/v1`,
      { method: "POST", body, headers: { "content-type": `multipart/mixed; boundary=${boundary}` } },
      signal,
    );
    if (!exchange.ok) throw toClientMailError(this.failureOf(exchange), method);
    const responseBoundary = /boundary="?([^";]+)"?/i.exec(exchange.headers.get("content-type") ?? "")?.[1];
    const results = new Map<string, PartResult<unknown>>();
    if (!responseBoundary) return results;
    const now = this.options.clock.now().getTime();
    for (const chunk of exchange.text.split(`--${responseBoundary}`)) {
      const idMatch = /Content-ID:\s*<response-item-(\d+)>/i.exec(chunk);
      const statusMatch = /HTTP\/1\.1\s+(\d{3})/.exec(chunk);
      if (!idMatch || !statusMatch) continue;
      const key = parts[Number(idMatch[1])]?.[0];
      if (key === undefined) continue;
      const afterStatus = chunk.slice(statusMatch.index);
      const bodyStart = /\r?\n\r?\n/.exec(afterStatus);
      const partBody = bodyStart ? afterStatus.slice(bodyStart.index + bodyStart[0].length).trim() : "";
      const retryAfter =
        /^Retry-After:\s*(.+)$/im.exec(afterStatus.slice(0, bodyStart?.index ?? 0))?.[1] ?? null;
      const status = Number(statusMatch[1]);
      if (status >= 200 && status < 300) {
        try {
          results.set(key, { ok: true, value: JSON.parse(partBody) });
        } catch {
          results.set(key, {
            ok: false,
            failure: { status, reason: "truncatedBody", message: "", retryAfterMs: undefined },
          });
        }
      } else {
        results.set(key, { ok: false, failure: describeFailure(status, partBody, retryAfter, now) });
      }
    }
    return results;
  }
}

/**
 * The HTTP edge of one mailbox from resolved settings: OAuth tokens, the quota pacer (the
 * caller's, or one at `utilisation` of the per-user limit) and the cost table. The provider and
 * the sender of a mailbox each build theirs with this.
 */
export function createGmailHttp(config: ResolvedGmailSettings): {
  http: GmailHttp;
  pacer: QuotaPacer;
  costs: Readonly<Record<GmailApiMethod, number>>;
} {
  const costs = { ...defaultGmailCosts, ...config.costs };
  const budget = Math.floor(config.unitsPerMinute * config.utilisation);
  const shared = config.shared;
  // Y2: with a shared quota, every process's calls for this mailbox count against one budget.
  const pacer =
    config.pacer ??
    new QuotaPacer(
      budget,
      config.clock,
      config.sleep,
      shared && ((units, signal) => shared.take(units, { units: budget, windowMs: 60_000 }, signal)),
    );
  const tokens = new OAuthTokens(config.credentials, {
    fetch: config.fetch,
    tokenUrl: config.tokenUrl,
    clock: config.clock,
    sleep: config.sleep,
    random: config.random,
    onTokens: config.onTokens,
    retry: config.retry,
    requestTimeoutMs: config.requestTimeoutMs,
  });
  const http = new GmailHttp({
    fetch: config.fetch,
    baseUrl: config.baseUrl,
    userId: "me",
    tokens,
    pacer,
    costs,
    retry: config.retry,
    requestTimeoutMs: config.requestTimeoutMs,
    clock: config.clock,
    sleep: config.sleep,
    logger: config.logger,
    random: config.random,
  });
  return { http, pacer, costs };
}
