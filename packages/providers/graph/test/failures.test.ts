/**
 * Every failure the Graph fake produces, handled by the adapter: each test names the failure.
 */
import { describe, expect, it } from "vitest";
import { ClientMailError, RateLimitedError } from "@clientmail/core";
import { fetchedMessages, graphFaults } from "@clientmail/testkit";
import { ConcurrencyLimiter, createGraphProvider } from "../src/index.js";
import { clientMessage, collect, createHarness, pass, uniqueAddress } from "./harness.js";

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (error: unknown) => error,
  );
}

describe("graph adapter: delta cursor failures (Y6)", () => {
  it("Y6: 410 SyncStateNotFound drops the delta link and resyncs", async () => {
    const h = createHarness();
    const ids = [0, 1, 2].map((i) => h.mailbox.addMessage(clientMessage(i)));
    const first = await pass(h.provider, undefined);
    h.mailbox.expireDeltaTokens();
    const gone = h.mailbox.addMessage(clientMessage(3));
    h.mailbox.deleteMessage(ids[0]!);

    const error = await failure(collect(h.provider, first.cursor));
    expect(ClientMailError.hasCode(error, "cursor_expired")).toBe(true);
    const body = h.fake.requests.at(-1)!;
    expect(body.status).toBe(410);

    const resync = await pass(h.provider, undefined);
    expect(resync.added.sort()).toEqual([ids[1]!, ids[2]!, gone].sort());
    expect(new Set(resync.added).size).toBe(resync.added.length);
    // The fresh cursor works again.
    const quiet = await pass(h.provider, resync.cursor);
    expect(quiet.added).toEqual([]);
  });

  it("Y6: a scripted 410 SyncStateNotFound body (verbatim) on a delta link throws cursor_expired", async () => {
    const h = createHarness();
    h.mailbox.addMessage(clientMessage(0));
    const first = await pass(h.provider, undefined);
    h.fake.failNext(1, "delta", graphFaults.syncStateNotFound());
    const error = await failure(collect(h.provider, first.cursor));
    expect(ClientMailError.hasCode(error, "cursor_expired")).toBe(true);
    expect((error as ClientMailError).details).toMatchObject({ status: 410, graphCode: "syncstatenotfound" });
  });

  it("Y6: an expired nextLink (skip token) mid-round throws cursor_expired", async () => {
    const h = createHarness({ provider: { pageSize: 2 } });
    for (let i = 0; i < 5; i++) h.mailbox.addMessage(clientMessage(i));
    const pages = [];
    for await (const page of h.provider.changes(undefined)) {
      pages.push(page);
      break;
    }
    h.mailbox.expireDeltaTokens();
    const error = await failure(collect(h.provider, pages[0]!.cursor));
    expect(ClientMailError.hasCode(error, "cursor_expired")).toBe(true);
  });

  it("Y6: 400 syncStateNotFound (lower-case code) throws cursor_expired", async () => {
    const h = createHarness();
    const first = await pass(h.provider, undefined);
    h.fake.failNext(1, "delta", graphFaults.syncStateNotFoundLowerCase());
    const error = await failure(collect(h.provider, first.cursor));
    expect(ClientMailError.hasCode(error, "cursor_expired")).toBe(true);
  });

  it("Y6: 410 resyncRequired with an empty $deltatoken Location throws cursor_expired", async () => {
    const h = createHarness();
    const first = await pass(h.provider, undefined);
    h.fake.failNext(1, "delta", graphFaults.resyncRequired());
    const error = await failure(collect(h.provider, first.cursor));
    expect(ClientMailError.hasCode(error, "cursor_expired")).toBe(true);
    expect((error as ClientMailError).details.graphCode).toBe("resyncrequired");
  });

  it("Y6: an unreadable cursor throws cursor_expired rather than a native error", async () => {
    const h = createHarness();
    const error = await failure(collect(h.provider, "not a cursor"));
    expect(ClientMailError.hasCode(error, "cursor_expired")).toBe(true);
  });
});

