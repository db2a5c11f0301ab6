/**
 * The conformance suite every {@link MailProvider} runs (IMAP against a real Dovecot, Gmail and
 * Graph against their HTTP fakes, and any third-party provider).
 *
 * Call it at the top level of a vitest test file:
 *
 * ```ts
 * providerConformance({
 *   name: "gmail (fake)",
 *   async setup() {
 *     const backend = createGmailConformanceBackend();
 *     const provider = createGmailProvider({ ...backend.settings, pageSize: 2, push: { topicName: backend.topicName } });
 *     // appendMessage, deleteMessage, expireCursor and close, wired to the fake mailbox.
 *     return backend.fixture(provider);
 *   },
 * });
 * ```
 *
 * The suite drives the backend only through the small {@link ProviderFixture}, and checks what
 * the provider reports against the raw RFC 822 text it put there. Messages are recognised by
 * their Message-ID header, which the suite makes unique per test.
 */
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ClientMailError, type FetchedMessage, type ProviderEnvelope } from "@clientmail/core";
import type { ChangePage, MailProvider } from "@clientmail/core/ports";
import { fetchedMessages } from "./fetch-messages.js";
import { buildConformanceMessage, type ProviderFixture } from "./provider-fixture.js";

/** Options of {@link providerConformance}. */
export interface ProviderConformanceOptions {
  /** Shown in the test names, e.g. `"imap (Dovecot)"`. */
  name: string;
  /** Creates a fresh, empty mailbox and a provider for it. Called once per test. */
  setup(): Promise<ProviderFixture>;
  /** How long `watch` may take to report a new message. Default 15 s. */
  watchTimeoutMs?: number;
  /** Skip the whole suite (with this reason shown in the name), e.g. when a server is missing. */
  skip?: string | undefined;
  /**
   * The deadline of one provider operation as `setup` configured it (IMAP `commandTimeoutMs`,
   * Gmail and Graph `requestTimeoutMs`). With {@link ProviderFixture.stall}, the suite checks that
   * a silent backend fails a call as `transient` within it. Keep it short (about a second).
   */
  operationDeadlineMs?: number | undefined;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

async function allPages(provider: MailProvider, cursor: string | undefined): Promise<ChangePage[]> {
  const pages = await collect(provider.changes(cursor));
  expect(pages.length, "changes() yields at least one page").toBeGreaterThan(0);
  pages.slice(0, -1).forEach((page) => expect(page.done).toBe(false));
  expect(pages[pages.length - 1]!.done, "the last page is marked done").toBe(true);
  return pages;
}

function addedIds(pages: readonly ChangePage[]): string[] {
  return pages.flatMap((page) => page.added.map((envelope) => envelope.messageId ?? "(none)"));
}

function finalCursor(pages: readonly ChangePage[]): string {
  return pages[pages.length - 1]!.cursor;
}

async function withFixture(
  setup: () => Promise<ProviderFixture>,
  test: (fixture: ProviderFixture) => Promise<void>,
): Promise<void> {
  const fixture = await setup();
  try {
    await test(fixture);
  } finally {
    try {
      await fixture.provider.close();
    } finally {
      await fixture.close();
    }
  }
}

function addresses(list: ProviderEnvelope["to"]): string[] {
  return list.map((entry) => entry.address);
}

/** The rejection of `promise` and how long it took; fails when it resolves or outlives `limitMs`. */
async function rejectionWithin(
  promise: Promise<unknown>,
  limitMs: number,
): Promise<{ error: unknown; tookMs: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then(
      () => ({ resolved: true as const }),
      (error: unknown) => ({ resolved: false as const, error }),
    ),
    new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), limitMs);
    }),
  ]);
  clearTimeout(timer);
  if (outcome === "timeout") throw new Error(`the call was still running after ${limitMs} ms`);
  if (outcome.resolved) throw new Error("the call succeeded; expected it to fail");
  return { error: outcome.error, tookMs: Date.now() - started };
}

async function readAll(content: () => AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of content()) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * Registers the provider conformance tests (a vitest `describe` block). Each test sets up a fresh
 * mailbox through `options.setup`, and closes provider and fixture afterwards.
 */
