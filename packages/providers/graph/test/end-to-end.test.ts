/**
 * End to end on Graph: the sync engine and the memory store over the Graph provider and fake.
 * Proves privacy (F1: nothing of personal mail is fetched), resync without duplicates (Y6),
 * throttling survived (Y7), deletions mirrored (F8) and targeted backfill (Y5).
 */
import { describe, expect, it } from "vitest";
import { MailboxSync } from "@clientmail/core/internal";
import { silentLogger } from "@clientmail/core/ports";
import { createMemoryStore } from "@clientmail/memory";
import { createGraphFake, graphFaults, seedOneMailboxFirm } from "@clientmail/testkit";
import { createGraphProvider } from "../src/index.js";
import { manualClock, uniqueAddress } from "./harness.js";

async function makeFirm() {
  const clock = manualClock();
  const store = createMemoryStore({ clock });
  const annAddress = uniqueAddress("ann").replace("firm.example", "ledger.example");
  const { firm, box, family, samLink } = await seedOneMailboxFirm({
    store,
    clock,
    provider: "graph",
    address: annAddress,
  });

  const fake = createGraphFake({ clock });
  const mailbox = fake.addMailbox(annAddress);
  const token = fake.accessTokenFor(annAddress);
  const sleeps: number[] = [];
  const provider = createGraphProvider({
    mailbox: annAddress,
    getAccessToken: async () => token,
    fetch: fake.fetch,
    clock,
    pageSize: 2,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
    random: () => 1,
  });
  const sync = new MailboxSync(
    { store, clock, logger: silentLogger, random: () => 0.5, sleep: async () => undefined },
    { firmId: firm.id, mailboxId: box.id, provider, holder: "graph-e2e" },
  );
  const filed = async () => {
    const threads = await store.listAccountThreads(firm.id, family.id, { view: "inbox", limit: 1000 });
    return threads.flatMap((t) => t.messages.map((m) => m.subject)).sort();
  };
  return {
    store,
    clock,
    firm,
    fake,
    mailbox,
    provider,
    sync,
    filed,
    sleeps,
    annAddress,
    samLink,
    family,
  };
}

describe("graph end to end", () => {
  it("F1: personal and internal mail is never fetched nor stored; client mail is filed with its content", async () => {
    const f = await makeFirm();
    const client = f.mailbox.addMessage({
      from: { name: "Jo Jordan", address: "Jo@Home.example" },
      to: [f.annAddress],
      subject: "Receipts 2025",
      text: "Here they are",
    });
    const reply = f.mailbox.addMessage({
      folder: "sentitems",
      from: f.annAddress,
      to: ["jo@home.example"],
      bcc: ["archive@ledger.example"],
      subject: "Re: Receipts 2025",
      inReplyTo: f.mailbox.message(client)!.internetMessageId!,
      text: "Thanks",
    });
    const personal = [
      f.mailbox.addMessage({
        from: "news@shop.example",
        to: [f.annAddress],
        subject: "Sale 50%",
        text: "private offer",
      }),
      f.mailbox.addMessage({
        from: "bob@ledger.example",
        to: [f.annAddress],
        subject: "Lunch?",
        text: "noon",
      }),
      f.mailbox.addMessage({
        from: "sam@home.example",
        to: [f.annAddress],
        subject: "Party",
        text: "sync is off for Sam",
      }),
    ];
    const result = await f.sync.syncOnce();
    expect(result).toMatchObject({ ran: true, examined: 5, filed: 2 });
    expect(await f.filed()).toEqual(["Re: Receipts 2025", "Receipts 2025"]);

    // Content was requested for the filed messages only.
    const contentRequests = f.fake.requests.filter(
      (r) => r.operation === "getMime" || (r.inBatch && r.operation === "getMessage"),
    );
    const touched = new Set(
      contentRequests.map((r) => decodeURIComponent(new URL(r.url).pathname.split("/")[4] ?? "")),
    );
    expect([...touched].sort()).toEqual([client, reply].sort());
    for (const id of personal) expect(touched.has(id)).toBe(false);

    // One thread: the reply joined the client's message (H1 through In-Reply-To from the MIME of Sent Items).
    const threads = await f.store.listAccountThreads(f.firm.id, f.family.id, { view: "inbox", limit: 10 });
    expect(threads).toHaveLength(1);
  });

  it("Y6: an expired delta token leads to a full resync without duplicates", async () => {
    const f = await makeFirm();
    f.mailbox.addMessage({ from: "jo@home.example", to: [f.annAddress], subject: "One" });
    await f.sync.syncOnce();
    f.mailbox.expireDeltaTokens();
    f.mailbox.addMessage({ from: "jo@home.example", to: [f.annAddress], subject: "Two" });
    const result = await f.sync.syncOnce();
    expect(result.resynced).toBe(true);
    expect(await f.filed()).toEqual(["One", "Two"]);
    const again = await f.sync.syncOnce();
    expect(again).toMatchObject({ resynced: false, filed: 0 });
    expect(await f.filed()).toEqual(["One", "Two"]);
  });

  it("Y7: a storm of 429s (with and without Retry-After) and 503s is ridden out", async () => {
    const f = await makeFirm();
    for (let i = 0; i < 5; i++)
      f.mailbox.addMessage({ from: "jo@home.example", to: [f.annAddress], subject: `Doc ${i}` });
    f.fake.failNext(2, "delta", graphFaults.applicationThrottled());
    f.fake.failNext(1, "delta", graphFaults.tooManyRequests(4));
    f.fake.failNext(2, "getMessage", graphFaults.tooManyRequests(2));
    f.fake.failNext(1, "getMime", graphFaults.serviceUnavailable());
    const result = await f.sync.syncOnce();
    expect(result.filed).toBe(5);
    expect(await f.filed()).toHaveLength(5);
    expect(f.sleeps).toEqual([1000, 2000, 4000, 2000, 1000]);
  });

  it("F8: a message deleted in Outlook disappears from the firm's view (mirror)", async () => {
    const f = await makeFirm();
    const keep = f.mailbox.addMessage({ from: "jo@home.example", to: [f.annAddress], subject: "Keep" });
    const gone = f.mailbox.addMessage({ from: "jo@home.example", to: [f.annAddress], subject: "Gone" });
    await f.sync.syncOnce();
    f.mailbox.deleteMessage(gone);
    const result = await f.sync.syncOnce();
    expect(result.removed).toBe(1);
    expect(await f.filed()).toEqual(["Keep"]);
    expect(keep).toBeDefined();
  });

  it("Y5: turning email sync on for an address backfills its history with $search", async () => {
    const f = await makeFirm();
    f.mailbox.addMessage({ from: "sam@home.example", to: [f.annAddress], subject: "Old party" });
    f.mailbox.addMessage({ from: "news@shop.example", to: [f.annAddress], subject: "Sale" });
    await f.sync.syncOnce();
    expect(await f.filed()).toEqual([]);
    await f.store.updateLink(f.firm.id, f.samLink.id, { emailSync: true });
    const outcome = await f.sync.backfillAddresses(["sam@home.example"]);
    expect(outcome).toEqual({ examined: 1, filed: 1 });
    expect(await f.filed()).toEqual(["Old party"]);
    expect(f.fake.requests.some((r) => r.operation === "listMessages" && r.url.includes("$search="))).toBe(
      true,
    );
  });
});
