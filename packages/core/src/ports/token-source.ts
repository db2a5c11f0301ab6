/**
 * Where a provider gets OAuth access tokens: the one interface the Gmail, Graph and IMAP
 * (XOAUTH2) providers consume, whatever grant stands behind it — a user's refresh token, a
 * Google service account with domain-wide delegation, a Microsoft app's client credentials.
 * `@clientmail/auth` implements it with google-auth-library and MSAL.
 */

/** An access token and when it stops working. */
export interface AccessToken {
  /** The bearer token. Never logged. */
  token: string;
  /** When the token expires, as the issuer said. */
  expiresAt: Date;
}

/** What a provider asks a {@link TokenSource} for. */
export interface AccessTokenRequest {
  /**
   * True after the API refused the last token (HTTP 401, IMAP authentication failed): the source
   * must not hand out a cached token again. A provider asks this way once per refusal, then
   * fails the call as `auth_revoked`.
   */
  forceRefresh?: boolean | undefined;
  /** Aborts the token request (the provider's request deadline, R3). */
  signal?: AbortSignal | undefined;
}

/**
 * A source of access tokens for one mailbox (or one app in one tenant).
 *
 * Contract:
 * - returns a token valid for a while yet (a source refreshes early, before `expiresAt`), from a
 *   cache when it can; concurrent calls share one refresh;
 * - throws `ClientMailError` only: `auth_revoked` when the grant is gone (OAuth `invalid_grant`:
 *   revoked, expired, password changed; the mailbox must be reconnected), `permission_denied`
 *   when the app is not allowed what it asks (a service account without domain-wide delegation
 *   for the scopes, an app without admin consent), `transient` for network failures, 429 and
 *   5xx from the token endpoint, and `internal` (not retryable) for a misconfigured client
 *   (`invalid_client`, unknown tenant);
 * - keeps refresh tokens only as keyring ciphertext when it stores them.
 */
export interface TokenSource {
  accessToken(request?: AccessTokenRequest): Promise<AccessToken>;
}
