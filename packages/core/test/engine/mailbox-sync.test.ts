import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { MemoryMessageInput } from "@clientmail/testkit";
import { ClientMailError } from "../../src/index.js";
import {
  MailboxSync,
  readMessageSource,
  saveAttachmentsHandler,
  saveAttachmentsJob,
} from "../../src/internal.js";
import { silentLogger } from "../../src/ports/index.js";
import { at, makeFirm, minutes, type Firm } from "./firm-fixture.js";

async function allFiled(f: Firm) {
  const seen = new Map<string, { subject: string; accounts: string[] }>();
  for (const account of Object.values(f.accounts)) {
    for (const thread of await f.store.listAccountThreads(f.firm.id, account.id, {
      view: "inbox",
      limit: 1000,
    })) {
      for (const message of thread.messages) {
        const entry = seen.get(message.id) ?? { subject: message.subject, accounts: [] };
        entry.accounts.push(account.name);
        seen.set(message.id, entry);
      }
    }
  }
  return [...seen.values()]
    .map((e) => ({ ...e, accounts: e.accounts.sort() }))
    .sort((a, b) => a.subject.localeCompare(b.subject));
}

function clientMail(f: Firm, mailboxId: string, overrides: Partial<MemoryMessageInput> = {}) {
  return f.box(mailboxId).append({
    from: [at("jo@home.example", "Jo Jordan")],
    to: [at("ann@ledger.example")],
    subject: "Receipts for 2025",
    messageId: "<r1@home.example>",
    date: minutes(0),
    text: "Here are the receipts.",
    ...overrides,
  });
}