export function providerConformance(options: ProviderConformanceOptions): void {
  const setup = () => options.setup();
  const watchTimeoutMs = options.watchTimeoutMs ?? 15_000;
  const title = `provider conformance: ${options.name}${options.skip ? ` (skipped: ${options.skip})` : ""}`;

  describe.skipIf(options.skip !== undefined)(title, () => {
    const unique = () => randomBytes(6).toString("hex");
    const owner = "owner@firm.example";

    it("T12/H1: a backfill lists every message once, with its envelope normalised", async () => {
      await withFixture(setup, async (fixture) => {
        const tag = unique();
        const first = `<first-${tag}@client.example>`;
        const reply = `<reply-${tag}@client.example>`;
        const sent = `<sent-${tag}@firm.example>`;
        const date = new Date(Date.UTC(2024, 2, 5, 9, 30, 0));
        await fixture.appendMessage(
          buildConformanceMessage({
            messageId: first,
            from: `"Client Contact" <Contact.${tag}@Bücher.example>`,
            to: `Owner <${owner}>`,
            cc: `second-${tag}@client.example`,
            subject: "=?UTF-8?B?UmVjaG51bmcgTcO8bGxlcg==?=",
            date,
          }),
          "inbox",
        );
        await fixture.appendMessage(
          buildConformanceMessage({
            messageId: reply,
            from: `contact.${tag}@xn--bcher-kva.example`,
            to: owner,
            subject: "Re: Rechnung Müller",
            inReplyTo: first,
            references: [`<root-${tag}@client.example>`, first],
          }),
          "inbox",
        );
        await fixture.appendMessage(
          buildConformanceMessage({
            messageId: sent,
            from: owner,
            to: `contact.${tag}@xn--bcher-kva.example`,
            subject: "Answer",
          }),
          "sent",
        );

        const pages = await allPages(fixture.provider, undefined);
        const ids = addedIds(pages).filter((id) => id.includes(tag));
        expect(ids.sort()).toEqual([first, reply, sent].sort());
        const envelopes = new Map(
          pages.flatMap((page) => page.added).map((envelope) => [envelope.messageId, envelope]),
        );
        const providerIds = pages.flatMap((page) => page.added.map((envelope) => envelope.providerId));
        expect(new Set(providerIds).size, "provider ids are unique").toBe(providerIds.length);

        const firstEnvelope = envelopes.get(first)!;
        expect(firstEnvelope.from).toEqual([
          { name: "Client Contact", address: `contact.${tag}@xn--bcher-kva.example` },
        ]);
        expect(addresses(firstEnvelope.to)).toEqual([owner]);
        expect(addresses(firstEnvelope.cc)).toEqual([`second-${tag}@client.example`]);
        expect(firstEnvelope.subject).toBe("Rechnung Müller");
        expect(firstEnvelope.date.getTime()).toBe(date.getTime());
        expect(firstEnvelope.size).toBeGreaterThan(0);
        expect(firstEnvelope.folder).not.toBe("");
        expect(typeof firstEnvelope.providerId).toBe("string");

        const replyEnvelope = envelopes.get(reply)!;
        expect(replyEnvelope.inReplyTo).toEqual([first]);
        expect(replyEnvelope.references).toEqual([`<root-${tag}@client.example>`, first]);
        expect(envelopes.get(sent)!.folder).not.toBe("");
        expect(addresses(envelopes.get(sent)!.from)).toEqual([owner]);
      });
    });

    it("F8: changes after a cursor report new and deleted messages, and nothing else", async () => {
      await withFixture(setup, async (fixture) => {
        const tag = unique();
        const kept = `<kept-${tag}@client.example>`;
        const gone = `<gone-${tag}@client.example>`;
        const fresh = `<fresh-${tag}@client.example>`;
        await fixture.appendMessage(
          buildConformanceMessage({ messageId: kept, from: "a@client.example", to: owner, subject: "kept" }),
          "inbox",
        );
        await fixture.appendMessage(
          buildConformanceMessage({ messageId: gone, from: "a@client.example", to: owner, subject: "gone" }),
          "inbox",
        );
        const backfill = await allPages(fixture.provider, undefined);
        const goneId = backfill
          .flatMap((page) => page.added)
          .find((envelope) => envelope.messageId === gone)!.providerId;

        await fixture.appendMessage(
          buildConformanceMessage({
            messageId: fresh,
            from: owner,
            to: "a@client.example",
            subject: "fresh",
          }),
          "sent",
        );
        await fixture.deleteMessage(gone);
        const delta = await allPages(fixture.provider, finalCursor(backfill));
        expect(addedIds(delta)).toEqual([fresh]);
        expect(delta.flatMap((page) => page.removed)).toEqual([goneId]);

        const quiet = await allPages(fixture.provider, finalCursor(delta));
        expect(addedIds(quiet)).toEqual([]);
        expect(quiet.flatMap((page) => page.removed)).toEqual([]);
      });
    });

    it("resuming from the cursor of any page lists exactly the rest", async () => {
      await withFixture(setup, async (fixture) => {
        const tag = unique();
        const ids = Array.from({ length: 5 }, (_, i) => `<m${i}-${tag}@client.example>`);
        for (const [i, id] of ids.entries()) {
          await fixture.appendMessage(
            buildConformanceMessage({ messageId: id, from: "b@client.example", to: owner, subject: `m${i}` }),
            i === 4 ? "sent" : "inbox",
          );
        }
        const pages = await allPages(fixture.provider, undefined);
        expect(addedIds(pages).sort()).toEqual([...ids].sort());
        expect(
          pages.length,
          "the provider must be configured with a page size of at most 2",
        ).toBeGreaterThanOrEqual(3);
        for (let i = 0; i < pages.length - 1; i++) {
          const seen = new Set(addedIds(pages.slice(0, i + 1)));
          const rest = ids.filter((id) => !seen.has(id)).sort();
          const resumed = await allPages(fixture.provider, pages[i]!.cursor);
          expect(addedIds(resumed).sort(), `resuming after page ${i}`).toEqual(rest);
        }
      });
    });

    it("an expired cursor throws cursor_expired, and a full listing works again", async () => {
      await withFixture(setup, async (fixture) => {
        const tag = unique();
        const id = `<exp-${tag}@client.example>`;
        await fixture.appendMessage(
          buildConformanceMessage({ messageId: id, from: "c@client.example", to: owner, subject: "x" }),
          "inbox",
        );
        const pages = await allPages(fixture.provider, undefined);
        await fixture.expireCursor();
        const error = await collect(fixture.provider.changes(finalCursor(pages))).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(
          ClientMailError.hasCode(error, "cursor_expired"),
          `expected cursor_expired, got ${String(error)}`,
        ).toBe(true);
        const relisted = await allPages(fixture.provider, undefined);
        expect(addedIds(relisted)).toEqual([id]);
      });
    });

    it("Y6: a cursor the provider cannot read throws cursor_expired, never a native error", async () => {
      await withFixture(setup, async (fixture) => {
        for (const unreadable of ["not-a-cursor", '{"folders":', "h:"]) {
          const error = await collect(fixture.provider.changes(unreadable)).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(
            ClientMailError.hasCode(error, "cursor_expired"),
            `${JSON.stringify(unreadable)}: expected cursor_expired, got ${String(error)}`,
          ).toBe(true);
        }
      });
    });

    it("Y5: search finds exactly the messages with a participant, server-side", async () => {
      await withFixture(setup, async (fixture) => {
        const tag = unique();
        const client = `ann.${tag}@client.example`;
        const fromClient = `<s1-${tag}@x>`;
        const ccClient = `<s2-${tag}@x>`;
        const toClient = `<s3-${tag}@x>`;
        const nearMiss = `<s4-${tag}@x>`;
        const unrelated = `<s5-${tag}@x>`;
        await fixture.appendMessage(
          buildConformanceMessage({
            messageId: fromClient,
            from: `Ann <${client}>`,
            to: owner,
            subject: "1",
          }),
          "inbox",
        );
        await fixture.appendMessage(
          buildConformanceMessage({
            messageId: ccClient,
            from: "other@else.example",
            to: owner,
            cc: client.toUpperCase(),
            subject: "2",
          }),
          "inbox",
        );
        await fixture.appendMessage(
          buildConformanceMessage({ messageId: toClient, from: owner, to: client, subject: "3" }),
          "sent",
        );
        await fixture.appendMessage(
          buildConformanceMessage({ messageId: nearMiss, from: `jo${client}`, to: owner, subject: "4" }),
          "inbox",
        );
        await fixture.appendMessage(
          buildConformanceMessage({ messageId: unrelated, from: "x@else.example", to: owner, subject: "5" }),
          "inbox",
        );

        const found = (await collect(fixture.provider.search({ addresses: [client] }))).flat();
        expect(found.map((envelope) => envelope.messageId).sort()).toEqual(
          [fromClient, ccClient, toClient].sort(),
        );
        const none = (
          await collect(
            fixture.provider.search({ addresses: [client], before: new Date(Date.UTC(2000, 0, 1)) }),
          )
        ).flat();
        expect(none).toEqual([]);
        const recent = (
          await collect(
            fixture.provider.search({ addresses: [client], since: new Date(Date.now() - 3 * 86_400_000) }),
          )
        ).flat();
        expect(recent.map((envelope) => envelope.messageId).sort()).toEqual(
          [fromClient, ccClient, toClient].sort(),
        );
      });
    });

    it("F1/F9: fetch returns only the requested ids, with bodies and hashed attachments", async () => {
      await withFixture(setup, async (fixture) => {
        const tag = unique();
        const withFile = `<f1-${tag}@client.example>`;
        const withHtml = `<f2-${tag}@client.example>`;
        const notAsked = `<f3-${tag}@client.example>`;
        const deleted = `<f4-${tag}@client.example>`;
        const fileBytes = randomBytes(150_000);
        await fixture.appendMessage(
          buildConformanceMessage({
            messageId: withFile,
            from: "d@client.example",
            to: owner,
            subject: "invoice",
            text: `Please find the invoice ${tag}.`,
            attachment: { filename: "invoice.pdf", contentType: "application/pdf", content: fileBytes },
          }),
          "inbox",
        );
        await fixture.appendMessage(
          buildConformanceMessage({
            messageId: withHtml,
            from: "d@client.example",
            to: owner,
            subject: "html",
            html: `<p><b>bold ${tag}</b></p>`,
          }),
          "inbox",
        );
        await fixture.appendMessage(
          buildConformanceMessage({
            messageId: notAsked,
            from: "d@client.example",
            to: owner,
            subject: "no",
          }),
          "inbox",
        );
        await fixture.appendMessage(
          buildConformanceMessage({
            messageId: deleted,
            from: "d@client.example",
            to: owner,
            subject: "del",
          }),
          "inbox",
        );
        const envelopes = new Map(
          (await allPages(fixture.provider, undefined))
            .flatMap((page) => page.added)
            .map((envelope) => [envelope.messageId, envelope]),
        );
        await fixture.deleteMessage(deleted);

        const ids = [withFile, withHtml, deleted].map((id) => envelopes.get(id)!.providerId);
        const fetched: FetchedMessage[] = await fetchedMessages(fixture.provider.fetch(ids));
        expect(fetched.map((message) => message.envelope.messageId).sort()).toEqual(
          [withFile, withHtml].sort(),
        );

        const file = fetched.find((message) => message.envelope.messageId === withFile)!;
        expect(file.envelope.providerId).toBe(envelopes.get(withFile)!.providerId);
        expect(file.text).toContain(`Please find the invoice ${tag}.`);
        expect(file.attachments).toHaveLength(1);
        const [attachment] = file.attachments;
        expect(attachment!.filename).toBe("invoice.pdf");
        expect(attachment!.contentType).toBe("application/pdf");
        expect(attachment!.size).toBe(fileBytes.length);
        expect(attachment!.contentHash).toBe(createHash("sha256").update(fileBytes).digest("hex"));
        expect((await readAll(attachment!.content)).equals(fileBytes)).toBe(true);

        const html = fetched.find((message) => message.envelope.messageId === withHtml)!;
        expect(html.html).toContain(`<b>bold ${tag}</b>`);
        expect(html.attachments).toEqual([]);
      });
    });

    it("watch reports a new message", async () => {
      await withFixture(setup, async (fixture) => {
        let calls = 0;
        let wake: (() => void) | undefined;
        const subscription = await fixture.provider.watch(() => {
          calls++;
          wake?.();
        });
        try {
          const before = calls;
          const changed = new Promise<void>((resolve, reject) => {
            wake = resolve;
            setTimeout(
              () => reject(new Error(`watch did not report a new message within ${watchTimeoutMs} ms`)),
              watchTimeoutMs,
            ).unref();
          });
          await fixture.appendMessage(
            buildConformanceMessage({
              messageId: `<w-${unique()}@client.example>`,
              from: "e@client.example",
              to: owner,
              subject: "w",
            }),
            "inbox",
          );
          await changed;
          expect(calls).toBeGreaterThan(before);
        } finally {
          await subscription.stop();
        }
      });
    }, 60_000);

    /** One message in the inbox, listed; returns its provider id and a participant. */
    async function oneListedMessage(
      fixture: ProviderFixture,
    ): Promise<{ providerId: string; participant: string }> {
      const tag = unique();
      const participant = `r3.${tag}@client.example`;
      await fixture.appendMessage(
        buildConformanceMessage({
          messageId: `<r3-${tag}@client.example>`,
          from: participant,
          to: owner,
          subject: "r3",
        }),
        "inbox",
      );
      const [envelope] = (await allPages(fixture.provider, undefined)).flatMap((page) => page.added);
      return { providerId: envelope!.providerId, participant };
    }

    function calls(provider: MailProvider, providerId: string, participant: string) {
      return [
        ["changes", (signal: AbortSignal) => collect(provider.changes(undefined, { signal }))],
        [
          "search",
          (signal: AbortSignal) => collect(provider.search({ addresses: [participant] }, { signal })),
        ],
        ["fetch", (signal: AbortSignal) => collect(provider.fetch([providerId], { signal }))],
      ] as const;
    }

    it("R3: a call with an aborted signal rejects with the signal's reason (a ClientMailError), else transient", async () => {
      await withFixture(setup, async (fixture) => {
        const { providerId, participant } = await oneListedMessage(fixture);
        for (const [name, call] of calls(fixture.provider, providerId, participant)) {
          const reason = new ClientMailError("lease_lost", "another worker took the mailbox");
          const controller = new AbortController();
          controller.abort(reason);
          const { error } = await rejectionWithin(call(controller.signal), 1000);
          expect(error, name).toBe(reason);

          const plain = new AbortController();
          plain.abort();
          const { error: transient } = await rejectionWithin(call(plain.signal), 1000);
          expect(ClientMailError.hasCode(transient, "transient"), `${name}: ${String(transient)}`).toBe(true);
        }
      });
    });

    it("R3: aborting the signal ends a call stuck on a silent backend within a second", async (context) => {
      await withFixture(setup, async (fixture) => {
        if (!fixture.stall || !fixture.resume) {
          context.skip();
          return;
        }
        const { providerId, participant } = await oneListedMessage(fixture);
        fixture.stall();
        try {
          for (const [name, call] of calls(fixture.provider, providerId, participant)) {
            const reason = new ClientMailError("lease_lost", "another worker took the mailbox");
            const controller = new AbortController();
            setTimeout(() => controller.abort(reason), 200);
            const { error, tookMs } = await rejectionWithin(call(controller.signal), 3000);
            expect(error, name).toBe(reason);
            expect(tookMs, name).toBeLessThan(1200);
          }
        } finally {
          fixture.resume();
        }
      });
    }, 20_000);

    it.skipIf(options.operationDeadlineMs === undefined)(
      "R3: a silent backend fails changes and fetch as transient within the operation deadline; the next call works",
      async (context) => {
        await withFixture(setup, async (fixture) => {
          if (!fixture.stall || !fixture.resume) {
            context.skip();
            return;
          }
          const deadline = options.operationDeadlineMs!;
          const { providerId } = await oneListedMessage(fixture);
          fixture.stall();
          try {
            for (const [name, call] of [
              ["changes", () => collect(fixture.provider.changes(undefined))],
              ["fetch", () => collect(fixture.provider.fetch([providerId]))],
            ] as const) {
              const { error, tookMs } = await rejectionWithin(call(), deadline + 3000);
              expect(ClientMailError.hasCode(error, "transient"), `${name}: ${String(error)}`).toBe(true);
              expect((error as ClientMailError).retryable, name).toBe(true);
              expect(tookMs, name).toBeLessThan(deadline + 1500);
            }
          } finally {
            fixture.resume();
          }
          const [message] = await fetchedMessages(fixture.provider.fetch([providerId]));
          expect(message?.envelope.providerId).toBe(providerId);
        });
      },
      30_000,
    );

    it("close is idempotent", async () => {
      await withFixture(setup, async (fixture) => {
        await fixture.provider.close();
        await expect(fixture.provider.close()).resolves.toBeUndefined();
      });
    });
  });
}