describe("graph adapter: delta quirks", () => {
  it("Y6: empty pages with a nextLink are followed to the deltaLink", async () => {
    const h = createHarness({ fake: { quirks: { emptyPagesPerRound: 3 } } });
    const ids = [0, 1].map((i) => h.mailbox.addMessage(clientMessage(i)));
    const result = await pass(h.provider, undefined);
    expect(result.added.sort()).toEqual([...ids].sort());
    // Three empty pages per folder round, then the content.
    expect(h.fake.requests.filter((r) => r.operation === "delta")).toHaveLength(8);
  });

  it("Y6: duplicate items and replays yield each id once per page and lose nothing", async () => {
    const h = createHarness({
      fake: { quirks: { duplicateItems: true, replayOverlap: 2 } },
      provider: { pageSize: 3 },
    });
    const ids = [0, 1, 2, 3].map((i) => h.mailbox.addMessage(clientMessage(i)));
    const first = await pass(h.provider, undefined);
    for (const page of first.pages)
      expect(new Set(page.added.map((e) => e.providerId)).size).toBe(page.added.length);
    expect([...new Set(first.added)].sort()).toEqual([...ids].sort());
    const fresh = h.mailbox.addMessage(clientMessage(9));
    const second = await pass(h.provider, first.cursor);
    // Replays are legal: the engine upserts by id. The new message is there.
    expect(second.added).toContain(fresh);
  });

  it("Y6: partial updates (only changed properties) are completed to full envelopes", async () => {
    const h = createHarness({ fake: { quirks: { partialUpdates: true } } });
    const id = h.mailbox.addMessage(clientMessage(0, { inReplyTo: "<root@client.example>" }));
    const first = await pass(h.provider, undefined);
    h.mailbox.markRead(id, true);
    const second = await pass(h.provider, first.cursor);
    expect(second.envelopes).toHaveLength(1);
    const envelope = second.envelopes[0]!;
    expect(envelope.flags).toEqual(["\\Seen"]);
    expect(envelope.from).toEqual([{ name: "Carla Client", address: "carla@client.example" }]);
    expect(envelope.subject).toBe("Invoice 0");
    expect(envelope.inReplyTo).toEqual(["<root@client.example>"]);
    expect(h.fake.requests.filter((r) => r.inBatch && r.operation === "getMessage")).toHaveLength(1);
  });

  it("F8: @removed items are reported as removed provider ids", async () => {
    const h = createHarness();
    const [a, b] = [0, 1].map((i) => h.mailbox.addMessage(clientMessage(i)));
    const first = await pass(h.provider, undefined);
    h.mailbox.deleteMessage(a!);
    const second = await pass(h.provider, first.cursor);
    expect(second.removed).toEqual([a]);
    expect(second.added).not.toContain(b);
  });

  it("ImmutableId: a message moved to an unsynced folder is removed under the same id, and a move between synced folders is not a removal", async () => {
    const h = createHarness({ provider: { folders: ["inbox", "sentitems", "archive"] } });
    const [a, b] = [0, 1].map((i) => h.mailbox.addMessage(clientMessage(i)));
    const first = await pass(h.provider, undefined);
    expect(h.fake.requests.every((r) => r.prefer?.includes('IdType="ImmutableId"'))).toBe(true);
    h.mailbox.moveMessage(a!, "archive");
    h.mailbox.moveMessage(b!, "deleteditems");
    const second = await pass(h.provider, first.cursor);
    expect(second.added).toEqual([a]);
    expect(second.envelopes[0]!.folder).toBe("archive");
    expect(second.removed).toEqual([b]);
  });

  it("Prefer odata.maxpagesize and $select are sent on the first delta call only (they live in the links)", async () => {
    const h = createHarness({ provider: { pageSize: 2 } });
    for (let i = 0; i < 3; i++) h.mailbox.addMessage(clientMessage(i));
    await pass(h.provider, undefined);
    const delta = h.fake.requests.filter((r) => r.operation === "delta");
    expect(delta[0]!.url).toContain("$select=");
    expect(delta[0]!.prefer).toContain("odata.maxpagesize=2");
    expect(delta[1]!.url).toContain("$skiptoken=");
    expect(delta[1]!.url).not.toContain("$select=");
  });
});

