/**
 * The Gmail provider at the edge of the integrity rules: which failures set one message aside
 * (R1), how long a silent or trickling response may take (R3), how rate limits and the daily
 * quota end (R6), and that 8-bit and IDN mail reach the engine intact (R11, Y5).
 */
import { describe, expect, it } from "vitest";
import { ClientMailError, RateLimitedError, isUnreadable, type FetchResult } from "@clientmail/core";
import { fetchedMessages, gmailFailures } from "@clientmail/testkit";
import { createGmailProvider } from "../src/index.js";
import { collect, connect, raw } from "./harness.js";

function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (error: unknown) => error,
  );
}

const latin1Message = Buffer.concat([
  Buffer.from(
    "From: jo@home.example\r\nTo: ann@firm.com\r\nSubject: Bilan\r\nMessage-ID: <latin@home.example>\r\n" +
      'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="iso-8859-1"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
    "latin1",
  ),
  Buffer.from("Le bilan de l'année est prêt. Grüße aus Köln.\r\n", "latin1"),
]);

describe("Gmail provider: per-message failures (R1)", () => {
  it("R1: a message Gmail refuses on its own in a batch (400 failedPrecondition) is set aside as server_refused; the rest is delivered", async () => {
    const { provider, mailbox, fake } = connect();
    const ids = [0, 1, 2].map((n) => mailbox.addMessage({ raw: raw({ subject: `m${n}` }) }).id);
    fake.failNext("users.messages.get", 1, "failedPrecondition");
    const results: FetchResult[] = await collect(provider.fetch(ids));
    const refused = results.filter(isUnreadable);
    expect(refused).toEqual([
      {
        providerId: ids[0],
        unreadable: { reason: "server_refused", detail: "Gmail 400 failedPrecondition" },
      },
    ]);
    expect(
      results
        .filter((result) => !isUnreadable(result))
        .map((result) => (isUnreadable(result) ? "" : result.envelope.providerId))
        .sort(),
    ).toEqual([ids[1], ids[2]].sort());
    // Set aside without asking again: one batch, no second request for the refused message.
    expect(fake.callCount("users.messages.get")).toBe(3);
  });

  it("R1: a per-message rate limit is not a per-message failure: retried, then thrown as rate_limited; nothing is set aside", async () => {
    const { provider, mailbox, fake } = connect({ provider: { retry: { maxAttempts: 2 } } });
    const ids = [0, 1].map(() => mailbox.addMessage({ raw: raw() }).id);
    fake.failNext("users.messages.get", 10, "resourceExhausted");
    const seen: FetchResult[] = [];
    const error = await failure(
      (async () => {
        for await (const result of provider.fetch(ids)) seen.push(result);
      })(),
    );
    expect(ClientMailError.hasCode(error, "rate_limited"), String(error)).toBe(true);
    expect(seen.filter(isUnreadable)).toEqual([]);
  });

  it("R1: a per-message 5xx is retried, then thrown as transient; nothing is set aside", async () => {
    const { provider, mailbox, fake } = connect({ provider: { retry: { maxAttempts: 2 } } });
    const ids = [0, 1].map(() => mailbox.addMessage({ raw: raw() }).id);
    fake.failNext("users.messages.get", 10, "backendError");
    const seen: FetchResult[] = [];
    const error = await failure(
      (async () => {
        for await (const result of provider.fetch(ids)) seen.push(result);
      })(),
    );
    expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
    expect(seen.filter(isUnreadable)).toEqual([]);
  });

  it("R1: a per-message 404 means the message is gone: skipped, not set aside", async () => {
    const { provider, mailbox, fake } = connect();
    const [kept, purged] = [0, 1].map(() => mailbox.addMessage({ raw: raw() }).id);
    mailbox.deleteMessage(purged!);
    const results: FetchResult[] = await collect(provider.fetch([kept!, purged!]));
    expect(
      results.map((result) => (isUnreadable(result) ? "unreadable" : result.envelope.providerId)),
    ).toEqual([kept]);
    expect(
      fake.calls
        .filter((call) => call.method === "users.messages.get")
        .map((call) => call.status)
        .sort(),
    ).toEqual([200, 404]);
  });
});

