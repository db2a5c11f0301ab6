/**
 * The Graph provider at the edge of the integrity rules: which failures set one message aside
 * (R1), how long a silent or trickling response may take (R3), how throttling ends (R6), and
 * that a targeted backfill is complete beyond `$search`'s 1,000 results and finds IDN mail (Y5).
 */
import { describe, expect, it } from "vitest";
import {
  ClientMailError,
  RateLimitedError,
  ValidationError,
  isUnreadable,
  type FetchResult,
} from "@clientmail/core";
import { graphFaults } from "@clientmail/testkit";
import { ConcurrencyLimiter, SEARCH_RESULT_CAP, createGraphProvider } from "../src/index.js";
import { clientMessage, createHarness } from "./harness.js";

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (error: unknown) => error,
  );
}

function idsOf(results: readonly FetchResult[]): string[] {
  return results.flatMap((result) => (isUnreadable(result) ? [] : [result.envelope.providerId])).sort();
}

describe("graph adapter: per-message failures (R1)", () => {
  it("R1: $value answering 500 ErrorMimeContentConversionFailed (an S/MIME item) sets that message aside at once; the rest is delivered", async () => {
    const h = createHarness();
    const ids = [0, 1, 2].map((i) => h.mailbox.addMessage(clientMessage(i)));
    h.fake.failNext(1, "getMime", graphFaults.mimeContentConversionFailed());
    const results = await drain(h.provider.fetch(ids));
    const refused = results.filter(isUnreadable);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.unreadable).toEqual({
      reason: "server_refused",
      detail: "Graph 500 errormimecontentconversionfailed",
    });
    expect(idsOf(results)).toEqual(ids.filter((id) => id !== refused[0]!.providerId).sort());
    // Not retried: the same answer would come on every attempt.
    expect(h.sleeps).toEqual([]);
    expect(h.fake.requests.filter((r) => r.operation === "getMime")).toHaveLength(3);
  });

  it("R1: a batched GET answering 500 ErrorContentConversionFailed (a corrupt body) sets that message aside; the rest is delivered", async () => {
    const h = createHarness();
    const ids = [0, 1, 2].map((i) => h.mailbox.addMessage(clientMessage(i)));
    h.fake.failNext(1, "getMessage", graphFaults.contentConversionFailed());
    const results = await drain(h.provider.fetch(ids));
    expect(results.filter(isUnreadable).map((r) => r.unreadable.reason)).toEqual(["server_refused"]);
    expect(idsOf(results)).toHaveLength(2);
    expect(h.sleeps).toEqual([]);
  });

  it("R1: throttled or failing batch items are not per-message failures: retried, then thrown; nothing is set aside", async () => {
    for (const [fault, code] of [
      [graphFaults.tooManyRequests(2), "rate_limited"],
      [graphFaults.serviceUnavailable(), "transient"],
    ] as const) {
      const h = createHarness({ provider: { retry: { maxAttempts: 2 } } });
      const ids = [0, 1].map((i) => h.mailbox.addMessage(clientMessage(i)));
      h.fake.failNext(10, "getMessage", fault);
      const seen: FetchResult[] = [];
      const error = await failure(
        (async () => {
          for await (const result of h.provider.fetch(ids)) seen.push(result);
        })(),
      );
      expect(ClientMailError.hasCode(error, code), `${code}: ${String(error)}`).toBe(true);
      expect(seen.filter(isUnreadable)).toEqual([]);
    }
  });
});

describe("graph adapter: deadlines (R3)", () => {
  it("R3: the deadline covers the body read: a body trickling a byte at a time fails as transient at the deadline", async () => {
    const timers: NodeJS.Timeout[] = [];
    const h = createHarness({ provider: { requestTimeoutMs: 400 } });
    h.mailbox.addMessage(clientMessage(0));
    const trickling = createGraphProvider({
      mailbox: h.mailbox.address,
      getAccessToken: async () => h.fake.accessTokenFor(h.mailbox.address),
      requestTimeoutMs: 400,
      fetch: async (input, init) => {
        const response = await h.fake.fetch(input, init);
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            const timer = setInterval(() => controller.enqueue(new Uint8Array([0x20])), 50);
            timers.push(timer);
            init?.signal?.addEventListener("abort", () => {
              clearInterval(timer);
              controller.error(init.signal?.reason);
            });
          },
        });
        return new Response(body, { status: response.status, headers: response.headers });
      },
    });
    try {
      const started = Date.now();
      const error = await failure(drain(trickling.changes(undefined)));
      expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
      expect((error as ClientMailError).details.reason).toBe("deadline_exceeded");
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      timers.forEach(clearInterval);
      await trickling.close();
    }
  });
});