describe("graph adapter: throttling and transient failures (Y7)", () => {
  it("Y7: 429 TooManyRequests with Retry-After in seconds waits exactly that long, once (no hidden library retries)", async () => {
    const h = createHarness();
    h.mailbox.addMessage(clientMessage(0));
    h.fake.failNext(1, "delta", graphFaults.tooManyRequests(7));
    const result = await pass(h.provider, undefined);
    expect(result.added).toHaveLength(1);
    expect(h.sleeps).toEqual([7000]);
    expect(h.fake.requests.filter((r) => r.operation === "delta").map((r) => r.status)).toEqual([
      429, 200, 200,
    ]);
  });

  it("Y7: 429 TooManyRequests with Retry-After as an HTTP date waits until that date", async () => {
    const h = createHarness();
    h.fake.failNext(1, "delta", (now) => graphFaults.tooManyRequests(new Date(now.getTime() + 42_000), now));
    await pass(h.provider, undefined);
    expect(h.sleeps).toHaveLength(1);
    expect(h.sleeps[0]).toBeGreaterThanOrEqual(41_000);
    expect(h.sleeps[0]).toBeLessThanOrEqual(42_000);
  });

  it("Y7: ApplicationThrottled without Retry-After backs off exponentially", async () => {
    const h = createHarness();
    h.fake.failNext(3, "delta", graphFaults.applicationThrottled());
    await pass(h.provider, undefined);
    expect(h.sleeps).toEqual([1000, 2000, 4000]);
  });

  it("Y7: ApplicationThrottled with Retry-After: 0 backs off instead of hammering", async () => {
    const h = createHarness();
    h.fake.failNext(2, "delta", graphFaults.applicationThrottled(0));
    await pass(h.provider, undefined);
    expect(h.sleeps).toEqual([1000, 2000]);
  });

  it("Y7: backoff has full jitter below its ceiling", async () => {
    const h = createHarness({ provider: { random: () => 0.25 } });
    h.fake.failNext(2, "delta", graphFaults.applicationThrottled());
    await pass(h.provider, undefined);
    expect(h.sleeps).toEqual([250, 500]);
  });

  it("Y7: 429 that never stops ends in rate_limited with the Retry-After Graph asked for", async () => {
    const h = createHarness({ provider: { retry: { maxAttempts: 3 } } });
    h.fake.failNext(10, "delta", graphFaults.tooManyRequests(5));
    const error = await failure(collect(h.provider, undefined));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(5000);
    expect(h.sleeps).toEqual([5000, 5000]);
  });

  it("Y7: a Retry-After beyond maxWaitMs fails rate_limited at once, for the engine to reschedule", async () => {
    const h = createHarness({ provider: { retry: { maxWaitMs: 60_000 } } });
    h.fake.failNext(1, "delta", graphFaults.tooManyRequests(600));
    const error = await failure(collect(h.provider, undefined));
    expect(ClientMailError.hasCode(error, "rate_limited")).toBe(true);
    expect((error as RateLimitedError).retryAfterMs).toBe(600_000);
    expect(h.sleeps).toEqual([]);
  });

  it("Y7: 503 ServiceNotAvailable and 504 GatewayTimeout are retried, then transient", async () => {
    const h = createHarness({ provider: { retry: { maxAttempts: 3 } } });
    h.fake.failNext(1, "delta", graphFaults.serviceUnavailable(3));
    h.fake.failNext(1, "delta", graphFaults.gatewayTimeout());
    await pass(h.provider, undefined);
    expect(h.sleeps).toEqual([3000, 2000]);
    h.fake.failNext(3, "delta", graphFaults.gatewayTimeout());
    const error = await failure(collect(h.provider, undefined));
    expect(ClientMailError.hasCode(error, "transient")).toBe(true);
  });

  it("an abort during a backoff wait stops the call with a non-retryable clientmail error", async () => {
    const controller = new AbortController();
    const h = createHarness({
      provider: {
        sleep: async (_ms, signal) => {
          controller.abort(new Error("shutdown"));
          throw signal?.reason;
        },
      },
    });
    h.fake.failNext(1, "delta", graphFaults.applicationThrottled());
    const pages = h.provider.changes(undefined, { signal: controller.signal });
    const error = await failure(drain(pages));
    expect(ClientMailError.hasCode(error, "transient")).toBe(true);
    expect((error as ClientMailError).retryable).toBe(false);
    expect(h.fake.requests).toHaveLength(1);
  });

  it("Y7: a dropped connection is retried, then transient", async () => {
    const h = createHarness({ provider: { retry: { maxAttempts: 2 } } });
    h.fake.failNext(1, "delta", graphFaults.networkError());
    await pass(h.provider, undefined);
    expect(h.sleeps).toEqual([1000]);
    h.fake.failNext(2, "delta", graphFaults.networkError());
    const error = await failure(collect(h.provider, undefined));
    expect(ClientMailError.hasCode(error, "transient")).toBe(true);
  });

  it("Y7: a 200 with JSON truncated mid-body is retried", async () => {
    const h = createHarness();
    h.mailbox.addMessage(clientMessage(0));
    h.fake.failNext(1, "delta", graphFaults.truncatedJson());
    const result = await pass(h.provider, undefined);
    expect(result.added).toHaveLength(1);
    expect(h.sleeps).toEqual([1000]);
  });

  it("Y7: 429 TooManyRequests from the per-mailbox request budget waits until the window frees up", async () => {
    const h = createHarness({
      fake: { mailboxRequestLimit: { requests: 2, windowMs: 60_000 } },
      provider: { pageSize: 1 },
    });
    for (let i = 0; i < 3; i++) h.mailbox.addMessage(clientMessage(i));
    const result = await pass(h.provider, undefined);
    expect(result.added).toHaveLength(3);
    expect(h.sleeps.length).toBeGreaterThan(0);
    expect(h.sleeps.every((ms) => ms === 60_000)).toBe(true);
  });

  it("Y7: at most 4 concurrent requests per mailbox, so the 5th-request ApplicationThrottled never happens", async () => {
    const h = createHarness({ fake: { latencyMs: 15 } });
    const ids = Array.from({ length: 24 }, (_, i) => h.mailbox.addMessage(clientMessage(i)));
    const fetched = [];
    fetched.push(...(await fetchedMessages(h.provider.fetch(ids))));
    expect(fetched).toHaveLength(24);
    expect(h.fake.maxConcurrencySeen(h.mailbox.address)).toBe(4);
    expect(h.fake.requests.filter((r) => r.status === 429)).toEqual([]);
  });

  it("Y7: two providers of the same mailbox given the same limiter share its 4-request budget", async () => {
    const limiter = new ConcurrencyLimiter(4);
    const h = createHarness({ fake: { latencyMs: 15 }, provider: { limiter } });
    const ids = Array.from({ length: 12 }, (_, i) => h.mailbox.addMessage(clientMessage(i)));
    const token = h.fake.accessTokenFor(h.mailbox.address);
    const twin = createGraphProvider({
      mailbox: h.mailbox.address,
      getAccessToken: async () => token,
      fetch: h.fake.fetch,
      limiter,
    });
    const drain = async (provider: typeof twin) => {
      const out = [];
      for await (const m of provider.fetch(ids)) out.push(m);
      return out;
    };
    const [a, b] = await Promise.all([drain(h.provider), drain(twin)]);
    expect(a).toHaveLength(12);
    expect(b).toHaveLength(12);
    expect(h.fake.maxConcurrencySeen(h.mailbox.address)).toBeLessThanOrEqual(4);
    expect(h.fake.requests.filter((r) => r.status === 429)).toEqual([]);
  });
});