describe("Gmail provider: deadlines (R3)", () => {
  it("R3: a response that never comes fails the call as transient at the request deadline", async () => {
    let hung = 0;
    const { provider, mailbox } = connect({
      provider: { requestTimeoutMs: 300 },
      wrapFetch: (inner) => async (input, init) => {
        if ((input instanceof Request ? input.url : input.toString()).includes("/profile")) {
          hung += 1;
          return await new Promise<Response>(() => undefined);
        }
        return inner(input, init);
      },
    });
    mailbox.addMessage({ raw: raw() });
    const started = Date.now();
    const error = await failure(collect(provider.changes(undefined)));
    expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
    expect((error as ClientMailError).details.reason).toBe("deadline_exceeded");
    expect(Date.now() - started).toBeLessThan(2000);
    expect(hung).toBe(1);
  });

  it("R3: the deadline covers the body read: a body trickling a byte at a time fails as transient", async () => {
    const timers: NodeJS.Timeout[] = [];
    const { provider, mailbox } = connect({
      provider: { requestTimeoutMs: 400 },
      wrapFetch: (inner) => async (input, init) => {
        const response = await inner(input, init);
        if (!(input instanceof Request ? input.url : input.toString()).includes("/messages?"))
          return response;
        // The status and headers arrive at once; the body then comes one byte every 50 ms, forever.
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
        return new Response(body, { status: 200, headers: response.headers });
      },
    });
    mailbox.addMessage({ raw: raw() });
    try {
      const started = Date.now();
      const error = await failure(collect(provider.changes(undefined)));
      expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
      expect((error as ClientMailError).details.reason).toBe("deadline_exceeded");
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      timers.forEach(clearInterval);
    }
  });
});

describe("Gmail provider: rate limits and quotas end as rate_limited (R6)", () => {
  it("R6: 403 dailyLimitExceeded ends at once as rate_limited, waiting until the quota resets at midnight Pacific time", async () => {
    // The harness clock starts at 2026-01-10 12:00 UTC, 04:00 in Los Angeles: 20 hours to midnight.
    const { provider, fake } = connect();
    fake.failNext("users.getProfile", 1, "dailyLimitExceeded");
    const error = await failure(collect(provider.changes(undefined)));
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(20 * 3_600_000);
    expect(fake.callCount("users.getProfile")).toBe(1);
  });

  it("R6: 429 and rate-limit 403s that persist end as RateLimitedError with the wait Gmail asked for", async () => {
    for (const name of [
      "resourceExhausted",
      "userRateLimitExceeded",
      "quotaExceededQueriesPerUser",
    ] as const) {
      const { provider, fake } = connect({ provider: { retry: { maxAttempts: 2 } } });
      fake.failNext("users.getProfile", 5, () => ({
        ...gmailFailures[name],
        headers: { "retry-after": "7" },
      }));
      const error = await failure(collect(provider.changes(undefined)));
      expect(error, name).toBeInstanceOf(RateLimitedError);
      expect((error as RateLimitedError).retryAfterMs, name).toBe(7000);
    }
  });
});

describe("Gmail provider: content and addresses", () => {
  it("R11: an 8-bit ISO-8859-1 message keeps its text through the Gmail path (the fake keeps bytes as bytes)", async () => {
    const { provider, mailbox } = connect();
    const message = mailbox.addMessage({ raw: latin1Message });
    expect(message.raw.equals(latin1Message)).toBe(true);
    const [fetched] = await fetchedMessages(provider.fetch([message.id]));
    expect(fetched!.text).toContain("Le bilan de l'année est prêt. Grüße aus Köln.");
    expect(fetched!.envelope.messageId).toBe("<latin@home.example>");
  });

  it("Y5: search for an IDN address finds mail written with the Unicode domain and with the ASCII one", async () => {
    const { provider, mailbox } = connect();
    const unicode = mailbox.addMessage({ raw: raw({ from: "kunde@bücher.example" }) });
    const ascii = mailbox.addMessage({ raw: raw({ from: "kunde@xn--bcher-kva.example" }) });
    mailbox.addMessage({ raw: raw({ from: "andere@bücher.example" }) });
    const found = (await collect(provider.search({ addresses: ["kunde@xn--bcher-kva.example"] }))).flat();
    expect(found.map((envelope) => envelope.providerId).sort()).toEqual([unicode.id, ascii.id].sort());
    expect(found.every((envelope) => envelope.from[0]?.address === "kunde@xn--bcher-kva.example")).toBe(true);
  });
});

describe("gmail settings", () => {
  it("R9: the API and token URLs must be https; http only with allowInsecure, which is logged once", () => {
    const credentials = { clientId: "c", clientSecret: "s", refreshToken: "r" };
    let error: unknown;
    try {
      createGmailProvider({ credentials, baseUrl: "http://127.0.0.1:1/", tokenUrl: "ftp://x/token" });
    } catch (e) {
      error = e;
    }
    expect((error as ClientMailError & { issues: { field: string }[] }).issues.map((i) => i.field)).toEqual([
      "baseUrl",
      "tokenUrl",
    ]);
    const warnings: unknown[] = [];
    const logger = {
      debug() {},
      info() {},
      error() {},
      warn: (message: string, fields?: unknown) => warnings.push([message, fields]),
    };
    createGmailProvider({ credentials, logger });
    expect(warnings).toEqual([]);
    createGmailProvider({ credentials, baseUrl: "http://127.0.0.1:1", allowInsecure: true, logger });
    expect(warnings).toEqual([
      ["gmail API URL is not https (allowed by allowInsecure)", { provider: "gmail", insecure: ["baseUrl"] }],
    ]);
  });
});
