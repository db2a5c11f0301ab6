/**
 * The one door to Microsoft Graph: every request goes through the mailbox's concurrency limiter,
 * gets a fresh bearer token, runs against the request deadline (R3, the body read included), is
 * retried through the shared retry (Retry-After in seconds or as a date, else full-jitter
 * backoff), and has its failures translated to clientmail codes (see `errors.ts`).
 *
 * Requests are sent with `@microsoft/microsoft-graph-client`, but with our own middleware chain
 * instead of its default one: its RetryHandler would retry 429/503/504 up to three more times on
 * its own timer, invisible to the limiter and the injected clock, multiplying our attempts.
 */
import { Client, ResponseType, type Context, type Middleware } from "@microsoft/microsoft-graph-client";
import { ClientMailError } from "@clientmail/core";
import type { Clock, Logger, MailboxPacing } from "@clientmail/core/ports";
import { retry, withDeadline, type RetryPolicy, type Sleep } from "@clientmail/provider-utils";
import { isInvalidGrant, retryAfterMs, translateGraphFailure } from "./errors.js";
import type { ConcurrencyLimiter } from "./limiter.js";
import type { ResolvedGraphSettings } from "./settings.js";

/** Everything {@link GraphHttp} needs; built by the provider from its settings. */
export interface GraphHttpOptions {
  baseUrl: string;
  fetch: typeof fetch;
  getAccessToken: (options: { forceRefresh: boolean }) => Promise<string>;
  clock: Clock;
  sleep: Sleep;
  random: () => number;
  logger: Logger;
  limiter: ConcurrencyLimiter;
  /** Slots shared with other processes (see the `sharedRequests` setting). */
  sharedRequests?: Pick<MailboxPacing, "acquire"> | undefined;
  retry: RetryPolicy;
  requestTimeoutMs: number;
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

/** Microsoft's Graph root, which links in Graph's answers (nextLink, deltaLink) name. */
const graphRoot = "https://graph.microsoft.com/v1.0";

/**
 * A plain-http root (`allowInsecure`, a fake on loopback): the Graph client takes any URL that is
 * not https for a path under Microsoft's root, so it is handed the https twin of the URL, and the
 * last middleware puts the scheme back.
 */
interface PlainHttp {
  /** `http://host:port` */
  origin: string;
  /** `https://host:port` */
  twin: string;
}

class FetchMiddleware implements Middleware {
  constructor(
    private readonly send: typeof fetch,
    private readonly plain: PlainHttp | undefined,
  ) {}

  async execute(context: Context): Promise<void> {
    let url = typeof context.request === "string" ? context.request : context.request.url;
    const { plain } = this;
    if (plain && (url === plain.twin || url.startsWith(`${plain.twin}/`)))
      url = `${plain.origin}${url.slice(plain.twin.length)}`;
    context.response = await this.send(url, context.options ?? {});
  }
}

/** Sends Graph requests with limiting, auth, deadlines, retries and error translation. */
export class GraphHttp {
  private readonly client: Client;
  private forceRefresh = false;

  private readonly plain: PlainHttp | undefined;

  constructor(private readonly options: GraphHttpOptions) {
    const base = new URL(options.baseUrl);
    this.plain =
      base.protocol === "http:" ? { origin: base.origin, twin: `https://${base.host}` } : undefined;
    this.client = Client.initWithMiddleware({
      middleware: new FetchMiddleware(options.fetch, this.plain),
      customHosts: new Set([base.host]),
    });
  }

