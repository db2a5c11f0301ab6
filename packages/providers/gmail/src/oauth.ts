import { ClientMailError } from "@clientmail/core";
import type { Clock } from "@clientmail/core/ports";
import type { Sleep } from "./quota-pacer.js";

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

  constructor(
    private readonly source: GmailOAuthCredentials | AccessTokenSource,
    private readonly options: {
      fetch: typeof fetch;
      tokenUrl: string;
      clock: Clock;
      sleep: Sleep;
      onTokens?: ((tokens: RefreshedTokens) => void) | undefined;
      maxAttempts: number;
    },
  ) {
    if ("refreshToken" in source && source.accessToken) {
      this.token = source.accessToken;
      this.expiresAt = source.accessTokenExpiresAt?.getTime() ?? 0;
    }
  }

  /** Forgets the cached token (after a 401), so the next call refreshes. */
  invalidate(): void {
    this.token = undefined;
    this.expiresAt = 0;
  }

  /** A valid access token. Throws `auth_revoked`, `transient` or `internal` (misconfiguration). */
  async accessToken(signal?: AbortSignal): Promise<string> {
    if (!("refreshToken" in this.source)) return this.source.getAccessToken(signal);
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
    for (let attempt = 1; ; attempt += 1) {
      let response: Response | undefined;
      let text = "";
      try {
        response = await this.options.fetch(this.options.tokenUrl, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body,
          ...(signal ? { signal } : {}),
        });
        text = await response.text();
      } catch (error) {
        if (signal?.aborted) throw error;
        response = undefined;
      }
      if (response?.ok) {
        try {
          const parsed = JSON.parse(text) as { access_token?: string; expires_in?: number };
          if (typeof parsed.access_token === "string") {
            this.token = parsed.access_token;
            this.expiresAt = this.options.clock.now().getTime() + (parsed.expires_in ?? 3600) * 1000;
            this.options.onTokens?.({ accessToken: this.token, expiresAt: new Date(this.expiresAt) });
            return this.token;
          }
        } catch {
          // a cut-off body is retried below like a network error
        }
      } else if (response && response.status < 500 && response.status !== 429) {
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
            {
              details: { oauthError, status: response.status },
            },
          );
        }
        throw new ClientMailError(
          "internal",
          `Google's token endpoint refused the OAuth client (${oauthError ?? response.status}): check clientId and clientSecret`,
          {
            details: { oauthError, status: response.status },
            retryable: false,
          },
        );
      }
      if (attempt >= this.options.maxAttempts) {
        throw new ClientMailError("transient", "Google's token endpoint is unavailable", {
          details: { status: response?.status ?? 0 },
        });
      }
      await this.options.sleep(Math.min(30_000, 500 * 2 ** attempt), signal);
    }
  }
}
