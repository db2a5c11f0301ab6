import { ClientMailError, RateLimitedError } from "@clientmail/core";
import { gmailFailures, mailSendingLimitFailure, type GmailFailureName } from "@clientmail/testkit";
import { describe, expect, it } from "vitest";
import { collect, connect, raw } from "./harness.js";

async function failure(promise: Promise<unknown>): Promise<ClientMailError> {
  const caught = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(ClientMailError.isInstance(caught)).toBe(true);
  return caught as ClientMailError;
}

describe("Gmail provider: rate limits and server errors (Y7)", () => {
  const retried: [string, GmailFailureName][] = [
    ["Y7: 429 RESOURCE_EXHAUSTED is retried after backoff", "resourceExhausted"],
    ["Y7: 403 userRateLimitExceeded (documented sample) is retried after backoff", "userRateLimitExceeded"],
    ["Y7: 403 rateLimitExceeded (documented sample) is retried after backoff", "rateLimitExceeded"],
    [
      "Y7: 403 rateLimitExceeded 'Queries per minute per user' (as really sent) is retried after backoff",
      "quotaExceededQueriesPerUser",
    ],
    [
      "Y7: 403 rateLimitExceeded 'Units per minute per user' (2026 regime) is retried after backoff",
      "quotaExceededUnitsPerUser",
    ],
    ["Y7: 500 backendError is retried after backoff", "backendError"],
    ["Y7: 503 service unavailable is retried after backoff", "serviceUnavailable"],
    ["Y7: a 200 with JSON truncated mid-body is retried", "truncatedJson"],
  ];
  for (const [name, failureName] of retried) {
    it(name, async () => {
      const { provider, mailbox, fake, time } = connect();
      const message = mailbox.addMessage({ raw: raw() });
      fake.failNext("users.messages.list", 2, failureName);
      const pages = await collect(provider.changes(undefined));
      expect(pages.flatMap((page) => page.added.map((envelope) => envelope.providerId))).toEqual([
        message.id,
      ]);
      const lists = fake.calls.filter((call) => call.method === "users.messages.list");
      expect(lists.map((call) => call.status)).toEqual([
        gmailFailures[failureName].status,
        gmailFailures[failureName].status,
        200,
      ]);
      // Exponential backoff with jitter: the second wait is at least the first step's floor.
      const backoffs = time.sleeps.filter((ms) => ms >= 500);
      expect(backoffs).toHaveLength(2);
      expect(backoffs[0]!).toBeGreaterThanOrEqual(500);
      expect(backoffs[0]!).toBeLessThanOrEqual(1000);
      expect(backoffs[1]!).toBeGreaterThanOrEqual(1000);
      expect(backoffs[1]!).toBeLessThanOrEqual(2000);
      expect(provider.stats().retries).toBe(2);
    });
  }

  it("Y7: a rate limit that persists surfaces as RateLimitedError after the retry budget", async () => {
    const { provider, fake } = connect({ provider: { retry: { maxAttempts: 3 } } });
    fake.failNext("users.getProfile", 5, "resourceExhausted");
    const error = await failure(collect(provider.changes(undefined)));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.code).toBe("rate_limited");
    expect(error.retryable).toBe(true);
    expect(fake.callCount("users.getProfile")).toBe(3);
  });

  it("Y7: 429 mail-sending limit: 'Retry after <time>' is honoured as the wait and reported as retryAfterMs", async () => {
    const { provider, fake, time } = connect({ provider: { retry: { maxAttempts: 2 } } });
    const retryAt = new Date(time.clock.now().getTime() + 90_000);
    fake.failNext("users.getProfile", 1, mailSendingLimitFailure(retryAt));
    await collect(provider.changes(undefined));
    expect(time.sleeps).toContain(90_000);
    fake.failNext("users.getProfile", 2, () =>
      mailSendingLimitFailure(new Date(time.clock.now().getTime() + 30_000)),
    );
    const error = await failure(collect(provider.changes(undefined)));
    expect((error as RateLimitedError).retryAfterMs).toBe(30_000);
  });

  it("Y7: 403 dailyLimitExceeded is not hammered: it surfaces at once as rate_limited with a long retryAfterMs", async () => {
    const { provider, fake } = connect();
    fake.failNext("users.getProfile", 1, "dailyLimitExceeded");
    const error = await failure(collect(provider.changes(undefined)));
    expect(error.code).toBe("rate_limited");
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThanOrEqual(3_600_000);
    expect(fake.callCount("users.getProfile")).toBe(1);
  });

  it("Y7: 5xx that persists surfaces as transient", async () => {
    const { provider, fake } = connect({ provider: { retry: { maxAttempts: 2 } } });
    fake.failNext("users.getProfile", 2, "serviceUnavailable");
    const error = await failure(collect(provider.changes(undefined)));
    expect(error.code).toBe("transient");
    expect(error.retryable).toBe(true);
  });

  it("Y7: a network failure is retried", async () => {
    let dropped = 0;
    const { provider, mailbox, time } = connect({
      wrapFetch: (inner) => async (input, init) => {
        if (dropped < 1 && (input instanceof Request ? input.url : input.toString()).includes("/messages?")) {
          dropped += 1;
          throw new TypeError("fetch failed: socket hang up");
        }
        return inner(input, init);
      },
    });
    const message = mailbox.addMessage({ raw: raw() });
    const pages = await collect(provider.changes(undefined));
    expect(dropped).toBe(1);
    expect(pages.flatMap((page) => page.added.map((envelope) => envelope.providerId))).toEqual([message.id]);
    expect(time.sleeps.filter((ms) => ms >= 500)).toHaveLength(1);
  });

  it("Y7: 429 'Too many concurrent requests for user' on batch parts retries only the failed parts", async () => {
    const { provider, mailbox, fake } = connect({
      fake: { concurrentRequestsPerUser: 4 },
      provider: { batchSize: 10 },
    });
    for (let n = 0; n < 10; n += 1) mailbox.addMessage({ raw: raw() });
    const pages = await collect(provider.changes(undefined));
    expect(pages.flatMap((page) => page.added)).toHaveLength(10);
    const gets = fake.calls.filter((call) => call.method === "users.messages.get");
    expect(gets.filter((call) => call.status === 429).length).toBeGreaterThan(0);
    expect(gets.filter((call) => call.status === 200)).toHaveLength(10);
    expect(provider.stats().batchRequests).toBeGreaterThan(1);
  });

  it("Y7: a batch part failing with 500 is retried alone; a part answering 404 is reported removed", async () => {
    const { provider, mailbox, fake } = connect();
    const cursor = `h:${mailbox.historyId}`;
    const ids = [0, 1, 2].map(() => mailbox.addMessage({ raw: raw() }).id);
    const fourth = mailbox.addMessage({ raw: raw() });
    fake.failNext("users.messages.get", 1, "backendError");
    fake.failNext("users.messages.get", 1, "notFound");
    const [page] = await collect(provider.changes(cursor));
    expect(page!.added.map((envelope) => envelope.providerId).sort()).toEqual(
      [ids[0]!, ids[2]!, fourth.id].sort(),
    );
    expect(page!.removed).toEqual([ids[1]]);
    const gets = fake.calls.filter((call) => call.method === "users.messages.get");
    expect(gets.map((call) => call.status)).toEqual([500, 404, 200, 200, 200]);
  });
});