  /**
   * Full URL of a path or absolute link. With a root other than Microsoft's (a fake), links that
   * name Microsoft's root are read under the configured one: requests never leave it.
   */
  resolve(url: string): string {
    const { baseUrl } = this.options;
    if (!/^https?:\/\//i.test(url)) return `${baseUrl}${url}`;
    if (baseUrl !== graphRoot && (url === graphRoot || url.startsWith(`${graphRoot}/`)))
      return `${baseUrl}${url.slice(graphRoot.length)}`;
    return url;
  }

  /** The URL handed to the Graph client (see {@link PlainHttp}). */
  private forClient(url: string): string {
    const { plain } = this;
    if (plain && (url === plain.origin || url.startsWith(`${plain.origin}/`)))
      return `${plain.twin}${url.slice(plain.origin.length)}`;
    return url;
  }

  /**
   * Sends `request` and returns the successful response with its parsed JSON body (undefined
   * for an empty or non-JSON body), or its raw bytes when `asBytes` (MIME sources may hold 8-bit
   * text in any charset, which decoding as UTF-8 would corrupt). Retries rate limits, 5xx,
   * network failures, truncated bodies and requests past their deadline. Throws the codes listed
   * in `errors.ts` when it gives up.
   */
  async send<T = unknown>(request: GraphRequest, asBytes = false): Promise<{ body: T; response: Response }> {
    const { logger } = this.options;
    return await retry(() => this.once<T>(request, asBytes), {
      policy: this.options.retry,
      sleep: this.options.sleep,
      random: this.options.random,
      signal: request.signal,
      onRetry: ({ attempt, delayMs, error }) =>
        logger.debug("graph: retrying", {
          code: error.code,
          status: error.details.status,
          graphCode: error.details.graphCode,
          attempt,
          delayMs,
        }),
    });
  }

  /**
   * GETs `request` and hands the successful response's body to `consume` as a stream (R7: a MIME
   * source is never held whole), within the request deadline and a limiter slot, with the
   * retries and failure translation of {@link send}. `consume` runs again on a retry, from the
   * start. A body shorter than its `Content-Length` (a dropped connection) is `transient`, so a
   * cut-off source is never passed on. An error `consume` throws that is not a `ClientMailError`
   * (a size limit passed) ends the call as it is.
   */
  async sendStream<T>(
    request: GraphRequest,
    consume: (body: AsyncIterable<Uint8Array>) => Promise<T>,
  ): Promise<T> {
    return await retry(() => this.streamOnce(request, consume), {
      policy: this.options.retry,
      sleep: this.options.sleep,
      random: this.options.random,
      signal: request.signal,
      onRetry: ({ attempt, delayMs, error }) =>
        this.options.logger.debug("graph: retrying", {
          code: error.code,
          status: error.details.status,
          graphCode: error.details.graphCode,
          attempt,
          delayMs,
        }),
    });
  }

  private async streamOnce<T>(
    request: GraphRequest,
    consume: (body: AsyncIterable<Uint8Array>) => Promise<T>,
  ): Promise<T> {
    for (let refreshed = false; ; refreshed = true) {
      const release = await this.options.limiter.acquire(request.weight ?? 1, request.signal);
      let outcome: { value: T } | { response: Response; bytes: Buffer };
      let releaseShared: (() => void) | undefined;
      try {
        // Y2: downloads count against the mailbox's requests shared across processes too.
        releaseShared = await this.options.sharedRequests?.acquire(
          request.weight ?? 1,
          this.options.limiter.capacity,
          request.signal,
        );
        const token = await this.token(request.signal);
        outcome = await withDeadline(
          {
            provider: "graph",
            operation: request.method,
            timeoutMs: this.options.requestTimeoutMs,
            signal: request.signal,
          },
          async (deadline) => {
            const unreachable = (cause: unknown) => {
              if (deadline.aborted) return deadline.reason as ClientMailError;
              return new ClientMailError("transient", "Microsoft Graph could not be reached", {
                cause,
                details: { provider: "graph", reason: "network" },
              });
            };
            let response: Response;
            try {
              response = await this.raw(request, token, deadline);
            } catch (error) {
              throw unreachable(error);
            }
            if (!response.ok || response.body === null) {
              const bytes = await response.arrayBuffer().then(
                (buffer) => Buffer.from(buffer),
                (error: unknown) => {
                  throw unreachable(error);
                },
              );
              return { response, bytes };
            }
            const declared = Number(response.headers.get("Content-Length") ?? Number.NaN);
            const body = response.body as unknown as AsyncIterable<Uint8Array>;
            const reads = {
              async *[Symbol.asyncIterator]() {
                let received = 0;
                try {
                  for await (const chunk of body) {
                    received += chunk.length;
                    yield chunk;
                  }
                } catch (error) {
                  throw unreachable(error);
                }
                if (Number.isFinite(declared) && received !== declared) {
                  throw new ClientMailError("transient", "Microsoft Graph sent a truncated response", {
                    details: { provider: "graph", status: response.status, reason: "truncatedBody" },
                  });
                }
              },
            };
            return { value: await consume(reads) };
          },
        );
      } finally {
        releaseShared?.();
        release();
      }
      if ("value" in outcome) return outcome.value;
      const { response, bytes } = outcome;
      if (response.status === 401 && !refreshed) {
        this.forceRefresh = true;
        continue;
      }
      let body: unknown;
      try {
        body = JSON.parse(bytes.toString("utf8"));
      } catch {
        body = undefined;
      }
      throw translateGraphFailure({
        status: response.status,
        body,
        retryAfterMs: retryAfterMs(response.headers, this.options.clock.now()),
      });
    }
  }

  /**
   * Sends `request` once, never retried (the token refresh after a 401 aside, which happens
   * before Graph reads the request): for calls that must not repeat on their own, like
   * `sendMail` and a draft's `send` (S4). Throws the codes listed in `errors.ts`.
   */
  async sendOnce<T = unknown>(request: GraphRequest): Promise<{ body: T; response: Response }> {
    return await this.once<T>(request, false);
  }

  /** One attempt (the access token refreshed once after a 401), within the request deadline. */
  private async once<T>(request: GraphRequest, asBytes: boolean): Promise<{ body: T; response: Response }> {
    for (let refreshed = false; ; refreshed = true) {
      const release = await this.options.limiter.acquire(request.weight ?? 1, request.signal);
      let outcome: { response: Response; bytes: Buffer };
      let releaseShared: (() => void) | undefined;
      try {
        releaseShared = await this.options.sharedRequests?.acquire(
          request.weight ?? 1,
          this.options.limiter.capacity,
          request.signal,
        );
        const token = await this.token(request.signal);
        outcome = await withDeadline(
          {
            provider: "graph",
            operation: request.method,
            timeoutMs: this.options.requestTimeoutMs,
            signal: request.signal,
          },
          async (deadline) => {
            try {
              const response = await this.raw(request, token, deadline);
              return { response, bytes: Buffer.from(await response.arrayBuffer()) };
            } catch (error) {
              if (deadline.aborted) throw deadline.reason as ClientMailError;
              throw new ClientMailError("transient", "Microsoft Graph could not be reached", {
                cause: error,
                details: { provider: "graph", reason: "network" },
              });
            }
          },
        );
      } finally {
        releaseShared?.();
        release();
      }
      const { response, bytes } = outcome;
      if (response.ok && asBytes) return { body: bytes as T, response };
      let body: unknown;
      let parseFailed = false;
      const text = bytes.toString("utf8");
      if (text !== "") {
        try {
          body = JSON.parse(text);
        } catch {
          parseFailed = true;
        }
      }
      if (response.ok) {
        if (!parseFailed || (response.headers.get("Content-Type") ?? "").indexOf("json") < 0) {
          return { body: body as T, response };
        }
        // A 200 cut off mid-body: the connection dropped; the request is safe to repeat.
        throw new ClientMailError("transient", "Microsoft Graph sent a truncated response", {
          details: { provider: "graph", status: response.status, reason: "truncatedBody" },
        });
      }
      if (response.status === 401 && !refreshed) {
        this.forceRefresh = true;
        continue;
      }
      throw translateGraphFailure({
        status: response.status,
        body,
        retryAfterMs: retryAfterMs(response.headers, this.options.clock.now()),
      });
    }
  }

  private async token(signal: AbortSignal | undefined): Promise<string> {
    const forceRefresh = this.forceRefresh;
    this.forceRefresh = false;
    try {
      // The host's token source is a network call too: it gets the same deadline (R3).
      return await withDeadline(
        { provider: "graph", operation: "token", timeoutMs: this.options.requestTimeoutMs, signal },
        () => this.options.getAccessToken({ forceRefresh }),
      );
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
      throw new ClientMailError("transient", "The access-token source failed", { cause: error });
    }
  }

  private async raw(request: GraphRequest, token: string, signal: AbortSignal): Promise<Response> {
    let call = this.client
      .api(this.forClient(this.resolve(request.url)))
      .header("Authorization", `Bearer ${token}`)
      .option("signal", signal)
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

/** The HTTP door of one mailbox from resolved settings; the provider and the sender each build theirs. */
export function createGraphHttp(config: ResolvedGraphSettings): GraphHttp {
  return new GraphHttp({
    baseUrl: config.baseUrl,
    fetch: config.fetch,
    getAccessToken: config.getAccessToken,
    clock: config.clock,
    sleep: config.sleep,
    random: config.random,
    logger: config.logger,
    limiter: config.limiter,
    sharedRequests: config.sharedRequests,
    retry: config.retry,
    requestTimeoutMs: config.requestTimeoutMs,
  });
}