describe("mailbox sync engine", () => {
  it("F1: personal and internal mail is never fetched nor stored; client mail is", async () => {
    const f = await makeFirm();
    const box = f.box(f.boxes.ann.id);
    const client = clientMail(f, f.boxes.ann.id);
    box.append({
      from: [at("news@shop.example")],
      to: [at("ann@ledger.example")],
      subject: "Sale",
      messageId: "<sale@shop>",
      date: minutes(1),
      text: "50% off",
    });
    box.append({
      from: [at("bob@ledger.example")],
      to: [at("ann@ledger.example")],
      subject: "Lunch",
      messageId: "<lunch@ledger>",
      date: minutes(2),
      text: "Noon?",
    });
    box.append({
      from: [at("sam@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Party",
      messageId: "<party@home>",
      date: minutes(3),
      text: "Sync is off for Sam",
    });
    const result = await f.sync(f.boxes.ann.id).syncOnce();
    expect(result).toMatchObject({ ran: true, examined: 4, filed: 1 });
    expect(box.fetched).toEqual([client]);
    expect(await allFiled(f)).toEqual([
      { subject: "Receipts for 2025", accounts: ["Jordan family", "Jordan's Bakery"] },
    ]);
  });

  it("F2: the firm's own addresses never match a client, even one with a sync-on link", async () => {
    const f = await makeFirm();
    const joAccount = f.accounts.family.id;
    // A team member's address (on a domain the firm did not declare) linked as a client by mistake.
    await f.store.createLink(f.firm.id, {
      accountId: joAccount,
      contactId: f.contacts.jo.id,
      email: "carl@ledger-partners.net",
      login: false,
      notify: true,
      emailSync: true,
      signatory: false,
      notifyPreferences: f.links.joFamily.notifyPreferences,
    });
    f.box(f.boxes.ann.id).append({
      from: [at("carl@ledger-partners.net")],
      to: [at("ann@ledger.example")],
      subject: "Internal",
      messageId: "<int@ledger>",
      date: minutes(1),
      text: "x",
    });
    await f.sync(f.boxes.ann.id).syncOnce();
    expect(await allFiled(f)).toEqual([]);
    expect(f.box(f.boxes.ann.id).fetched).toEqual([]);
  });

  it("F3: mail among team members only is never filed, however widely it was cc'd", async () => {
    const f = await makeFirm();
    const box = f.box(f.boxes.support.id);
    box.append({
      from: [at("ann@ledger.example")],
      to: [at("support@ledger.example")],
      cc: [at("bob@ledger.example"), at("carl@ledger-partners.net"), at("anyone@ledger.example")],
      subject: "Rota",
      messageId: "<rota@ledger>",
      date: minutes(1),
      text: "x",
    });
    const result = await f.sync(f.boxes.support.id).syncOnce();
    expect(result).toMatchObject({ examined: 1, filed: 0 });
    expect(box.fetched).toEqual([]);
  });

  it("H2: replies and forwards in other languages, without header links, join their thread by subject", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    clientMail(f, box, { messageId: "<h2a@home>", subject: "Steuererklärung 2025" });
    clientMail(f, box, {
      messageId: "<h2b@home>",
      subject: "AW: WG: Steuererklärung 2025",
      date: minutes(60),
    });
    clientMail(f, box, {
      messageId: "<h2c@home>",
      subject: "[EXTERNAL] Odp: Steuererklärung 2025",
      date: minutes(120),
    });
    await f.sync(box).syncOnce();
    const threads = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });
    expect(threads.map((t) => t.messages.length)).toEqual([3]);
  });

  it("H4: a thread shows under every account of its messages; a mute silences it for that member only", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    clientMail(f, box, { messageId: "<t1@home>", subject: "Shared" });
    f.box(box).append({
      from: [at("petra@acme.example")],
      to: [at("ann@ledger.example")],
      subject: "Re: Shared",
      messageId: "<t2@acme>",
      references: ["<t1@home>"],
      date: minutes(5),
      text: "y",
    });
    await f.sync(box).syncOnce();
    for (const account of [f.accounts.family, f.accounts.bakery, f.accounts.acme]) {
      const threads = await f.store.listAccountThreads(f.firm.id, account.id, { view: "inbox" });
      expect(
        threads.map((t) => t.messages.length),
        account.name,
      ).toEqual([2]);
    }
    const threadId = (await f.store.listAccountThreads(f.firm.id, f.accounts.acme.id, { view: "inbox" }))[0]!
      .threadId;
    await f.store.setThreadMuted(f.firm.id, threadId, f.members.carl.id, true);
    f.box(box).append({
      from: [at("petra@acme.example")],
      to: [at("ann@ledger.example")],
      subject: "Re: Shared",
      messageId: "<t3@acme>",
      references: ["<t1@home>", "<t2@acme>"],
      date: minutes(9),
      text: "z",
    });
    await f.sync(box).syncOnce();
    const carl = await f.store.listNotifications(f.firm.id, f.members.carl.id, f.clock.now());
    const ann = await f.store.listNotifications(f.firm.id, f.members.ann.id, f.clock.now());
    expect(carl).toHaveLength(2);
    expect(ann).toHaveLength(3);
  });

  it("Y3: the mailbox's auto-save setting decides whether the engine saves attachments", async () => {
    const f = await makeFirm();
    const file = {
      filename: "a.pdf",
      contentType: "application/pdf",
      content: new TextEncoder().encode("%PDF y3"),
    };
    await f.store.updateMailboxSettings(f.firm.id, f.boxes.ann.id, { autoSaveAttachments: false });
    clientMail(f, f.boxes.ann.id, { attachments: [file] });
    await f.sync(f.boxes.ann.id).syncOnce();
    await f.drain();
    expect(f.sink.saved).toEqual([]);
    await f.store.updateMailboxSettings(f.firm.id, f.boxes.ann.id, { autoSaveAttachments: true });
    clientMail(f, f.boxes.ann.id, {
      messageId: "<later@home>",
      date: minutes(3),
      attachments: [{ ...file, content: new TextEncoder().encode("%PDF y3 later") }],
    });
    await f.sync(f.boxes.ann.id).syncOnce();
    await f.drain();
    expect(f.sink.saved).toHaveLength(2);
  });

  it("F4: a contact linked to two accounts sees the message in both; H4: the thread shows under both", async () => {
    const f = await makeFirm();
    clientMail(f, f.boxes.ann.id, { cc: [at("petra@acme.example")] });
    await f.sync(f.boxes.ann.id).syncOnce();
    const filed = await allFiled(f);
    expect(filed).toEqual([
      { subject: "Receipts for 2025", accounts: ["Acme Tools", "Jordan family", "Jordan's Bakery"] },
    ]);
  });

  it("F5: one message seen through several mailboxes is stored once, fetched once, and keeps every sighting", async () => {
    const f = await makeFirm();
    const inAnn = clientMail(f, f.boxes.ann.id, {
      to: [at("ann@ledger.example"), at("support@ledger.example")],
    });
    const inSupport = clientMail(f, f.boxes.support.id, {
      to: [at("ann@ledger.example"), at("support@ledger.example")],
    });
    await f.sync(f.boxes.ann.id).syncOnce();
    await f.sync(f.boxes.support.id).syncOnce();
    expect(f.box(f.boxes.support.id).fetched).toEqual([]);
    const threads = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });
    expect(threads).toHaveLength(1);
    const message = threads[0]!.messages[0]!;
    expect(threads[0]!.messages).toHaveLength(1);
    expect(message.sightings.map((s) => [s.mailboxId, s.providerId]).sort()).toEqual(
      [
        [f.boxes.ann.id, inAnn],
        [f.boxes.support.id, inSupport],
      ].sort(),
    );
  });

  it("F6: mail sent by a team member is outbound; mail from a client inbound", async () => {
    const f = await makeFirm();
    clientMail(f, f.boxes.ann.id);
    f.box(f.boxes.ann.id).append({
      from: [at("ann@ledger.example")],
      to: [at("jo@home.example")],
      subject: "Re: Receipts for 2025",
      messageId: "<r2@ledger>",
      inReplyTo: ["<r1@home.example>"],
      references: ["<r1@home.example>"],
      date: minutes(5),
      text: "Thanks",
    });
    await f.sync(f.boxes.ann.id).syncOnce();
    const [thread] = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });
    expect(thread!.messages.map((m) => m.direction)).toEqual(["inbound", "outbound"]);
    const sent = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "sent" });
    expect(sent).toHaveLength(1);
  });

  it("H1: a reply that arrives before its parent lands in the same thread (H3)", async () => {
    const f = await makeFirm();
    f.box(f.boxes.ann.id).append({
      from: [at("ann@ledger.example")],
      to: [at("jo@home.example")],
      subject: "RE: Receipts",
      messageId: "<r2@ledger>",
      inReplyTo: ["<r1@home.example>"],
      references: ["<r1@home.example>"],
      date: minutes(5),
      text: "Thanks",
    });
    await f.sync(f.boxes.ann.id).syncOnce();
    clientMail(f, f.boxes.bob.id, { to: [at("bob@ledger.example")] });
    await f.sync(f.boxes.bob.id).syncOnce();
    const threads = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });
    expect(threads).toHaveLength(1);
    expect(threads[0]!.messages.map((m) => m.messageId)).toEqual(["r1@home.example", "r2@ledger"]);
  });

  it("H3: a late message that references two threads merges them", async () => {
    const f = await makeFirm();
    const merges: unknown[] = [];
    f.events.on("thread.merged", (event) => merges.push(event));
    const box = f.boxes.ann.id;
    clientMail(f, box, { messageId: "<a@home>", subject: "Invoice" });
    clientMail(f, box, {
      messageId: "<b@home>",
      subject: "Payroll",
      references: ["<x@elsewhere>"],
      date: minutes(2),
    });
    await f.sync(box).syncOnce();
    expect(await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" })).toHaveLength(
      2,
    );
    clientMail(f, box, {
      messageId: "<c@home>",
      subject: "Both",
      references: ["<a@home>", "<b@home>"],
      date: minutes(3),
    });
    await f.sync(box).syncOnce();
    const threads = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });
    expect(threads).toHaveLength(1);
    expect(threads[0]!.messages).toHaveLength(3);
    expect(merges).toHaveLength(1);
  });

  it("H3: a merge inside one page carries the page's earlier messages along", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    clientMail(f, box, { messageId: "<p@home>", subject: "One" });
    clientMail(f, box, {
      messageId: "<q@home>",
      subject: "Two",
      references: ["<other@x>"],
      date: minutes(1),
    });
    clientMail(f, box, {
      messageId: "<r@home>",
      subject: "Three",
      references: ["<p@home>", "<q@home>"],
      date: minutes(2),
    });
    await f.sync(box).syncOnce();
    const threads = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });
    expect(threads.map((t) => t.messages.length)).toEqual([3]);
  });

  it("H1: without header links, the subject and a shared client thread messages within 30 days", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    clientMail(f, box, { messageId: "<s1@home>", subject: "Quarterly VAT" });
    clientMail(f, box, { messageId: "<s2@home>", subject: "Re: Quarterly VAT", date: minutes(60 * 24 * 3) });
    clientMail(f, box, { messageId: "<s3@home>", subject: "Re: Quarterly VAT", date: minutes(60 * 24 * 90) });
    await f.sync(box).syncOnce();
    const threads = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });
    expect(threads.map((t) => t.messages.length).sort()).toEqual([1, 2]);
  });

  it("Y2: after the backfill, new changes are followed incrementally", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    clientMail(f, box);
    const sync = f.sync(box);
    await sync.syncOnce();
    const progress: number[] = [];
    f.events.on("sync.progress", (event) => progress.push(event.done));
    clientMail(f, box, { messageId: "<r9@home.example>", subject: "More receipts", date: minutes(30) });
    const second = await sync.syncOnce();
    expect(second).toMatchObject({ examined: 1, filed: 1 });
    expect(progress).toEqual([]);
    expect((await allFiled(f)).map((m) => m.subject)).toEqual(["More receipts", "Receipts for 2025"]);
    expect((await f.store.getMailbox(f.firm.id, box))!.state).toEqual({ status: "live" });
  });

  it("Y6: an expired cursor leads to a full resync without duplicates or losses", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    for (let i = 0; i < 5; i++)
      clientMail(f, box, { messageId: `<m${i}@home>`, subject: `Topic ${i}`, date: minutes(i) });
    const sync = f.sync(box);
    await sync.syncOnce();
    const before = await allFiled(f);
    clientMail(f, box, { messageId: "<late@home>", subject: "Topic late", date: minutes(50) });
    f.box(box).expireCursors();
    const resyncs: unknown[] = [];
    f.events.on("sync.resync", (e) => resyncs.push(e));
    const result = await sync.syncOnce();
    expect(result.resynced).toBe(true);
    expect(resyncs).toHaveLength(1);
    const after = await allFiled(f);
    expect(after).toHaveLength(before.length + 1);
    expect(new Set(after.map((m) => m.subject)).size).toBe(after.length);
  });

  it("Y6: a cursor the provider cannot read is treated as expired: a full resync, no duplicates", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    clientMail(f, box);
    await f.sync(box).syncOnce();
    const token = await f.store.acquireLease(f.firm.id, box, "operator", 1000);
    await f.store.setCursor(f.firm.id, box, token!, "garbage-from-an-old-version");
    await f.store.releaseLease(f.firm.id, box, token!);
    const result = await f.sync(box).syncOnce();
    expect(result.resynced).toBe(true);
    expect(await allFiled(f)).toHaveLength(1);
    expect(await f.store.getCursor(f.firm.id, box)).not.toBe("garbage-from-an-old-version");
  });

  it("F8: after a full resync, copies that vanished while the cursor was invalid are removed too", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    const gone = clientMail(f, box, { messageId: "<gone@home>", subject: "Deleted during the gap" });
    clientMail(f, box, { messageId: "<kept@home>", subject: "Kept", date: minutes(1) });
    const sync = f.sync(box);
    await sync.syncOnce();
    expect(await allFiled(f)).toHaveLength(2);
    f.box(box).expireCursors();
    f.box(box).remove(gone);
    f.box(box).expireCursors();
    const result = await sync.syncOnce();
    expect(result.resynced).toBe(true);
    expect(result.removed).toBe(1);
    expect((await allFiled(f)).map((m) => m.subject)).toEqual(["Kept"]);
    expect(await f.store.listSightings(f.firm.id, box)).toHaveLength(1);
  });

  it("Y7, R6: transient failures are retried with backoff; a 429 is waited out as throttled, honouring Retry-After", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    clientMail(f, box);
    f.box(box).failNext("changes", { code: "transient" });
    f.box(box).failNext("changes", { code: "rate_limited", retryAfterMs: 30_000 });
    const states: string[] = [];
    f.events.on("sync.state", (e) => states.push(e.state.status));
    await expect(f.sync(box).passWithRetry()).resolves.toBe("ok");
    expect(f.sleeps).toHaveLength(2);
    expect(f.sleeps[1]).toBeGreaterThanOrEqual(30_000);
    expect(states.filter((s) => s === "retrying")).toHaveLength(1);
    expect(states.filter((s) => s === "throttled")).toHaveLength(1);
    expect(states.at(-1)).toBe("live");
    expect((await allFiled(f)).length).toBe(1);
    const mailbox = await f.store.getMailbox(f.firm.id, box);
    expect(mailbox!.state).toEqual({ status: "live" });
    expect(mailbox!.lastSyncedAt).toEqual(f.clock.now());
  });

  it("N2: revoked credentials stop the mailbox and tell its members once; Y7: no retry loop", async () => {
    const f = await makeFirm();
    const box = f.boxes.support.id;
    f.box(box).failNext("changes", { code: "auth_revoked" }, 3);
    const sync = f.sync(box);
    expect(await sync.passWithRetry()).toBe("stopped");
    expect(await sync.passWithRetry()).toBe("stopped");
    expect(f.sleeps).toEqual([]);
    const mailbox = await f.store.getMailbox(f.firm.id, box);
    expect(mailbox!.state).toMatchObject({ status: "stopped", reason: "auth_revoked" });
    for (const member of [f.members.ann, f.members.bob]) {
      const notes = await f.store.listNotifications(f.firm.id, member.id, f.clock.now());
      expect(notes.filter((n) => n.kind === "sync_stopped")).toHaveLength(1);
    }
    expect(await f.store.listNotifications(f.firm.id, f.members.carl.id, f.clock.now())).toEqual([]);
  });

  it("R6: a storm of rate limits never stops the mailbox; it shows throttled until the quota resets", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    clientMail(f, box);
    f.box(box).failNext("changes", { code: "rate_limited", retryAfterMs: 60_000 }, 25);
    const states: string[] = [];
    f.events.on("sync.state", (e) => states.push(e.state.status));
    const sync = f.sync(box, { maxConsecutiveFailures: 3 });
    await expect(sync.passWithRetry()).resolves.toBe("ok");
    expect(states.filter((s) => s === "throttled")).toHaveLength(25);
    expect(states).not.toContain("stopped");
    expect(states).not.toContain("retrying");
    expect(f.sleeps.every((ms) => ms >= 60_000)).toBe(true);
    expect((await f.store.getMailbox(f.firm.id, box))!.state).toEqual({ status: "live" });
    expect((await allFiled(f)).length).toBe(1);
  });

  it("N2: repeated failures stop the mailbox after the configured number of passes", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    f.box(box).failNext("changes", { code: "transient" }, 50);
    expect(await f.sync(box, { maxConsecutiveFailures: 4 }).passWithRetry()).toBe("stopped");
    expect(f.sleeps).toHaveLength(3);
    expect((await f.store.getMailbox(f.firm.id, box))!.state).toMatchObject({
      status: "stopped",
      reason: "repeated_failures",
    });
  });

  it("N1: new inbound client mail notifies members per their settings, except who muted the thread", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    clientMail(f, box);
    await f.sync(box).syncOnce();
    const annNotes = await f.store.listNotifications(f.firm.id, f.members.ann.id, f.clock.now());
    expect(annNotes.map((n) => n.kind)).toEqual(["new_client_mail"]);
    expect(await f.store.listNotifications(f.firm.id, f.members.bob.id, f.clock.now())).toEqual([]);
    expect((await f.store.listNotifications(f.firm.id, f.members.carl.id, f.clock.now())).length).toBe(1);
    const threadId = annNotes[0]!.payload.threadId as string;
    await f.store.setThreadMuted(f.firm.id, threadId, f.members.ann.id, true);
    clientMail(f, box, {
      messageId: "<r2@home.example>",
      references: ["<r1@home.example>"],
      subject: "Re: Receipts",
      date: minutes(10),
    });
    await f.sync(box).syncOnce();
    expect((await f.store.listNotifications(f.firm.id, f.members.ann.id, f.clock.now())).length).toBe(1);
    expect((await f.store.listNotifications(f.firm.id, f.members.carl.id, f.clock.now())).length).toBe(2);
  });

  it("N1: who hears of a message that reached several mailboxes does not depend on which mailbox filed it first", async () => {
    const heard = async (order: ReadonlyArray<"ann" | "bob">) => {
      const f = await makeFirm();
      for (const label of ["ann", "bob"] as const)
        clientMail(f, f.boxes[label].id, { to: [at("ann@ledger.example"), at("bob@ledger.example")] });
      for (const label of order) {
        await f.sync(f.boxes[label].id).syncOnce();
        // A replay of the same mailbox tells no one twice.
        await f.sync(f.boxes[label].id).syncOnce();
      }
      const count = async (member: { id: string }) =>
        (await f.store.listNotifications(f.firm.id, member.id, f.clock.now())).length;
      return { ann: await count(f.members.ann), bob: await count(f.members.bob) };
    };
    // Ann and Bob follow their own mailboxes only; the message reached both.
    expect(await heard(["ann", "bob"])).toEqual({ ann: 1, bob: 1 });
    expect(await heard(["bob", "ann"])).toEqual({ ann: 1, bob: 1 });
  });

  it("F8: a message deleted from every mailbox it was seen in leaves the view (mirror); retain keeps it", async () => {
    for (const mode of ["mirror", "retain"] as const) {
      const f = await makeFirm({ deletionMode: mode });
      const a = clientMail(f, f.boxes.ann.id, {
        to: [at("ann@ledger.example"), at("support@ledger.example")],
      });
      const s = clientMail(f, f.boxes.support.id, {
        to: [at("ann@ledger.example"), at("support@ledger.example")],
      });
      const annSync = f.sync(f.boxes.ann.id);
      const supportSync = f.sync(f.boxes.support.id);
      await annSync.syncOnce();
      await supportSync.syncOnce();
      f.box(f.boxes.ann.id).remove(a);
      await annSync.syncOnce();
      expect(await allFiled(f), `${mode}, one copy left`).toHaveLength(1);
      f.box(f.boxes.support.id).remove(s);
      await supportSync.syncOnce();
      expect(await allFiled(f), mode).toHaveLength(mode === "mirror" ? 0 : 1);
    }
  });

  it("R8: a save the sink finished but the worker never recorded runs again and still gives one document per account", async () => {
    const f = await makeFirm();
    const pdf = new TextEncoder().encode("%PDF-1.7 engagement letter");
    clientMail(f, f.boxes.ann.id, {
      attachments: [{ filename: "letter.pdf", contentType: "application/pdf", content: pdf }],
    });
    const save = f.sink.save.bind(f.sink);
    let crashes = 1;
    f.sink.save = async (document) => {
      const saved = await save(document);
      // The worker dies after the sink stored the file, before the job is done.
      if (crashes-- > 0) throw new Error("worker lost");
      return saved;
    };
    const events: string[] = [];
    f.events.on("attachment.saved", (e) => events.push(e.accountId));
    await f.sync(f.boxes.ann.id).syncOnce();
    await f.drain();
    expect(f.sink.calls).toBe(3);
    expect(f.sink.saved.map((d) => d.accountId).sort()).toEqual(
      [f.accounts.bakery.id, f.accounts.family.id].sort(),
    );
    expect(events.sort()).toEqual([f.accounts.bakery.id, f.accounts.family.id].sort());
    expect((await f.queue!.stats()).failed).toBe(0);
    // The staged copy of the attachment is gone once saved.
    expect(f.blobs.keys().filter((k) => k.includes("/attachments/"))).toEqual([]);
  });

  it("R8 R11 F9: a backfill and a pass that fetch the same copy at once lose neither its attachments nor its source", async () => {
    const f = await makeFirm();
    const pdf = new TextEncoder().encode("%PDF-1.7 engagement letter");
    const source = Buffer.from("From: Jo <jo@home.example>\r\nTo: ann@ledger.example\r\n\r\nLetter\r\n");
    clientMail(f, f.boxes.ann.id, {
      source,
      attachments: [{ filename: "letter.pdf", contentType: "application/pdf", content: pdf }],
    });
    // The address backfill (Y5, no lease) and the pass both fetch and stage the copy before
    // either commits; whichever commits second finds the message filed already.
    const provider = f.box(f.boxes.ann.id).provider();
    let fetched = 0;
    let bothFetched!: () => void;
    const both = new Promise<void>((resolve) => (bothFetched = resolve));
    const gated: typeof provider = Object.create(provider);
    gated.fetch = async function* (ids, options) {
      yield* provider.fetch(ids, options);
      if (++fetched === 2) bothFetched();
      await both;
    };
    const sync = f.sync(f.boxes.ann.id, { provider: gated });
    await Promise.all([sync.backfillAddresses(["jo@home.example"]), sync.syncOnce()]);
    expect(fetched).toBe(2);
    await f.drain();
    expect((await f.queue!.stats()).failed).toBe(0);
    expect(f.sink.saved.map((d) => d.accountId).sort()).toEqual(
      [f.accounts.bakery.id, f.accounts.family.id].sort(),
    );
    const [message] = await f.store.findMessagesByMessageIds(f.firm.id, ["r1@home.example"]);
    const chunks: Buffer[] = [];
    for await (const chunk of await readMessageSource(f.store, f.blobs, f.firm.id, message!.id))
      chunks.push(Buffer.from(chunk));
    expect(Buffer.concat(chunks).equals(source)).toBe(true);
  });

  it("R8: attachment saves are jobs of the page's transaction: a worker that is down when the page commits loses none", async () => {
    const f = await makeFirm();
    await f.worker!.stop();
    clientMail(f, f.boxes.ann.id, {
      attachments: [
        { filename: "a.pdf", contentType: "application/pdf", content: new Uint8Array([1, 2, 3]) },
      ],
    });
    await f.sync(f.boxes.ann.id).syncOnce();
    expect((await f.queue!.stats()).waiting).toBe(1);
    expect(f.sink.saved).toEqual([]);
    await f.queue!.work(
      {
        [saveAttachmentsJob]: saveAttachmentsHandler({
          store: f.store,
          blobs: f.blobs,
          documents: f.sink,
          logger: silentLogger,
        }),
      },
      { pollIntervalMs: 20 },
    );
    await f.drain();
    expect(f.sink.saved).toHaveLength(2);
  });

  it("R11: the original source of every filed message is kept byte for byte and reads back as .eml; personal mail's is never kept", async () => {
    const f = await makeFirm();
    const source = Buffer.from(
      "From: Jo <jo@home.example>\r\nTo: ann@ledger.example\r\nSubject: =?iso-8859-1?q?K=E6re?=\r\n\r\nH\xe6lsen\r\n",
      "latin1",
    );
    clientMail(f, f.boxes.ann.id, { source });
    f.box(f.boxes.ann.id).append({
      from: [at("friend@personal.example")],
      to: [at("ann@ledger.example")],
      subject: "Dinner",
      date: minutes(2),
      source: Buffer.from("Subject: Dinner\r\n\r\nprivate\r\n"),
    });
    await f.sync(f.boxes.ann.id).syncOnce();
    const [message] = await f.store.findMessagesByMessageIds(f.firm.id, ["r1@home.example"]);
    expect(message!.sourceKey).toBeDefined();
    const chunks: Buffer[] = [];
    for await (const chunk of await readMessageSource(f.store, f.blobs, f.firm.id, message!.id))
      chunks.push(Buffer.from(chunk));
    expect(Buffer.concat(chunks).equals(source)).toBe(true);
    expect(f.blobs.keys()).toEqual([message!.sourceKey]);
    await expect(readMessageSource(f.store, f.blobs, "other-firm", message!.id)).rejects.toMatchObject({
      code: "not_found",
    });
  });

  it("F9: attachments are saved once per content hash per account, only when the mailbox auto-saves", async () => {
    const f = await makeFirm();
    const pdf = new TextEncoder().encode("%PDF-1.7 receipts");
    clientMail(f, f.boxes.ann.id, {
      attachments: [{ filename: "../receipts.pdf", contentType: "application/pdf", content: pdf }],
    });
    clientMail(f, f.boxes.ann.id, {
      messageId: "<again@home>",
      subject: "Same file again",
      date: minutes(9),
      attachments: [{ filename: "copy.pdf", contentType: "application/pdf", content: pdf }],
    });
    await f.sync(f.boxes.ann.id).syncOnce();
    await f.drain();
    expect(f.sink.saved.map((d) => [d.accountId, d.filename, d.bytes]).sort()).toEqual(
      [
        [f.accounts.bakery.id, "_receipts.pdf", pdf.byteLength],
        [f.accounts.family.id, "_receipts.pdf", pdf.byteLength],
      ].sort(),
    );
    await f.store.updateMailboxSettings(f.firm.id, f.boxes.bob.id, { autoSaveAttachments: false });
    clientMail(f, f.boxes.bob.id, {
      messageId: "<new@home>",
      to: [at("bob@ledger.example")],
      date: minutes(20),
      attachments: [
        { filename: "other.pdf", contentType: "application/pdf", content: new TextEncoder().encode("other") },
      ],
    });
    await f.sync(f.boxes.bob.id).syncOnce();
    await f.drain();
    expect(f.sink.saved).toHaveLength(2);
  });

  it("F9: a copy in an auto-saving mailbox saves the attachments of a message first filed elsewhere", async () => {
    const f = await makeFirm();
    await f.store.updateMailboxSettings(f.firm.id, f.boxes.bob.id, { autoSaveAttachments: false });
    const pdf = new TextEncoder().encode("%PDF shared");
    const message = {
      to: [at("ann@ledger.example"), at("bob@ledger.example")],
      attachments: [{ filename: "a.pdf", contentType: "application/pdf", content: pdf }],
    };
    clientMail(f, f.boxes.bob.id, message);
    clientMail(f, f.boxes.ann.id, message);
    await f.sync(f.boxes.bob.id).syncOnce();
    await f.drain();
    expect(f.sink.saved).toHaveLength(0);
    await f.sync(f.boxes.ann.id).syncOnce();
    await f.drain();
    expect(f.sink.saved.map((d) => d.accountId).sort()).toEqual(
      [f.accounts.bakery.id, f.accounts.family.id].sort(),
    );
    await f.sync(f.boxes.ann.id).backfillAddresses(["jo@home.example"]);
    await f.drain();
    expect(f.sink.saved).toHaveLength(2);
  });

  it("F7: with email sync off a link files nothing new; Y5/T7: turning it on backfills the history", async () => {
    const f = await makeFirm();
    const box = f.boxes.bob.id;
    f.box(box).append({
      from: [at("sam@home.example")],
      to: [at("bob@ledger.example")],
      subject: "Old question",
      messageId: "<old@home>",
      date: minutes(1),
      text: "?",
    });
    await f.sync(box).syncOnce();
    expect(await allFiled(f)).toEqual([]);
    await f.store.updateLink(f.firm.id, f.links.samFamily.id, { emailSync: true });
    const backfill = await f.sync(box).backfillAddresses(["sam@home.example"]);
    expect(backfill).toEqual({ examined: 1, filed: 1 });
    expect(f.box(box).calls.search).toBe(1);
    expect(await allFiled(f)).toEqual([{ subject: "Old question", accounts: ["Jordan family"] }]);
  });

  it("R2: a message that fails on its own is quarantined and reported; the cursor still moves, and a later pass files it", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    const poison = clientMail(f, box, { messageId: "<poison@home>" });
    clientMail(f, box, { messageId: "<fine@home>", subject: "Fine", date: minutes(1) });
    f.box(box).failFetchOf(poison, 1, "unparseable");
    const reported: string[] = [];
    f.events.on("message.quarantined", (e) => reported.push(`${e.providerId}:${e.reason}:${e.attempts}`));
    const result = await f.sync(box).syncOnce();
    expect(result.quarantined).toEqual([poison]);
    expect(reported).toEqual([`${poison}:unparseable:1`]);
    expect((await allFiled(f)).map((m) => m.subject)).toEqual(["Fine"]);
    expect(await f.store.getCursor(f.firm.id, box)).toBeDefined();
    const [entry] = await f.store.listQuarantine(f.firm.id, { mailboxId: box });
    expect(entry).toMatchObject({ providerId: poison, reason: "unparseable", attempts: 1 });
    expect(entry!.nextAttemptAt.getTime()).toBeGreaterThan(f.clock.now().getTime());
    // Not due yet: the next pass leaves it waiting.
    await f.sync(box).syncOnce();
    expect(await f.store.listQuarantine(f.firm.id, { mailboxId: box })).toHaveLength(1);
    // Due: retried, filed, and out of quarantine.
    f.clock.current = new Date(entry!.nextAttemptAt.getTime() + 1);
    await f.sync(box).syncOnce();
    expect(await f.store.listQuarantine(f.firm.id, { mailboxId: box })).toEqual([]);
    expect((await allFiled(f)).map((m) => m.subject).sort()).toEqual(["Fine", "Receipts for 2025"]);
  });

  it("Y6: two workers never sync one mailbox at once; the second backs off", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    const token = await f.store.acquireLease(f.firm.id, box, "other-worker", 60_000);
    expect(token).toBeDefined();
    expect(await f.sync(box).syncOnce()).toMatchObject({ ran: false });
    await f.store.releaseLease(f.firm.id, box, token!);
    expect(await f.sync(box).syncOnce()).toMatchObject({ ran: true });
  });

  it("N5: a successful pass records when the mailbox last synced", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    expect((await f.store.getMailbox(f.firm.id, box))!.lastSyncedAt).toBeUndefined();
    await f.sync(box).syncOnce();
    expect((await f.store.getMailbox(f.firm.id, box))!.lastSyncedAt).toEqual(f.clock.now());
  });

  it("F5: syncing mailboxes in any order, with replays, files exactly the unique client messages (property)", async () => {
    const topics = ["Audit", "Payroll", "VAT", "Invoice"];
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            topic: fc.nat(3),
            boxes: fc.subarray([0, 1, 2, 3], { minLength: 1 }),
            client: fc.boolean(),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 10 }),
        async (messages, order) => {
          const f = await makeFirm();
          const boxIds = [f.boxes.ann.id, f.boxes.bob.id, f.boxes.carl.id, f.boxes.support.id];
          messages.forEach((m, i) => {
            for (const b of m.boxes) {
              f.box(boxIds[b]!).append({
                from: [at(m.client ? "petra@acme.example" : "stranger@else.example")],
                to: [at("ann@ledger.example")],
                subject: `${topics[m.topic]} ${i}`,
                messageId: `<msg${i}@x>`,
                date: minutes(i),
                text: `body ${i}`,
              });
            }
          });
          for (const b of [...order, 0, 1, 2, 3]) await f.sync(boxIds[b]!).syncOnce();
          const filed = await allFiled(f);
          expect(filed.map((m) => m.subject).sort()).toEqual(
            messages.flatMap((m, i) => (m.client ? [`${topics[m.topic]} ${i}`] : [])).sort(),
          );
        },
      ),
      { numRuns: 25 },
    );
  });

  it("Y6: a worker whose lease expired mid-pass stops, and its cursor never passes what it committed", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    for (let i = 0; i < 9; i++)
      clientMail(f, box, { messageId: `<l${i}@home>`, subject: `Lease ${i}`, date: minutes(i) });
    const inner = f.box(box).provider();
    let pages = 0;
    let taken: number | undefined;
    const slow = {
      ...inner,
      changes: (cursor: string | undefined) => ({
        async *[Symbol.asyncIterator]() {
          for await (const page of inner.changes(cursor)) {
            pages += 1;
            if (pages === 1) {
              // Within the lease: the engine renews it (a third of the TTL has passed).
              f.clock.advance(1_500);
            } else if (pages === 2) {
              // The engine lists a page ahead: this stall comes once page 1 is committed. The
              // worker stalls past its lease, and another worker takes the mailbox over.
              while ((await f.store.getCursor(f.firm.id, box)) === undefined)
                await new Promise((resolve) => setTimeout(resolve, 1));
              f.clock.advance(4_000);
              taken = await f.store.acquireLease(f.firm.id, box, "other-worker", 60_000);
            }
            yield page;
          }
        },
      }),
    };
    const sync = new MailboxSync(
      {
        store: f.store,
        clock: f.clock,
        logger: silentLogger,
        random: () => 0.5,
        sleep: async () => undefined,
      },
      { firmId: f.firm.id, mailboxId: box, provider: slow, holder: "stale-worker", leaseTtlMs: 3_000 },
    );
    await expect(sync.syncOnce()).rejects.toSatisfy((error: unknown) =>
      ClientMailError.hasCode(error, "lease_lost"),
    );
    expect(taken).toBeDefined();
    // Page 3 was already being listed (one page ahead) when the engine saw the lease lost.
    expect(pages).toBe(3);
    // Only the page written before the takeover was committed; the stale worker wrote nothing after.
    expect((await allFiled(f)).map((m) => m.subject)).toEqual(["Lease 0", "Lease 1", "Lease 2"]);
    // The new holder resumes from the committed cursor and files the rest, once.
    await f.store.releaseLease(f.firm.id, box, taken!);
    await f.sync(box).syncOnce();
    expect(await allFiled(f)).toHaveLength(9);
  });

  it("Y6: a stale worker's page is rejected whole by the fenced cursor write", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    clientMail(f, box);
    const token = await f.store.acquireLease(f.firm.id, box, "stale", 1);
    f.clock.advance(10);
    const fresh = await f.store.acquireLease(f.firm.id, box, "fresh", 60_000);
    expect(fresh).not.toBe(token);
    await expect(
      f.store.transaction(async (tx) => {
        await tx.setCursor(f.firm.id, box, token!, "999");
      }),
    ).rejects.toSatisfy((error: unknown) => ClientMailError.hasCode(error, "lease_lost"));
    expect(await f.store.getCursor(f.firm.id, box)).toBeUndefined();
  });
});
