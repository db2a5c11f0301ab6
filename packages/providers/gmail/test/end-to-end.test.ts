/**
 * End to end on Gmail: the sync engine and the memory store over the Gmail provider and fake.
 * Proves privacy (F1: nothing of personal mail is fetched), resync without duplicates after an
 * expired history id (Y6), rate-limit storms survived (Y7), revoked grants stopping the mailbox
 * (N2), deletions mirrored (F8) and targeted backfill with `q` (Y5).
 */
import { describe, expect, it } from "vitest";
import { MailboxSync } from "@clientmail/core/internal";
import { silentLogger } from "@clientmail/core/ports";
import { createMemoryStore } from "@clientmail/memory";
import {
  buildRawMessage,
  createGmailFake,
  type RawMessageInput,
  seedOneMailboxFirm,
} from "@clientmail/testkit";
import { createGmailProvider } from "../src/index.js";
import { virtualTime } from "./harness.js";

const annAddress = "ann@ledger.example";

async function makeFirm() {
  const time = virtualTime();
  const clock = time.clock;
  const store = createMemoryStore({ clock });
  const { firm, ann, box, family, samLink } = await seedOneMailboxFirm({
    store,
    clock,
    provider: "gmail",
    address: annAddress,
  });

  const fake = createGmailFake({ clock });
  const mailbox = fake.addUser(annAddress);
  const provider = createGmailProvider({
    credentials: { ...fake.oauthClient, refreshToken: fake.refreshTokenOf(annAddress)! },
    emailAddress: annAddress,
    fetch: fake.fetch,
    clock,
    sleep: time.sleep,
    pageSize: 2,
  });
  const sync = new MailboxSync(
    { store, clock, logger: silentLogger, random: () => 0.5, sleep: async (ms) => time.advance(ms) },
    { firmId: firm.id, mailboxId: box.id, provider, holder: "gmail-e2e" },
  );
  const filed = async () => {
    const threads = await store.listAccountThreads(firm.id, family.id, { view: "inbox", limit: 1000 });
    return threads.flatMap((thread) => thread.messages.map((message) => message.subject)).sort();
  };
  const add = (input: Partial<RawMessageInput>, labelIds?: string[]) =>
    mailbox.addMessage({
      raw: buildRawMessage({ from: "jo@home.example", to: annAddress, subject: "", ...input }),
      ...(labelIds ? { labelIds } : {}),
    });
  /** Ids whose content (format=raw or full) was requested. */
  const contentFetched = () =>
    new Set(
      fake.calls
        .filter((call) => call.method === "users.messages.get" && !/format=(metadata|minimal)/.test(call.url))
        .map((call) => /\/messages\/([0-9a-f]+)/.exec(call.url)![1]!),
    );
  return {
    store,
    time,
    firm,
    fake,
    mailbox,
    provider,
    sync,
    filed,
    add,
    samLink,
    family,
    box,
    ann,
    contentFetched,
  };
}

