/**
 * The caching every token source shares: a token is reused until five minutes before it
 * expires (clock skew), concurrent callers share one refresh, and `forceRefresh` (the API
 * refused the token) skips the cache once.
 */
import type { AccessToken, AccessTokenRequest, Clock, TokenSource } from "@clientmail/core/ports";

/** Refreshes this long before expiry. */
export const refreshMarginMs = 5 * 60_000;

/** A {@link TokenSource} over a function that gets a fresh token. */
export class CachedTokenSource implements TokenSource {
  private cached: AccessToken | undefined;
  private inFlight: Promise<AccessToken> | undefined;

  constructor(
    private readonly fetchToken: (request: {
      forceRefresh: boolean;
      signal?: AbortSignal | undefined;
    }) => Promise<AccessToken>,
    private readonly clock: Clock,
  ) {}

  async accessToken(request: AccessTokenRequest = {}): Promise<AccessToken> {
    const forceRefresh = request.forceRefresh === true;
    if (forceRefresh) this.cached = undefined;
    const cached = this.cached;
    if (cached && cached.expiresAt.getTime() - refreshMarginMs > this.clock.now().getTime()) return cached;
    this.inFlight ??= this.fetchToken({ forceRefresh, signal: request.signal })
      .then((token) => {
        this.cached = token;
        return token;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}
