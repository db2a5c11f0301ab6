import { ClientMailError } from "@clientmail/core";
import type { Clock, TokenSource } from "@clientmail/core/ports";
import { retry, withDeadline, type RetryPolicy, type Sleep } from "@clientmail/provider-utils";

/** OAuth 2.0 credentials of one connected Gmail mailbox. */
export interface GmailOAuthCredentials {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  /** A still-valid access token, if the host has one (saves a refresh at start-up). */
  accessToken?: string | undefined;
  /** When `accessToken` expires. */
  accessTokenExpiresAt?: Date | undefined;
}

/** Fresh tokens, handed to the host so it can persist them (encrypted) if it wants. */
export interface RefreshedTokens {
  accessToken: string;
  expiresAt: Date;
}

/** An access-token source the host controls instead of credentials (e.g. a token broker). */
export interface AccessTokenSource {
  getAccessToken(signal?: AbortSignal): Promise<string>;
}

/** True for a {@link TokenSource} (e.g. from `@clientmail/auth`), which reports expiry and takes `forceRefresh`. */
export function isTokenSource(source: unknown): source is TokenSource {
  return (
    typeof source === "object" &&
    source !== null &&
    typeof (source as Partial<TokenSource>).accessToken === "function"
  );
}

/** Refreshes access tokens early (5 minutes before expiry, to absorb clock skew). */
const refreshMarginMs = 5 * 60_000;

/**
 * Keeps a valid access token. Refreshes are single-flight: concurrent callers share one request.
 * `invalid_grant` (revoked, expired or password-changed grant) becomes `auth_revoked`; other
 * token-endpoint refusals mean the OAuth client is misconfigured and are not retried either.
 */
export class OAuthTokens {
  private token: string | undefined;
  private expiresAt = 0;
  private inFlight: Promise<string> | undefined;
  /** Set after a 401: the token source must not hand back the refused token. */
  private forceRefresh = false;

  constructor(
    private readonly source: GmailOAuthCredentials | AccessTokenSource | TokenSource,
    private readonly options: {
      fetch: typeof fetch;
      tokenUrl: string;
      clock: Clock;
      sleep: Sleep;
      random: () => number;
      onTokens?: ((tokens: RefreshedTokens) => void) | undefined;
      retry: RetryPolicy;
      requestTimeoutMs: number;
    },
  ) {
    if (!isTokenSource(source) && "refreshToken" in source && source.accessToken) {
      this.token = source.accessToken;
      this.expiresAt = source.accessTokenExpiresAt?.getTime() ?? 0;
    }
  }

  /** Forgets the cached token (after a 401), so the next call refreshes. */
  invalidate(): void {
    this.token = undefined;
    this.expiresAt = 0;
    this.forceRefresh = true;
  }

  /** A valid access token. Throws `auth_revoked`, `transient` or `internal` (misconfiguration). */
  async accessToken(signal?: AbortSignal): Promise<string> {
    if (isTokenSource(this.source)) {
      const source = this.source;
      const forceRefresh = this.forceRefresh;
      this.forceRefresh = false;
      const token = await withDeadline(
        { provider: "gmail", operation: "token", timeoutMs: this.options.requestTimeoutMs, signal },
        (deadline) => source.accessToken({ forceRefresh, signal: deadline }),
      );
      return token.token;
    }
    if (!("refreshToken" in this.source)) {
      const source = this.source;
      // The host's token source is a network call too: it gets the same deadline (R3).
      return await withDeadline(
        { provider: "gmail", operation: "token", timeoutMs: this.options.requestTimeoutMs, signal },
        (deadline) => source.getAccessToken(deadline),
      );
    }
    if (this.token !== undefined && this.expiresAt - refreshMarginMs > this.options.clock.now().getTime())
      return this.token;
    this.inFlight ??= this.refresh(this.source, signal).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async refresh(
    credentials: GmailOAuthCredentials,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const body = new URLSearchParams({
      grant_type: "refresh_token",
      client_id: credentials.clientId,
      client_secret: credentials.clientSecret,
      refresh_token: credentials.refreshToken,
    }).toString();
    // The token endpoint gets the same deadline and retries as the API: it is part of every call.
    return await retry(() => this.refreshOnce(body, signal), {
      policy: { ...this.options.retry, baseDelayMs: 500, maxDelayMs: 30_000 },
      sleep: this.options.sleep,
      random: this.options.random,
      signal,
    });
  }

  private async refreshOnce(body: string, signal: AbortSignal | undefined): Promise<string> {
    const unavailable = (status: number) =>
      new ClientMailError("transient", "Google's token endpoint is unavailable", { details: { status } });
    const { status, text } = await withDeadline(
      { provider: "gmail", operation: "token", timeoutMs: this.options.requestTimeoutMs, signal },
      async (deadline) => {
        try {
          const response = await this.options.fetch(this.options.tokenUrl, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body,
            signal: deadline,
          });
          return { status: response.status, text: await response.text() };
        } catch {
          if (deadline.aborted) throw deadline.reason as ClientMailError;
          throw unavailable(0);
        }
      },
    );
    if (status >= 200 && status < 300) {
      try {
        const parsed = JSON.parse(text) as { access_token?: string; expires_in?: number };
        if (typeof parsed.access_token === "string") {
          this.token = parsed.access_token;
          this.expiresAt = this.options.clock.now().getTime() + (parsed.expires_in ?? 3600) * 1000;
          this.options.onTokens?.({ accessToken: this.token, expiresAt: new Date(this.expiresAt) });
          return this.token;
        }
      } catch {
        // a cut-off body is retried like a network error
      }
      throw unavailable(status);
    }
    if (status >= 500 || status === 429) throw unavailable(status);
    let oauthError: string | undefined;
    try {
      oauthError = (JSON.parse(text) as { error?: string }).error;
    } catch {
      oauthError = undefined;
    }
    if (oauthError === "invalid_grant") {
      throw new ClientMailError(
        "auth_revoked",
        "Google refused the refresh token (invalid_grant): reconnect the mailbox",
        { details: { oauthError, status } },
      );
    }
    throw new ClientMailError(
      "internal",
      `Google's token endpoint refused the OAuth client (${oauthError ?? status}): check clientId and clientSecret`,
      { details: { oauthError, status }, retryable: false },
    );
  }
}
