import { describe, expect, it } from "vitest";
import { createClientMail } from "../../src/index.js";
import { at, makeFirm, minutes } from "./firm-fixture.js";

describe("the Email tab and sent mail", () => {
  it("H5: Inbox lists threads newest activity first with messages in order; Sent only threads the firm sent in; Scheduled lists waiting messages", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    f.box(box).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Old question",
      messageId: "<old@home>",
      date: minutes(0),
      text: "?",
    });
    f.box(box).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Receipts",
      messageId: "<r1@home>",
      date: minutes(10),
      text: "r",
    });
    f.box(box).append({
      from: [at("ann@ledger.example")],
      to: [at("jo@home.example")],
      subject: "Re: Receipts",
      messageId: "<r2@ledger>",
      inReplyTo: ["<r1@home>"],
      references: ["<r1@home>"],
      date: minutes(20),
      text: "thanks",
    });
    await f.sync(box).syncOnce();
    const cm = createClientMail({ store: f.store, clock: f.clock });
    const inbox = await cm.accountThreads(f.firm.id, f.accounts.family.id, "inbox");
    expect(inbox.map((t) => t.messages.map((m) => m.subject))).toEqual([
      ["Receipts", "Re: Receipts"],
      ["Old question"],
    ]);
    const sent = await cm.accountThreads(f.firm.id, f.accounts.family.id, "sent");
    expect(sent.map((t) => t.messages.map((m) => m.subject))).toEqual([["Receipts", "Re: Receipts"]]);
    const later = await f.store.createOutbox(
      f.firm.id,
      {
        mailboxId: box,
        actor: { kind: "member", memberId: f.members.ann.id },
        accountIds: [f.accounts.family.id],
        threadId: undefined,
        draft: { subject: "Reminder" },
        sendAt: minutes(60 * 24),
      },
      f.clock.now(),
    );
    await f.store.createOutbox(
      f.firm.id,
      {
        mailboxId: box,
        actor: { kind: "member", memberId: f.members.ann.id },
        accountIds: [f.accounts.acme.id],
        threadId: undefined,
        draft: { subject: "Other account" },
        sendAt: minutes(60),
      },
      f.clock.now(),
    );
    expect((await cm.scheduledMessages(f.firm.id, f.accounts.family.id)).map((m) => m.id)).toEqual([
      later.id,
    ]);
    await f.store.cancelOutbox(f.firm.id, later.id);
    expect(await cm.scheduledMessages(f.firm.id, f.accounts.family.id)).toEqual([]);
  });

  it("S4: a scheduled message is claimed for sending exactly once, however many workers race for it", async () => {
    const f = await makeFirm();
    const scheduled = await f.store.createOutbox(
      f.firm.id,
      {
        mailboxId: f.boxes.ann.id,
        actor: { kind: "automation", name: "reminders", memberId: f.members.ann.id },
        accountIds: [f.accounts.family.id],
        threadId: undefined,
        draft: {},
        sendAt: minutes(1),
      },
      f.clock.now(),
    );
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) => f.store.claimOutbox(f.firm.id, scheduled.id, `worker-${i}`)),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    const winner = `worker-${claims.indexOf(true)}`;
    expect(
      await f.store.markOutboxSent(f.firm.id, scheduled.id, "worker-x", {
        at: f.clock.now(),
        messageId: "<a@b>",
      }),
    ).toBe(false);
    expect(
      await f.store.markOutboxSent(f.firm.id, scheduled.id, winner, {
        at: f.clock.now(),
        messageId: "<a@b>",
      }),
    ).toBe(true);
    expect(await f.store.claimOutbox(f.firm.id, scheduled.id, "late-worker")).toBe(false);
  });

  it("S5: a message sent through clientmail is recognised by its Message-ID when the provider's copy syncs back", async () => {
    const f = await makeFirm();
    const box = f.boxes.ann.id;
    const thread = await f.store.createThread(f.firm.id);
    const [sent] = await f.store.fileMessages(
      f.firm.id,
      [
        {
          dedupeKey: "mid:0123456789abcdef@ledger.example",
          messageId: "0123456789abcdef@ledger.example",
          inReplyTo: [],
          references: [],
          from: [at("ann@ledger.example")],
          sender: [],
          replyTo: [],
          to: [at("jo@home.example")],
          cc: [],
          bcc: [],
          subject: "Your documents",
          date: minutes(5),
          direction: "outbound",
          text: "Sent from clientmail",
          html: undefined,
          attachments: [],
          sourceKey: undefined,
          degraded: false,
          threadId: thread,
          filings: [{ accountId: f.accounts.family.id, linkIds: [f.links.joFamily.id] }],
          sightings: [],
        },
      ],
      f.clock.now(),
    );
    f.box(box).append({
      folder: "Sent",
      from: [at("ann@ledger.example")],
      to: [at("jo@home.example")],
      subject: "Your documents",
      messageId: "<0123456789ABCDEF@ledger.example>",
      date: minutes(5),
      text: "Sent from clientmail",
    });
    await f.sync(box).syncOnce();
    expect(f.box(box).fetched).toEqual([]);
    const threads = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "sent" });
    expect(threads).toHaveLength(1);
    expect(threads[0]!.messages.map((m) => m.id)).toEqual([sent!.id]);
    expect(threads[0]!.messages[0]!.sightings.map((s) => s.mailboxId)).toEqual([box]);
  });
});
