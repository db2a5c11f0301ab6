/**
 * The one door to Microsoft Graph: every request goes through the per-mailbox concurrency
 * limiter, gets a fresh bearer token, is retried on throttling and transient failures with the
 * wait Graph asked for (Retry-After in seconds or as a date, else exponential backoff), and has
 * its failures translated to clientmail error codes.
 *
 * Requests are sent with `@microsoft/microsoft-graph-client`, but with our own middleware chain
 * instead of its default one: its RetryHandler would retry 429/503/504 up to three more times on
 * its own timer, invisible to the limiter and the injected clock, multiplying our attempts.
 */
import { Client, ResponseType, type Context, type Middleware } from "@microsoft/microsoft-graph-client";
import { ClientMailError, RateLimitedError } from "@clientmail/core";
import type { Clock, Logger } from "@clientmail/core/ports";
import type { ConcurrencyLimiter } from "./limiter.js";

/** How retries are paced. */
export interface RetryPolicy {
  /** Attempts per request, the first included. Default 6. */
  maxAttempts: number;
  /** First backoff when Graph gives no Retry-After. Default 1 000 ms; doubles each attempt. */
  baseDelayMs: number;
  /** Cap of one backoff. Default 32 000 ms. */
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited out here: the call fails `rate_limited` with it. Default 120 000 ms. */
  maxWaitMs: number;
}

/** Everything {@link GraphHttp} needs; built by the provider from its settings. */
export interface GraphHttpOptions {
  baseUrl: string;
  fetch: typeof fetch;
  getAccessToken: (options: { forceRefresh: boolean }) => Promise<string>;
  clock: Clock;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  logger: Logger;
  limiter: ConcurrencyLimiter;
  retry: RetryPolicy;
}

/** One request. */
export interface GraphRequest {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** A path under the base URL (`/me/...`) or an absolute link Graph returned (nextLink, deltaLink). */
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal | undefined;
  /** Limiter units held while in flight; `$batch` holds them all. */
  weight?: number;
}

/** A Graph error body, as far as we read it. */
interface GraphErrorBody {
  error?: { code?: unknown; message?: unknown } | string;
}

const cursorExpiredCodes = new Set([
  "syncstatenotfound",
  "resyncrequired",
  "invalidsyncstatedata",
  "syncstateinvalid",
]);

/** The Graph error code of a parsed body, lower-cased; undefined when there is none. */
export function graphErrorCode(body: unknown): string | undefined {
  const error = (body as GraphErrorBody | undefined)?.error;
  if (typeof error === "object" && error !== null && typeof error.code === "string")
    return error.code.toLowerCase();
  return undefined;
}

/** Milliseconds the response asks us to wait; undefined when it does not say (missing, 0, unparseable). */
export function retryAfterMs(headers: { get(name: string): string | null }, now: Date): number | undefined {
  const value = headers.get("Retry-After");
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const seconds = Number(trimmed);
    return seconds > 0 ? Math.ceil(seconds * 1000) : undefined;
  }
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now.getTime());
}

/** True when `error` is an OAuth `invalid_grant` (revoked or expired refresh token), in any of the shapes token libraries use. */
export function isInvalidGrant(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const record = error as Record<string, unknown>;
  for (const key of ["error", "errorCode", "code"]) if (record[key] === "invalid_grant") return true;
  const body = record.body ?? record.response;
  if (
    typeof body === "object" &&
    body !== null &&
    (body as Record<string, unknown>).error === "invalid_grant"
  )
    return true;
  return typeof record.message === "string" && /\binvalid_grant\b/.test(record.message);
}

class FetchMiddleware implements Middleware {
  constructor(private readonly send: typeof fetch) {}

  async execute(context: Context): Promise<void> {
    const url = typeof context.request === "string" ? context.request : context.request.url;
    context.response = await this.send(url, context.options ?? {});
  }
}

function abortError(signal: AbortSignal): ClientMailError {
  return new ClientMailError("transient", "The Graph call was aborted", {
    cause: signal.reason,
    retryable: false,
  });
}

/** Sends Graph requests with limiting, auth, retries and error translation. */
export class GraphHttp {
  private readonly client: Client;
  private forceRefresh = false;

  constructor(private readonly options: GraphHttpOptions) {
    const host = new URL(options.baseUrl).host;
    this.client = Client.initWithMiddleware({
      middleware: new FetchMiddleware(options.fetch),
      customHosts: new Set([host]),
    });
  }

  /** Full URL of a path or absolute link. */
  resolve(url: string): string {
    return /^https?:\/\//i.test(url) ? url : `${this.options.baseUrl}${url}`;
  }

