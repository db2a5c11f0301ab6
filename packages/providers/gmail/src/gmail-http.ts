import { ClientMailError, RateLimitedError } from "@clientmail/core";
import type { Clock, Logger } from "@clientmail/core/ports";
import type { QuotaPacer, Sleep } from "./quota-pacer.js";
import type { OAuthTokens } from "./oauth.js";

/** The Gmail API methods the provider calls, as Google names them. */
export type GmailApiMethod =
  | "users.getProfile"
  | "users.watch"
  | "users.stop"
  | "users.history.list"
  | "users.messages.list"
  | "users.messages.get";

/** Quota units per call (legacy table, in force for projects active before May 2026). */
export const defaultGmailCosts: Readonly<Record<GmailApiMethod, number>> = {
  "users.getProfile": 1,
  "users.watch": 100,
  "users.stop": 1,
  "users.history.list": 2,
  "users.messages.list": 5,
  "users.messages.get": 5,
};

/** How the provider retries throttled and failed calls. */
export interface RetryPolicy {
  /** Attempts per call, the first included. Default 5. */
  maxAttempts: number;
  /** First backoff delay; doubles per attempt, with jitter. Default 1 s. */
  baseDelayMs: number;
  /** Backoff cap. Default 64 s (Google's recommended maximum). */
  maxDelayMs: number;
}

/** A Google API error body, as far as the provider reads it. */
interface GoogleErrorBody {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    errors?: { reason?: string; domain?: string; message?: string }[];
  };
}

/** What went wrong with one call, before it becomes a ClientMailError. */
export interface CallFailure {
  status: number;
  reason: string | undefined;
  message: string;
  retryAfterMs: number | undefined;
}

/** The outcome of one part of a batch. */
export type PartResult<T> = { ok: true; value: T } | { ok: false; failure: CallFailure };

const rateLimitReasons = new Set(["rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"]);