describe("graph adapter: $batch", () => {
  it("$batch: inner 429 items are retried after their Retry-After; inner 404 items are skipped", async () => {
    const h = createHarness();
    const ids = Array.from({ length: 5 }, (_, i) => h.mailbox.addMessage(clientMessage(i)));
    h.mailbox.deleteMessage(ids[4]!);
    h.fake.failNext(2, "getMessage", graphFaults.tooManyRequests(3));
    const fetched = [];
    fetched.push(...(await fetchedMessages(h.provider.fetch(ids))));
    expect(fetched.map((m) => m.envelope.providerId).sort()).toEqual(ids.slice(0, 4).sort());
    expect(h.sleeps).toEqual([3000]);
    const inner = h.fake.requests.filter((r) => r.inBatch && r.operation === "getMessage");
    expect(inner.filter((r) => r.status === 429)).toHaveLength(2);
    expect(inner.filter((r) => r.status === 404)).toHaveLength(1);
  });

  it("404 ErrorItemNotFound on $value (deleted between envelope and content) skips the message", async () => {
    const h = createHarness();
    const [a, b] = [0, 1].map((i) => h.mailbox.addMessage(clientMessage(i)));
    h.fake.failNext(1, "getMime", graphFaults.itemNotFound());
    const fetched = [];
    fetched.push(...(await fetchedMessages(h.provider.fetch([a!, b!]))));
    expect(fetched).toHaveLength(1);
    expect(
      h.fake.requests
        .filter((r) => r.operation === "getMime")
        .map((r) => r.status)
        .sort(),
    ).toEqual([200, 404]);
  });

  it("fetch keeps 8-bit MIME bytes intact (an ISO-8859-1 body is not decoded as UTF-8)", async () => {
    const h = createHarness();
    const raw = Buffer.concat([
      Buffer.from(
        "From: jo@home.example\r\nTo: ann@firm.example\r\nSubject: Bilan\r\nMessage-ID: <latin@home.example>\r\n" +
          'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="iso-8859-1"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
        "latin1",
      ),
      Buffer.from("Le bilan de l'année est prêt.\r\n", "latin1"),
    ]);
    const id = h.mailbox.addRawMessage(new Uint8Array(raw));
    const [message] = await fetchedMessages(h.provider.fetch([id]));
    expect(message!.text).toContain("Le bilan de l'année est prêt.");
    expect(message!.envelope.size).toBe(raw.length);
  });

  it("$batch: 400 BadRequest (limit of 20 exceeded) is internal and not retried", async () => {
    const h = createHarness();
    const id = h.mailbox.addMessage(clientMessage(0));
    h.fake.failNext(1, "batch", graphFaults.batchTooLarge());
    const error = await failure(drain(h.provider.fetch([id])));
    expect(ClientMailError.hasCode(error, "internal")).toBe(true);
    expect((error as ClientMailError).retryable).toBe(false);
    expect(h.fake.requests.filter((r) => r.operation === "batch")).toHaveLength(1);
  });

  it("$batch: more than 20 ids are split into batches of at most 20", async () => {
    const h = createHarness();
    const ids = Array.from({ length: 45 }, (_, i) => h.mailbox.addMessage(clientMessage(i)));
    const fetched = [];
    fetched.push(...(await fetchedMessages(h.provider.fetch(ids))));
    expect(fetched).toHaveLength(45);
    const batches = h.fake.requests.filter((r) => r.operation === "batch");
    expect(batches).toHaveLength(3);
    expect(batches.every((r) => r.status === 200)).toBe(true);
  });

  it("$batch: an inner 403 ErrorAccessDenied is auth_revoked", async () => {
    const h = createHarness();
    const id = h.mailbox.addMessage(clientMessage(0));
    h.fake.failNext(1, "getMessage", graphFaults.accessDenied());
    const error = await failure(drain(h.provider.fetch([id])));
    expect(ClientMailError.hasCode(error, "auth_revoked")).toBe(true);
  });
});