describe("graph adapter: throttling ends as rate_limited (R6)", () => {
  it("R6: 503 with a Retry-After beyond maxWaitMs ends at once with retryAfterMs, for the engine to wait out", async () => {
    const h = createHarness({ provider: { retry: { maxWaitMs: 60_000 } } });
    h.fake.failNext(1, "delta", graphFaults.serviceUnavailable(300));
    const error = await failure(drain(h.provider.changes(undefined)));
    expect(ClientMailError.hasCode(error, "transient")).toBe(true);
    expect((error as ClientMailError).details.retryAfterMs).toBe(300_000);
    expect(h.sleeps).toEqual([]);
  });

  it("R6: ApplicationThrottled (MailboxConcurrency, no Retry-After) that persists ends as RateLimitedError", async () => {
    const h = createHarness({ provider: { retry: { maxAttempts: 3 } } });
    h.fake.failNext(10, "delta", graphFaults.applicationThrottled());
    const error = await failure(drain(h.provider.changes(undefined)));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBeUndefined();
    expect(h.sleeps).toEqual([1000, 2000]);
  });
});

describe("graph adapter: targeted backfill (Y5)", () => {
  it(`Y5: a client with more than ${SEARCH_RESULT_CAP} messages gets its whole history, though $search stops at ${SEARCH_RESULT_CAP}`, async () => {
    const h = createHarness({ fake: { mailboxRequestLimit: false } });
    const client = "cfo@acme.example";
    const day = Date.UTC(2026, 1, 10, 8);
    const expected: string[] = [];
    // 1,050 messages in one morning (more than $search returns even for one day), then 300 spread over 60 days.
    for (let i = 0; i < 1050; i++) {
      const at = new Date(day + i * 10_000);
      expected.push(h.mailbox.addMessage({ ...clientMessage(i), from: client, date: at, receivedAt: at }));
    }
    for (let i = 0; i < 300; i++) {
      const at = new Date(Date.UTC(2025, 11, 1) + i * 4 * 3_600_000);
      const sent = i % 3 === 0;
      expected.push(
        h.mailbox.addMessage({
          ...clientMessage(i),
          ...(sent ? { from: "ann@firm.example", to: [client], folder: "sentitems" } : { from: client }),
          date: at,
          receivedAt: at,
        }),
      );
    }
    for (let i = 0; i < 40; i++) h.mailbox.addMessage({ ...clientMessage(i), from: "someone@else.example" });

    const found = (await drain(h.provider.search({ addresses: [client] }))).flat();
    const ids = found.map((envelope) => envelope.providerId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(expected.sort());
    const searches = h.fake.requests.filter((r) => r.url.includes("$search="));
    expect(searches.length).toBeGreaterThan(1);
    // The day with more than the cap was read as a listing filtered on the received date.
    expect(h.fake.requests.some((r) => r.url.includes("$filter=receivedDateTime"))).toBe(true);
  });

  it("Y5: search for an IDN address finds mail written with the Unicode domain and with the ASCII one", async () => {
    const h = createHarness();
    const unicode = h.mailbox.addMessage({ ...clientMessage(0), from: "kunde@bücher.example" });
    const ascii = h.mailbox.addMessage({ ...clientMessage(1), from: "kunde@xn--bcher-kva.example" });
    h.mailbox.addMessage({ ...clientMessage(2), from: "andere@bücher.example" });
    const found = (await drain(h.provider.search({ addresses: ["kunde@xn--bcher-kva.example"] }))).flat();
    expect(found.map((envelope) => envelope.providerId).sort()).toEqual([unicode, ascii].sort());
  });
});

describe("graph adapter: settings", () => {
  it("T12: a limiter and maxConcurrentRequests together, and a bad requestTimeoutMs, are named", () => {
    let error: unknown;
    try {
      createGraphProvider({
        mailbox: "ann@firm.example",
        getAccessToken: async () => "t",
        limiter: new ConcurrencyLimiter(4),
        maxConcurrentRequests: 2,
        requestTimeoutMs: -1,
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((issue) => issue.field)).toEqual([
      "settings.maxConcurrentRequests",
      "settings.requestTimeoutMs",
    ]);
  });
});