/** Parses "Retry after 2026-11-23T14:00:00.000Z" (Gmail's sending limit) or a Retry-After header. */
export function retryAfterFrom(message: string, header: string | null, now: number): number | undefined {
  if (header !== null && header.trim() !== "") {
    const seconds = Number(header);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const at = Date.parse(header);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const match = /Retry after (\d{4}-\d{2}-\d{2}T[0-9:.]+Z)/i.exec(message);
  if (match) {
    const at = Date.parse(match[1]!);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  return undefined;
}

/** Reads status, reason and retry hint from a failed response body. */
export function describeFailure(
  status: number,
  bodyText: string,
  retryAfterHeader: string | null,
  now: number,
): CallFailure {
  let body: GoogleErrorBody = {};
  try {
    body = JSON.parse(bodyText) as GoogleErrorBody;
  } catch {
    // not JSON: keep the status only
  }
  const message = body.error?.message ?? "";
  const reason = body.error?.errors?.[0]?.reason ?? body.error?.status;
  return { status, reason, message, retryAfterMs: retryAfterFrom(message, retryAfterHeader, now) };
}

/** True when the failure means "slow down" (429, or a 403 with a rate-limit reason). */
export function isRateLimit(failure: CallFailure): boolean {
  if (failure.status === 429) return true;
  return failure.status === 403 && failure.reason !== undefined && rateLimitReasons.has(failure.reason);
}

/** True when repeating the call soon may succeed. */
export function isRetryable(failure: CallFailure): boolean {
  return isRateLimit(failure) || failure.status >= 500 || failure.status === 0;
}

/** Turns a final failure into the port's error codes. */
export function toClientMailError(failure: CallFailure, method: string): ClientMailError {
  const details = { method, status: failure.status, reason: failure.reason };
  if (failure.reason === "dailyLimitExceeded") {
    return new RateLimitedError(`Gmail ${method}: daily limit exceeded`, failure.retryAfterMs ?? 3_600_000, {
      details,
    });
  }
  if (isRateLimit(failure)) {
    return new RateLimitedError(
      `Gmail ${method}: rate limited (${failure.reason ?? failure.status})`,
      failure.retryAfterMs,
      { details },
    );
  }
  if (failure.status === 0 || failure.status >= 500 || failure.reason === "truncatedBody") {
    return new ClientMailError(
      "transient",
      `Gmail ${method} failed: ${failure.status === 0 ? "network error" : failure.status}`,
      {
        details,
      },
    );
  }
  if (failure.status === 401)
    return new ClientMailError("auth_revoked", `Gmail ${method}: credentials rejected`, { details });
  if (failure.status === 403 && failure.reason === "insufficientPermissions") {
    return new ClientMailError("auth_revoked", `Gmail ${method}: the grant lacks a required scope`, {
      details,
    });
  }
  if (failure.status === 403)
    return new ClientMailError("permission_denied", `Gmail ${method}: forbidden (${failure.reason ?? "?"})`, {
      details,
    });
  if (failure.status === 404)
    return new ClientMailError("not_found", `Gmail ${method}: not found`, { details });
  return new ClientMailError(
    "internal",
    `Gmail ${method} was refused: ${failure.status} ${failure.reason ?? ""}`.trim(),
    {
      details,
      retryable: false,
    },
  );
}

/** Everything a {@link GmailHttp} needs. */
export interface GmailHttpOptions {
  fetch: typeof fetch;
  baseUrl: string;
  userId: string;
  tokens: OAuthTokens;
  pacer: QuotaPacer;
  costs: Readonly<Record<GmailApiMethod, number>>;
  retry: RetryPolicy;
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

/**
 * The provider's HTTP edge: access tokens, quota pacing, retries with backoff (Retry-After
 * honoured) and translation of Gmail failures into clientmail error codes. Nothing native leaks.
 */
export class GmailHttp {
  readonly stats: GmailHttpStats = { calls: 0, batchRequests: 0, retries: 0, rateLimited: 0 };

  constructor(private readonly options: GmailHttpOptions) {}

  private userPath(path: string): string {
    return `/gmail/v1/users/${encodeURIComponent(this.options.userId)}${path}`;
  }

  private backoff(attempt: number): number {
    const { baseDelayMs, maxDelayMs } = this.options.retry;
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    // Equal jitter: never less than half the step, so retries stay spread but bounded below.
    return Math.round(ceiling / 2 + (this.options.random() * ceiling) / 2);
  }

  private async waitBeforeRetry(
    failure: CallFailure,
    attempt: number,
    method: string,
    signal?: AbortSignal,
  ): Promise<void> {
    this.stats.retries += 1;
    if (isRateLimit(failure)) this.stats.rateLimited += 1;
    const delay = failure.retryAfterMs ?? this.backoff(attempt);
    this.options.logger.debug("gmail call retried", {
      method,
      status: failure.status,
      reason: failure.reason,
      attempt,
      delayMs: delay,
    });
    await this.options.sleep(delay, signal);
  }

  /** Sends one request with auth; returns the raw response or a network failure. */
  private async send(
    url: string,
    init: { method: string; body?: string; headers?: Record<string, string> },
    signal: AbortSignal | undefined,
  ): Promise<{ response?: Response; text: string; failure?: CallFailure }> {
    const token = await this.options.tokens.accessToken(signal);
    this.stats.calls += 1;
    try {
      const response = await this.options.fetch(url, {
        method: init.method,
        headers: { authorization: `Bearer ${token}`, ...init.headers },
        ...(init.body !== undefined ? { body: init.body } : {}),
        ...(signal ? { signal } : {}),
      });
      const text = await response.text();
      return { response, text };
    } catch (error) {
      if (signal?.aborted) throw error;
      return {
        text: "",
        failure: { status: 0, reason: "network", message: "network error", retryAfterMs: undefined },
      };
    }
  }

  /**
   * Calls one JSON endpoint. Retries rate limits, 5xx, network errors and truncated bodies with
   * backoff; refreshes the access token once on 401. Throws a ClientMailError when it gives up.
   */
  async json<T>(
    method: GmailApiMethod,
    path: string,
    request: { query?: URLSearchParams; httpMethod?: string; body?: unknown } = {},
    signal?: AbortSignal,
  ): Promise<T> {
    const query = request.query && [...request.query.keys()].length > 0 ? `?${request.query.toString()}` : "";
    const url = `${this.options.baseUrl}${this.userPath(path)}${query}`;
    let refreshed = false;
    for (let attempt = 1; ; attempt += 1) {
      await this.options.pacer.take(this.options.costs[method], signal);
      const {
        response,
        text,
        failure: networkFailure,
      } = await this.send(
        url,
        {
          method: request.httpMethod ?? "GET",
          ...(request.body !== undefined
            ? { body: JSON.stringify(request.body), headers: { "content-type": "application/json" } }
            : {}),
        },
        signal,
      );
      let failure = networkFailure;
      if (response && response.ok) {
        if (response.status === 204 || text === "") return undefined as T;
        try {
          return JSON.parse(text) as T;
        } catch {
          failure = {
            status: response.status,
            reason: "truncatedBody",
            message: "response body was not complete JSON",
            retryAfterMs: undefined,
          };
        }
      }
      if (response && !failure) {
        failure = describeFailure(
          response.status,
          text,
          response.headers.get("retry-after"),
          this.options.clock.now().getTime(),
        );
      }
      const final = failure!;
      if (final.status === 401 && !refreshed) {
        refreshed = true;
        this.options.tokens.invalidate();
        attempt -= 1;
        continue;
      }
      const retryable = isRetryable(final) || final.reason === "truncatedBody";
      if (!retryable || final.reason === "dailyLimitExceeded" || attempt >= this.options.retry.maxAttempts) {
        throw toClientMailError(final, method);
      }
      await this.waitBeforeRetry(final, attempt, method, signal);
    }
  }

  /**
   * Runs many GETs of the same method through Gmail's batch endpoint. Parts that fail with a
   * retryable error are retried (alone) with backoff; the rest come back as per-part failures.
   * Quota is paced for every part, since a batch of n counts as n calls.
   */
  async batchGet<T>(
    method: GmailApiMethod,
    paths: ReadonlyMap<string, string>,
    signal?: AbortSignal,
  ): Promise<Map<string, PartResult<T>>> {
    const results = new Map<string, PartResult<T>>();
    let pending = [...paths.keys()];
    let refreshed = false;
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      if (pending.length === 1) {
        const key = pending[0]!;
        try {
          results.set(key, { ok: true, value: await this.json<T>(method, paths.get(key)!, {}, signal) });
        } catch (error) {
          if (
            !ClientMailError.isInstance(error) ||
            (error.code !== "not_found" && error.details.status !== 400)
          )
            throw error;
          const status = error.code === "not_found" ? 404 : 400;
          results.set(key, {
            ok: false,
            failure: { status, reason: String(error.details.reason), message: "", retryAfterMs: undefined },
          });
        }
        return results;
      }
      await this.options.pacer.take(this.options.costs[method] * pending.length, signal);
      const outcome = await this.sendBatch(
        pending.map((key) => [key, paths.get(key)!] as const),
        signal,
      );
      this.stats.batchRequests += 1;
      const retry: string[] = [];
      let worst: CallFailure | undefined;
      for (const key of pending) {
        const part = outcome instanceof Map ? outcome.get(key) : undefined;
        const failure: CallFailure | undefined =
          outcome instanceof Map ? (part && !part.ok ? part.failure : undefined) : outcome;
        if (part?.ok) {
          results.set(key, part as PartResult<T>);
          continue;
        }
        const final = failure ?? {
          status: 0,
          reason: "missingPart",
          message: "batch response lacked a part",
          retryAfterMs: undefined,
        };
        if (
          isRetryable(final) ||
          final.status === 401 ||
          final.reason === "missingPart" ||
          final.reason === "truncatedBody"
        ) {
          retry.push(key);
          if (
            !worst ||
            (final.retryAfterMs ?? 0) > (worst.retryAfterMs ?? 0) ||
            (isRateLimit(final) && !isRateLimit(worst))
          )
            worst = final;
        } else {
          results.set(key, { ok: false, failure: final });
        }
      }
      pending = retry;
      if (pending.length === 0 || !worst) break;
      if (worst.status === 401 && !refreshed) {
        refreshed = true;
        this.options.tokens.invalidate();
        attempt -= 1;
        continue;
      }
      if (attempt >= this.options.retry.maxAttempts) throw toClientMailError(worst, method);
      await this.waitBeforeRetry(worst, attempt, method, signal);
    }
    return results;
  }

  private async sendBatch(
    parts: readonly (readonly [string, string])[],
    signal: AbortSignal | undefined,
  ): Promise<Map<string, PartResult<unknown>> | CallFailure> {
    const boundary = `clientmail_${Math.floor(this.options.random() * 1e12).toString(36)}`;
    const body =
      parts
        .map(
          ([, path], index) =>
            `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <item-${index}>\r\n\r\nGET ${this.userPath(path)}\r\n\r\n`,
        )
        .join("") + `--${boundary}--\r\n`;
    const { response, text, failure } = await this.send(
      `${this.options.baseUrl}/batch/gmail/v1`,
      { method: "POST", body, headers: { "content-type": `multipart/mixed; boundary=${boundary}` } },
      signal,
    );
    if (failure) return failure;
    if (!response!.ok) {
      return describeFailure(
        response!.status,
        text,
        response!.headers.get("retry-after"),
        this.options.clock.now().getTime(),
      );
    }
    const responseBoundary = /boundary="?([^";]+)"?/i.exec(response!.headers.get("content-type") ?? "")?.[1];
    const results = new Map<string, PartResult<unknown>>();
    if (!responseBoundary) return results;
    const now = this.options.clock.now().getTime();
    for (const chunk of text.split(`--${responseBoundary}`)) {
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