describe("graph adapter: credentials", () => {
  it("Y7/N2: invalid_grant from the token source is auth_revoked", async () => {
    const h = createHarness({
      provider: {
        getAccessToken: async () => {
          // The shape MSAL's InteractionRequiredAuthError has.
          throw Object.assign(new Error("AADSTS50173: The provided grant has expired"), {
            errorCode: "invalid_grant",
          });
        },
      },
    });
    const error = await failure(collect(h.provider, undefined));
    expect(ClientMailError.hasCode(error, "auth_revoked")).toBe(true);
  });

  it("Y7/N2: invalid_grant from the Microsoft token endpoint (fake) is auth_revoked", async () => {
    const h = createHarness();
    const refreshToken = h.fake.issueRefreshToken(h.mailbox.address);
    const fromTokenEndpoint = async () => {
      const response = await h.fake.fetch("https://login.microsoftonline.com/common/oauth2/v2.0/token", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: refreshToken,
          client_id: "app",
        }),
      });
      const body = (await response.json()) as { access_token?: string; error?: string };
      if (!response.ok) throw Object.assign(new Error(`token endpoint: ${body.error}`), body);
      return body.access_token!;
    };
    const provider = createGraphProvider({
      mailbox: h.mailbox.address,
      getAccessToken: fromTokenEndpoint,
      fetch: h.fake.fetch,
      sleep: async () => undefined,
    });
    await pass(provider, undefined);
    h.fake.revokeRefreshTokens(h.mailbox.address);
    const error = await failure(collect(provider, undefined));
    expect(ClientMailError.hasCode(error, "auth_revoked")).toBe(true);
  });

  it("401 InvalidAuthenticationToken refreshes the token once and goes on", async () => {
    const h = createHarness();
    h.fake.failNext(1, "delta", graphFaults.invalidAuthenticationToken());
    await pass(h.provider, undefined);
    expect(h.tokenCalls.filter((c) => c.forceRefresh)).toHaveLength(1);
  });

  it("401 InvalidAuthenticationToken again after a refresh is auth_revoked", async () => {
    const h = createHarness();
    h.fake.revokeAccessTokens(h.mailbox.address);
    const error = await failure(collect(h.provider, undefined));
    expect(ClientMailError.hasCode(error, "auth_revoked")).toBe(true);
  });
});