describe("gmail end to end", () => {
  it("F1: personal and internal mail is never fetched nor stored; client mail is filed with its content", async () => {
    const f = await makeFirm();
    const client = f.add({
      from: "Jo Jordan <Jo@Home.example>",
      subject: "Receipts 2025",
      messageId: "<r1@home.example>",
      text: "Here they are",
    });
    const reply = f.add(
      {
        from: annAddress,
        to: "jo@home.example",
        bcc: "archive@ledger.example",
        subject: "Re: Receipts 2025",
        inReplyTo: "<r1@home.example>",
        references: ["<r1@home.example>"],
        text: "Thanks",
      },
      ["SENT"],
    );
    const personal = [
      f.add({ from: "news@shop.example", subject: "Sale 50%", text: "private offer" }),
      f.add({ from: "bob@ledger.example", subject: "Lunch?", text: "noon" }),
      f.add({ from: "sam@home.example", subject: "Party", text: "sync is off for Sam" }),
    ];
    const result = await f.sync.syncOnce();
    expect(result).toMatchObject({ ran: true, examined: 5, filed: 2 });
    expect(await f.filed()).toEqual(["Re: Receipts 2025", "Receipts 2025"]);
    // Content (format=raw) was requested for the filed messages only; the rest were read as metadata.
    expect([...f.contentFetched()].sort()).toEqual([client.id, reply.id].sort());
    expect(f.fake.calls.filter((call) => call.method === "users.messages.get")).toHaveLength(5 + 2);
    const stored = JSON.stringify(
      await f.store.listAccountThreads(f.firm.id, f.family.id, { view: "inbox", limit: 100 }),
    );
    for (const text of ["private offer", "noon", "sync is off for Sam", "Sale 50%", "Lunch?", "Party"])
      expect(stored).not.toContain(text);
    for (const message of personal) expect(stored).not.toContain(message.id);
    expect(stored).toContain("Here they are");
    const threads = await f.store.listAccountThreads(f.firm.id, f.family.id, { view: "inbox", limit: 10 });
    expect(threads).toHaveLength(1);
  });

  it("Y6: an expired history id leads to a full resync without duplicates", async () => {
    const f = await makeFirm();
    f.add({ subject: "One" });
    await f.sync.syncOnce();
    f.mailbox.expireHistory();
    f.add({ subject: "Two" });
    const result = await f.sync.syncOnce();
    expect(result.resynced).toBe(true);
    expect(await f.filed()).toEqual(["One", "Two"]);
    const again = await f.sync.syncOnce();
    expect(again).toMatchObject({ resynced: false, filed: 0 });
    expect(await f.filed()).toEqual(["One", "Two"]);
  });

  it("Y7: a storm of 429s, quota 403s and 503s is ridden out", async () => {
    const f = await makeFirm();
    for (let i = 0; i < 5; i++) f.add({ subject: `Doc ${i}` });
    f.fake.failNext("users.getProfile", 1, "resourceExhausted");
    f.fake.failNext("users.messages.list", 2, "quotaExceededQueriesPerUser");
    f.fake.failNext("users.messages.get", 2, "tooManyConcurrentRequests");
    f.fake.failNext("users.messages.get", 1, "serviceUnavailable");
    const result = await f.sync.syncOnce();
    expect(result.filed).toBe(5);
    expect(await f.filed()).toHaveLength(5);
    expect(f.provider.stats().retries).toBeGreaterThanOrEqual(4);
  });

  it("N2: a revoked grant (invalid_grant) stops the mailbox as auth_revoked and notifies once", async () => {
    const f = await makeFirm();
    f.add({ subject: "One" });
    await f.sync.syncOnce();
    f.fake.revokeUser(annAddress);
    f.fake.expireAccessTokens();
    expect(await f.sync.passWithRetry()).toBe("stopped");
    const mailbox = await f.store.getMailbox(f.firm.id, f.box.id);
    expect(mailbox?.state).toMatchObject({ status: "stopped", reason: "auth_revoked" });
    expect(f.fake.callCount("token")).toBe(2);
    const notices = await f.store.listNotifications(f.firm.id, f.ann.id, f.time.clock.now());
    expect(notices.filter((notice) => notice.kind === "sync_stopped")).toHaveLength(1);
  });

  it("F8: a message deleted in Gmail disappears from the firm's view (mirror)", async () => {
    const f = await makeFirm();
    f.add({ subject: "Keep" });
    const gone = f.add({ subject: "Gone" });
    await f.sync.syncOnce();
    f.mailbox.deleteMessage(gone.id);
    const result = await f.sync.syncOnce();
    expect(result.removed).toBe(1);
    expect(await f.filed()).toEqual(["Keep"]);
  });

  it("Y5: turning email sync on for an address backfills its history with a q search", async () => {
    const f = await makeFirm();
    f.add({ from: "sam@home.example", subject: "Old party" });
    f.add({ from: "news@shop.example", subject: "Sale" });
    await f.sync.syncOnce();
    expect(await f.filed()).toEqual([]);
    await f.store.updateLink(f.firm.id, f.samLink.id, { emailSync: true });
    f.fake.resetUsage();
    const outcome = await f.sync.backfillAddresses(["sam@home.example"]);
    expect(outcome).toEqual({ examined: 1, filed: 1 });
    expect(await f.filed()).toEqual(["Old party"]);
    // One q search; for the one filed message, its headers (search) and its source (fetch, R7:
    // read in batches bounded by the size the search learnt).
    const search = f.fake.calls.find((call) => call.method === "users.messages.list")!;
    expect(new URL(search.url, "https://gmail.googleapis.com").searchParams.get("q")).toContain(
      "from:sam@home.example",
    );
    expect(f.fake.callCount("users.messages.list")).toBe(1);
    expect(f.fake.callCount("users.messages.get")).toBe(2);
  });
});
