import { ClientMailError, type ValidationError } from "@clientmail/core";
import { describe, expect, it } from "vitest";
import { collect, connect, raw } from "./harness.js";

describe("Gmail provider: changes", () => {
  it("Y2: a full listing returns metadata envelopes of every synced message and ends on a history cursor", async () => {
    const { provider, mailbox, fake } = connect({ provider: { pageSize: 2 } });
    const inbound = mailbox.addMessage({
      raw: raw({
        from: "CFO <CFO@Acme.com>",
        cc: "board@acme.com",
        messageId: "<q3@acme.com>",
        references: ["<q2@acme.com>"],
        inReplyTo: "<q2@acme.com>",
      }),
    });
    const sent = mailbox.addMessage({
      raw: raw({ from: "ann@firm.com", to: "cfo@acme.com", bcc: "audit@acme.com" }),
      labelIds: ["SENT"],
    });
    mailbox.addMessage({ raw: raw() });
    mailbox.addMessage({ raw: raw({ subject: "spam" }), labelIds: ["SPAM"] });
    const pages = await collect(provider.changes(undefined));
    expect(pages.map((page) => page.done)).toEqual([false, true]);
    expect(pages[0]!.cursor).toMatch(/^l:\d+:/);
    expect(pages[1]!.cursor).toBe(`h:${mailbox.historyId}`);
    const envelopes = pages.flatMap((page) => page.added);
    expect(envelopes).toHaveLength(3);
    const first = envelopes.find((envelope) => envelope.providerId === inbound.id)!;
    expect(first).toMatchObject({
      providerThreadId: inbound.threadId,
      messageId: "<q3@acme.com>",
      inReplyTo: ["<q2@acme.com>"],
      references: ["<q2@acme.com>"],
      from: [{ name: "CFO", address: "cfo@acme.com" }],
      cc: [{ address: "board@acme.com" }],
      folder: "INBOX",
      subject: "Q3 figures",
    });
    expect(envelopes.find((envelope) => envelope.providerId === sent.id)).toMatchObject({
      folder: "SENT",
      bcc: [{ address: "audit@acme.com" }],
    });
    // Metadata first: no raw or full format was requested.
    expect(fake.calls.filter((call) => call.method === "users.messages.get")).toHaveLength(3);
  });

  it("Y6: a listing resumes from a mid-listing cursor without repeating pages", async () => {
    const { provider, mailbox } = connect({ provider: { pageSize: 2 } });
    for (let n = 0; n < 5; n += 1)
      mailbox.addMessage({ raw: raw({ date: new Date(Date.UTC(2026, 0, 1 + n)) }) });
    const iterator = provider.changes(undefined)[Symbol.asyncIterator]();
    const first = (await iterator.next()).value as { cursor: string; added: { providerId: string }[] };
    await iterator.return?.();
    const rest = await collect(provider.changes(first.cursor));
    const ids = [...first.added, ...rest.flatMap((page) => page.added)].map(
      (envelope) => envelope.providerId,
    );
    expect(ids).toHaveLength(5);
    expect(new Set(ids).size).toBe(5);
  });

  it("Y6: incremental changes report added, relabelled and deleted messages and advance the cursor", async () => {
    const { provider, mailbox } = connect();
    const keep = mailbox.addMessage({ raw: raw() });
    const drop = mailbox.addMessage({ raw: raw() });
    const listing = await collect(provider.changes(undefined));
    const cursor = listing.at(-1)!.cursor;
    const fresh = mailbox.addMessage({ raw: raw({ subject: "new" }) });
    mailbox.modifyLabels(keep.id, ["STARRED"], ["UNREAD"]);
    mailbox.deleteMessage(drop.id);
    const short = mailbox.addMessage({ raw: raw() });
    mailbox.deleteMessage(short.id);
    const trashed = mailbox.addMessage({ raw: raw() });
    mailbox.modifyLabels(trashed.id, ["TRASH"], ["INBOX"]);
    const pages = await collect(provider.changes(cursor));
    expect(pages).toHaveLength(1);
    const page = pages[0]!;
    expect(page.done).toBe(true);
    expect(page.added.map((envelope) => envelope.providerId).sort()).toEqual([fresh.id, keep.id].sort());
    expect(page.added.find((envelope) => envelope.providerId === keep.id)!.flags).toEqual(
      expect.arrayContaining(["\\Seen", "\\Flagged"]),
    );
    expect(page.removed.sort()).toEqual([drop.id, short.id, trashed.id].sort());
    expect(page.cursor).toBe(`h:${mailbox.historyId}`);
    expect(await collect(provider.changes(page.cursor))).toEqual([
      { added: [], removed: [], cursor: page.cursor, done: true },
    ]);
  });

  it("Y6: a {historyId}-only answer yields one empty done page; empty pages with a nextPageToken are followed", async () => {
    const { provider, mailbox } = connect({ fake: { emptyHistoryPages: 3 }, provider: { pageSize: 1 } });
    const cursor = `h:${mailbox.historyId}`;
    expect(await collect(provider.changes(cursor))).toEqual([{ added: [], removed: [], cursor, done: true }]);
    const a = mailbox.addMessage({ raw: raw() });
    const b = mailbox.addMessage({ raw: raw() });
    const pages = await collect(provider.changes(cursor));
    expect(pages.flatMap((page) => page.added.map((envelope) => envelope.providerId))).toEqual([a.id, b.id]);
    expect(pages.at(-1)!.done).toBe(true);
    expect(pages.at(-1)!.cursor).toBe(`h:${mailbox.historyId}`);
    // A mid-pass cursor resumes after the page that carried it.
    const resumed = await collect(provider.changes(pages[0]!.cursor));
    expect(resumed.flatMap((page) => page.added.map((envelope) => envelope.providerId))).toEqual([b.id]);
  });

  it("Y6: history 404 notFound leads to cursor_expired and a full listing", async () => {
    const { provider, mailbox } = connect();
    const old = mailbox.addMessage({ raw: raw() });
    const cursor = (await collect(provider.changes(undefined))).at(-1)!.cursor;
    const later = mailbox.addMessage({ raw: raw() });
    mailbox.expireHistory();
    const error = await collect(provider.changes(cursor)).catch((caught: unknown) => caught);
    expect(ClientMailError.hasCode(error, "cursor_expired")).toBe(true);
    expect((error as ClientMailError).retryable).toBe(false);
    const relisted = await collect(provider.changes(undefined));
    expect(relisted.flatMap((page) => page.added.map((envelope) => envelope.providerId)).sort()).toEqual(
      [old.id, later.id].sort(),
    );
    expect(relisted.at(-1)!.cursor).toBe(`h:${mailbox.historyId}`);
  });

  it("Y6: invalidStartHistoryId (400) also leads to cursor_expired; so does a foreign cursor, caused by its validation error", async () => {
    const { provider, fake, mailbox } = connect();
    fake.failNext("users.history.list", 1, "invalidStartHistoryId");
    const error = await collect(provider.changes(`h:${mailbox.historyId}`)).catch(
      (caught: unknown) => caught,
    );
    expect(ClientMailError.hasCode(error, "cursor_expired")).toBe(true);
    const invalid = await collect(provider.changes("delta:xyz")).catch((caught: unknown) => caught);
    expect(ClientMailError.hasCode(invalid, "cursor_expired")).toBe(true);
    const cause = (invalid as Error).cause;
    expect(ClientMailError.hasCode(cause, "validation_failed")).toBe(true);
    expect((cause as ValidationError).issues).toMatchObject([{ field: "cursor", value: "delta:xyz" }]);
  });

  it("Y6: notFound on messages.get for a message purged after its history record reports it as removed", async () => {
    const { provider, mailbox, fake } = connect();
    const cursor = `h:${mailbox.historyId}`;
    const purged = mailbox.addMessage({ raw: raw() });
    const kept = mailbox.addMessage({ raw: raw() });
    fake.failNext("users.messages.get", 1, "notFound");
    const [page] = await collect(provider.changes(cursor));
    expect(page!.added.map((envelope) => envelope.providerId)).toEqual([kept.id]);
    expect(page!.removed).toEqual([purged.id]);
  });
});