describe("graph adapter: shared mailboxes", () => {
  it("Y1: a shared mailbox is synced through /users/{address} with Full Access", async () => {
    const h = createHarness();
    const member = uniqueAddress("bob");
    const shared = h.fake.addMailbox(uniqueAddress("support"), { delegates: [member] });
    const id = shared.addMessage(clientMessage(0));
    const token = h.fake.accessTokenFor(member);
    const provider = createGraphProvider({
      mailbox: shared.address,
      shared: true,
      getAccessToken: async () => token,
      fetch: h.fake.fetch,
    });
    const result = await pass(provider, undefined);
    expect(result.added).toEqual([id]);
    expect(
      h.fake.requests
        .filter((r) => r.operation === "delta")
        .every((r) => r.url.includes(`/users/${encodeURIComponent(shared.address)}/`)),
    ).toBe(true);
  });

  it("403 ErrorAccessDenied on a shared mailbox without Full Access is auth_revoked", async () => {
    const h = createHarness();
    const shared = h.fake.addMailbox(uniqueAddress("support"));
    const outsider = uniqueAddress("eve");
    const token = h.fake.accessTokenFor(outsider);
    const provider = createGraphProvider({
      mailbox: shared.address,
      shared: true,
      getAccessToken: async () => token,
      fetch: h.fake.fetch,
    });
    const error = await failure(collect(provider, undefined));
    expect(ClientMailError.hasCode(error, "auth_revoked")).toBe(true);
    expect((error as ClientMailError).details).toMatchObject({ status: 403, graphCode: "erroraccessdenied" });
  });
});

describe("graph adapter: settings", () => {
  it("T12: invalid settings name every offending field", () => {
    try {
      createGraphProvider({
        mailbox: "nope",
        getAccessToken: undefined,
        maxConcurrentRequests: 5,
        push: { notificationUrl: "http://x", subscriptionMinutes: 20_000 },
      });
      throw new Error("expected a ValidationError");
    } catch (error) {
      expect(ClientMailError.hasCode(error, "validation_failed")).toBe(true);
      const fields = (error as ClientMailError & { issues: { field: string }[] }).issues.map((i) => i.field);
      expect(fields).toEqual([
        "settings.mailbox",
        "settings.getAccessToken",
        "settings.maxConcurrentRequests",
        "settings.push.notificationUrl",
        "settings.push.subscriptionMinutes",
      ]);
    }
  });

  it("R9: the Graph root must be https; http only with allowInsecure, which is logged once", () => {
    const base = { mailbox: "ann@firm.example", getAccessToken: async () => "t" };
    let error: unknown;
    try {
      createGraphProvider({ ...base, baseUrl: "http://127.0.0.1:8080/v1.0" });
    } catch (e) {
      error = e;
    }
    expect((error as ClientMailError & { issues: { field: string }[] }).issues.map((i) => i.field)).toEqual([
      "settings.baseUrl",
    ]);
    const warnings: unknown[] = [];
    const logger = {
      debug() {},
      info() {},
      error() {},
      warn: (message: string, fields?: unknown) => warnings.push([message, fields]),
    };
    createGraphProvider({ ...base, baseUrl: "https://graph.example.test/v1.0", logger });
    expect(warnings).toEqual([]);
    createGraphProvider({ ...base, baseUrl: "http://127.0.0.1:8080/v1.0", allowInsecure: true, logger });
    expect(warnings).toEqual([
      [
        "graph API URL is not https (allowed by allowInsecure)",
        { provider: "graph", insecure: ["settings.baseUrl"] },
      ],
    ]);
  });
});