  /**
   * Sends `request` and returns the successful response with its parsed JSON body (undefined
   * for an empty or non-JSON body), or its raw bytes when `asBytes` (MIME sources may hold 8-bit
   * text in any charset, which decoding as UTF-8 would corrupt).
   * Throws `not_found` (404), `cursor_expired` (410, SyncStateNotFound, resyncRequired),
   * `auth_revoked` (invalid_grant, 401 after a token refresh, 403), `rate_limited` (429 after
   * the retries, or a Retry-After beyond `maxWaitMs`), `transient` (network, 5xx, truncated
   * body after the retries) and `internal` (other 4xx).
   */
  async send<T = unknown>(request: GraphRequest, asBytes = false): Promise<{ body: T; response: Response }> {
    const { retry, logger, clock } = this.options;
    let refreshedAfter401 = false;
    for (let attempt = 1; ; attempt += 1) {
      if (request.signal?.aborted) throw abortError(request.signal);
      const last = attempt >= retry.maxAttempts;
      let response: Response;
      const release = await this.options.limiter.acquire(request.weight ?? 1, request.signal);
      try {
        const token = await this.token();
        response = await this.raw(request, token);
      } catch (error) {
        release();
        if (ClientMailError.isInstance(error)) throw error;
        if (last) {
          throw new ClientMailError("transient", "Microsoft Graph could not be reached", {
            cause: error,
            details: { attempts: attempt },
          });
        }
        await this.wait(this.backoff(attempt), request.signal);
        continue;
      }
      let body: unknown;
      let parseFailed = false;
      try {
        const bytes = Buffer.from(await response.arrayBuffer());
        const text = asBytes && response.ok ? "" : bytes.toString("utf8");
        if (asBytes && response.ok) body = bytes;
        else if (text !== "") {
          try {
            body = JSON.parse(text);
          } catch {
            parseFailed = true;
          }
        }
      } catch {
        parseFailed = true;
      } finally {
        release();
      }
      if (response.ok) {
        if (!parseFailed || (response.headers.get("Content-Type") ?? "").indexOf("json") < 0) {
          return { body: body as T, response };
        }
        // A 200 cut off mid-body: the connection dropped; the request is safe to repeat.
        if (last)
          throw new ClientMailError("transient", "Microsoft Graph sent a truncated response", {
            details: { attempts: attempt },
          });
        logger.warn("graph: truncated response, retrying", { attempt });
        await this.wait(this.backoff(attempt), request.signal);
        continue;
      }
      const code = graphErrorCode(body);
      const details = { status: response.status, graphCode: code, attempts: attempt };
      if (response.status === 410 || (code !== undefined && cursorExpiredCodes.has(code))) {
        throw new ClientMailError(
          "cursor_expired",
          "Microsoft Graph no longer accepts this delta link; a full resync is needed",
          { details },
        );
      }
      if (response.status === 401) {
        if (!refreshedAfter401) {
          refreshedAfter401 = true;
          this.forceRefresh = true;
          continue;
        }
        throw new ClientMailError("auth_revoked", "Microsoft Graph rejects the access token", { details });
      }
      if (response.status === 403) {
        throw new ClientMailError("auth_revoked", "Microsoft Graph denies access to this mailbox", {
          details,
        });
      }
      if (response.status === 404) {
        throw new ClientMailError("not_found", "Microsoft Graph did not find the item", { details });
      }
      const throttled = response.status === 429;
      if (throttled || response.status >= 500) {
        const asked = retryAfterMs(response.headers, clock.now());
        if (asked !== undefined && asked > retry.maxWaitMs) {
          throw new RateLimitedError("Microsoft Graph asked to wait longer than this call may block", asked, {
            details,
          });
        }
        if (last) {
          if (throttled)
            throw new RateLimitedError("Microsoft Graph kept throttling this mailbox", asked, { details });
          throw new ClientMailError("transient", "Microsoft Graph kept failing", { details });
        }
        const delay = asked ?? this.backoff(attempt);
        logger.debug("graph: retrying", {
          status: response.status,
          graphCode: code,
          attempt,
          delayMs: delay,
        });
        await this.wait(delay, request.signal);
        continue;
      }
      throw new ClientMailError(
        "internal",
        `Microsoft Graph refused the request (${response.status} ${code ?? ""})`.trim(),
        {
          details,
          retryable: false,
        },
      );
    }
  }

  /** Exponential backoff for attempt n (1-based): base·2^(n−1), capped, with up to 50% jitter subtracted. */
  backoff(attempt: number): number {
    const { baseDelayMs, maxDelayMs } = this.options.retry;
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    return Math.ceil(ceiling * (0.5 + 0.5 * this.options.random()));
  }

  /** Sleeps `ms`, failing with a clientmail error when the signal aborts. */
  async wait(ms: number, signal?: AbortSignal): Promise<void> {
    try {
      await this.options.sleep(ms, signal);
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      throw error;
    }
  }

  private async token(): Promise<string> {
    const forceRefresh = this.forceRefresh;
    this.forceRefresh = false;
    try {
      return await this.options.getAccessToken({ forceRefresh });
    } catch (error) {
      if (ClientMailError.isInstance(error)) throw error;
      if (isInvalidGrant(error)) {
        throw new ClientMailError(
          "auth_revoked",
          "The Microsoft account's grant was revoked or expired (invalid_grant)",
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }

  private async raw(request: GraphRequest, token: string): Promise<Response> {
    let call = this.client
      .api(this.resolve(request.url))
      .header("Authorization", `Bearer ${token}`)
      .responseType(ResponseType.RAW);
    for (const [name, value] of Object.entries(request.headers ?? {})) call = call.header(name, value);
    switch (request.method) {
      case "GET":
        return (await call.get()) as Response;
      case "POST":
        return (await call.post(request.body ?? {})) as Response;
      case "PATCH":
        return (await call.patch(request.body ?? {})) as Response;
      default:
        return (await call.delete()) as Response;
    }
  }
}