describe("Gmail provider: credentials", () => {
  it("Y7: 401 UNAUTHENTICATED (expired access token) refreshes the token once and retries", async () => {
    const tokens: string[] = [];
    const { provider, mailbox, fake } = connect({
      provider: { onTokens: (refreshed) => tokens.push(refreshed.accessToken) },
    });
    mailbox.addMessage({ raw: raw() });
    await collect(provider.changes(undefined));
    fake.expireAccessTokens();
    const pages = await collect(provider.changes(undefined));
    expect(pages.flatMap((page) => page.added)).toHaveLength(1);
    expect(fake.calls.filter((call) => call.status === 401)).toHaveLength(1);
    expect(tokens).toHaveLength(2);
    expect(new Set(tokens).size).toBe(2);
  });

  it("Y7: access tokens are refreshed before they expire, not after a 401", async () => {
    const { provider, fake, time } = connect({ fake: { accessTokenLifetimeMs: 3_600_000 } });
    await collect(provider.changes(undefined));
    time.advance(56 * 60_000);
    await collect(provider.changes(undefined));
    expect(fake.callCount("token")).toBe(2);
    expect(fake.calls.filter((call) => call.status === 401)).toEqual([]);
  });

  it("N2: invalid_grant from the token endpoint is auth_revoked and is not retried", async () => {
    const { provider, fake } = connect();
    fake.revokeUser("ann@firm.com");
    const error = await failure(collect(provider.changes(undefined)));
    expect(error.code).toBe("auth_revoked");
    expect(error.retryable).toBe(false);
    expect(error.details.oauthError).toBe("invalid_grant");
    expect(fake.callCount("token")).toBe(1);
    expect(JSON.stringify(error.details)).not.toContain("fake-refresh");
  });

  it("N2: invalid_grant after a revocation mid-sync (401 then refresh refused) is auth_revoked", async () => {
    const { provider, fake } = connect();
    await collect(provider.changes(undefined));
    fake.revokeUser("ann@firm.com");
    const error = await failure(collect(provider.changes(undefined)));
    expect(error.code).toBe("auth_revoked");
  });

  it("invalid_client from the token endpoint is a non-retryable misconfiguration, not a revoked mailbox", async () => {
    const { provider, fake } = connect();
    fake.failNext("token", 1, "invalidClient");
    const error = await failure(collect(provider.changes(undefined)));
    expect(error.code).toBe("internal");
    expect(error.retryable).toBe(false);
    expect(error.details.oauthError).toBe("invalid_client");
  });

  it("a persistent 401 after a refresh is auth_revoked", async () => {
    const { provider, fake } = connect();
    fake.failNext("users.getProfile", 2, "unauthenticated");
    const error = await failure(collect(provider.changes(undefined)));
    expect(error.code).toBe("auth_revoked");
  });

  it("settings are validated with the offending field named", () => {
    const { fake } = connect();
    void fake;
    expect(() =>
      connect({ provider: { credentials: { clientId: "", clientSecret: "s", refreshToken: "r" } } }),
    ).toThrowError(/credentials\.clientId/);
    expect(() => connect({ provider: { quota: { utilisation: 1.5 } } })).toThrowError(/quota\.utilisation/);
  });
});
