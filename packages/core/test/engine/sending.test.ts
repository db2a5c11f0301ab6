/**
 * Sending through the facade, the job queue and the outbox worker (S1–S6, P1–P5, T5, T6, H5, N4),
 * on the memory store, with the testkit's fake sender standing in for SMTP, Gmail and Graph.
 */
import { describe, expect, it } from "vitest";
import {
  ClientMailError,
  PermissionDeniedError,
  RateLimitedError,
  UnknownShortcodeError,
  nextWeeklyDigestAt,
} from "../../src/index.js";
import { at, minutes } from "./firm-fixture.js";
import { AccountDocuments, makeSendingFirm } from "./sending-fixture.js";

const ann = (f: { members: { ann: { id: string } } }) => ({
  kind: "member" as const,
  memberId: f.members.ann.id,
});

describe("sending", () => {
  it("S1, T5: a bulk send makes one message per account, to the account's links with notify on only", async () => {
    const f = await makeSendingFirm();
    await f.store.updateLink(f.firm.id, f.links.samFamily.id, { notify: false });
    const quiet = await f.store.createAccount(f.firm.id, { name: "Quiet Ltd", kind: "business" }, new Date());
    const result = await f.client.send(f.firm.id, {
      actor: ann(f),
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.family.id, f.accounts.bakery.id, f.accounts.acme.id, quiet.id],
      subject: "Tax season",
      text: "Dear client, the deadline is near.",
    });
    expect(result.skipped).toEqual([quiet.id]);
    expect(result.messages.map((m) => m.accountIds)).toEqual([
      [f.accounts.family.id],
      [f.accounts.bakery.id],
      [f.accounts.acme.id],
    ]);
    await f.settle();
    const deliveries = f.allDeliveries();
    expect(deliveries.map((d) => d.to.map((a) => a.address))).toEqual([
      ["jo@home.example"],
      ["jo@home.example"],
      ["petra@acme.example"],
    ]);
    // Never one message with every client in To or Cc.
    for (const d of deliveries) expect([...d.to, ...d.cc, ...d.bcc]).toHaveLength(1);
    expect(new Set(deliveries.map((d) => d.messageId)).size).toBe(3);
  });

  it("T5: chosen addresses must belong to the account; one account only", async () => {
    const f = await makeSendingFirm();
    const base = { actor: ann(f), mailboxId: f.boxes.ann.id, subject: "Hi", text: "x" };
    const sent = await f.client.send(f.firm.id, {
      ...base,
      accountIds: [f.accounts.family.id],
      to: ["sam@home.example"],
    });
    expect((sent.messages[0]!.draft as { to: unknown }).to).toEqual([
      { address: "sam@home.example", name: "Sam Jordan" },
    ]);
    await expect(
      f.client.send(f.firm.id, { ...base, accountIds: [f.accounts.family.id], to: ["petra@acme.example"] }),
    ).rejects.toMatchObject({
      code: "validation_failed",
      issues: [expect.objectContaining({ field: "to.0" })],
    });
    await expect(
      f.client.send(f.firm.id, {
        ...base,
        accountIds: [f.accounts.family.id, f.accounts.acme.id],
        to: ["jo@home.example"],
      }),
    ).rejects.toMatchObject({ code: "validation_failed" });
  });

  it("S2: an unknown shortcode is an error naming it and nothing is queued; known ones are resolved per account and recipient", async () => {
    const f = await makeSendingFirm();
    const request = {
      actor: ann(f),
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.family.id, f.accounts.acme.id],
      subject: "[ACCOUNT_NAME]: your return",
      text: "Dear [CONTACT_FIRST_NAME], regards, [SENDER_NAME] of [FIRM_NAME]. [CLIENT_PORTAL_LINK]",
    };
    const refused = await f.client.send(f.firm.id, request).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UnknownShortcodeError);
    expect((refused as ClientMailError).code).toBe("unknown_shortcode");
    expect((refused as Error).message).toContain("[CLIENT_PORTAL_LINK]");
    expect(await f.store.listOutbox(f.firm.id)).toEqual([]);

    await f.client.send(f.firm.id, { ...request, text: request.text.replace(" [CLIENT_PORTAL_LINK]", "") });
    await f.settle();
    const byRecipient = new Map(f.allDeliveries().map((d) => [d.to[0]!.address, d]));
    expect(byRecipient.size).toBe(3); // Jo and Sam of the family (one message each: contact shortcodes), Petra
    expect(byRecipient.get("jo@home.example")).toMatchObject({
      subject: "Jordan family: your return",
      text: "Dear Jo, regards, Ann Lee of Ledger & Partners.",
    });
    expect(byRecipient.get("sam@home.example")?.text).toBe(
      "Dear Sam, regards, Ann Lee of Ledger & Partners.",
    );
    expect(byRecipient.get("petra@acme.example")?.subject).toBe("Acme Tools: your return");
  });

  it("S3: the mailbox's signature goes on mail sent through the SDK, never on mail written in the provider's own client", async () => {
    const f = await makeSendingFirm();
    await f.store.updateMailboxSettings(f.firm.id, f.boxes.ann.id, {
      signatureHtml: "<p>Ann Lee<br>Ledger</p>",
    });
    await f.client.send(f.firm.id, {
      actor: ann(f),
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.acme.id],
      subject: "Hello",
      text: "Body",
      html: "<p>Body</p>",
    });
    await f.settle();
    const [delivered] = f.allDeliveries();
    expect(delivered!.html).toBe(
      '<p>Body</p><div class="clientmail-signature"><p>Ann Lee<br>Ledger</p></div>',
    );
    expect(delivered!.text).toBe("Body\n\n-- \nAnn Lee\nLedger");
    // Written in the provider's client: synced and filed as it was.
    f.box(f.boxes.ann.id).append({
      folder: "Sent",
      from: [at("ann@ledger.example")],
      to: [at("petra@acme.example")],
      subject: "From my phone",
      messageId: "<phone-1@ledger.example>",
      date: minutes(5),
      html: "<p>Sent from my phone</p>",
    });
    await f.sync(f.boxes.ann.id).syncOnce();
    const threads = await f.store.listAccountThreads(f.firm.id, f.accounts.acme.id, { view: "inbox" });
    const phone = threads.flatMap((t) => t.messages).find((m) => m.subject === "From my phone");
    expect(phone?.html).toBe("<p>Sent from my phone</p>");
  });

  it("S1: attachments come from the host's documents, are checked when composing and read when sending; plain and HTML parts both go out", async () => {
    const documents = new AccountDocuments();
    const f = await makeSendingFirm({ documentSource: documents });
    const pdf = new TextEncoder().encode("%PDF-1.7 engagement letter");
    documents.add("doc-letter", f.accounts.acme.id, "Engagement letter.pdf", "application/pdf", pdf);
    documents.add("doc-other", f.accounts.family.id, "Family.pdf", "application/pdf", pdf);
    const base = {
      actor: ann(f),
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.acme.id],
      subject: "Your letter",
      text: "Attached.",
      html: "<p>Attached.</p>",
    };
    // Another account's document is not this account's to send.
    await expect(
      f.client.send(f.firm.id, { ...base, attachments: [{ documentId: "doc-other" }] }),
    ).rejects.toMatchObject({
      code: "validation_failed",
      issues: [expect.objectContaining({ field: "attachments.0.documentId", value: "doc-other" })],
    });
    const [queued] = (
      await f.client.send(f.firm.id, { ...base, attachments: [{ documentId: "doc-letter" }] })
    ).messages;
    // The outbox keeps a reference, never the bytes.
    expect((queued!.draft as { attachments: unknown }).attachments).toEqual([
      {
        documentId: "doc-letter",
        filename: "Engagement letter.pdf",
        contentType: "application/pdf",
        size: pdf.byteLength,
      },
    ]);
    expect(documents.reads).toBe(0);
    await f.settle();
    const [delivered] = f.allDeliveries();
    expect(delivered).toMatchObject({ text: "Attached.", html: "<p>Attached.</p>" });
    expect(delivered!.attachments).toEqual([
      { filename: "Engagement letter.pdf", contentType: "application/pdf", content: pdf },
    ]);
    // A document removed before the send fails the message with why (listed in H5).
    const [later] = (
      await f.client.send(f.firm.id, {
        ...base,
        attachments: [{ documentId: "doc-letter" }],
        sendAt: new Date(f.clock.now().getTime() + 60_000),
      })
    ).messages;
    documents.documents.delete("doc-letter");
    f.clock.advance(61_000);
    await f.settle();
    expect(await f.store.getOutbox(f.firm.id, later!.id)).toMatchObject({
      state: "failed",
      lastError: expect.stringContaining("Engagement letter.pdf"),
    });
  });

  it("S4: a sending limit puts the message back until the provider's Retry-After, then it goes out once", async () => {
    const f = await makeSendingFirm();
    f.senderOf(f.boxes.ann.id).failNext("before_accept", new RateLimitedError("Too many messages", 30_000));
    const [queued] = (
      await f.client.send(f.firm.id, {
        actor: ann(f),
        mailboxId: f.boxes.ann.id,
        accountIds: [f.accounts.acme.id],
        subject: "Paced",
        text: "x",
      })
    ).messages;
    await f.settle();
    const waiting = await f.store.getOutbox(f.firm.id, queued!.id);
    expect(waiting).toMatchObject({ state: "scheduled", lastError: "rate_limited" });
    expect(waiting!.sendAt.getTime() - queued!.sendAt.getTime()).toBeGreaterThanOrEqual(29_000);
    expect(f.allDeliveries()).toEqual([]);
    f.clock.advance(31_000);
    await f.settle();
    expect(f.allDeliveries().map((d) => d.subject)).toEqual(["Paced"]);
    expect((await f.store.getOutbox(f.firm.id, queued!.id))?.state).toBe("sent");
  });

  it("S4, H5: a scheduled message is listed, can be edited or cancelled until claimed, and is sent once when due", async () => {
    const f = await makeSendingFirm();
    const inAnHour = new Date(f.clock.now().getTime() + 60 * 60_000);
    const base = {
      actor: ann(f),
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.acme.id],
      subject: "Engagement letter",
      text: "Please sign.",
      sendAt: inAnHour,
    };
    const [letter] = (await f.client.send(f.firm.id, base)).messages;
    const [reminder] = (await f.client.send(f.firm.id, { ...base, subject: "Reminder" })).messages;
    await f.settle();
    expect(f.allDeliveries()).toEqual([]);
    const view = await f.client.scheduledView(f.firm.id, f.accounts.acme.id);
    expect(view.map((v) => [v.message.id, v.due]).sort()).toEqual(
      [
        [letter!.id, false],
        [reminder!.id, false],
      ].sort(),
    );
    // Edited: two hours instead of one, and a new subject; the job due at the first time re-queues it.
    const twoHours = new Date(f.clock.now().getTime() + 2 * 60 * 60_000);
    await f.client.reschedule(f.firm.id, letter!.id, {
      by: f.members.ann.id,
      sendAt: twoHours,
      subject: "Engagement letter 2026",
    });
    // Bob did not connect Ann's mailbox and she does not delegate (P1).
    await expect(f.client.cancel(f.firm.id, reminder!.id, f.members.bob.id)).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
    await f.client.cancel(f.firm.id, reminder!.id, f.members.ann.id);
    f.clock.advance(61 * 60_000);
    await f.settle();
    expect(f.allDeliveries()).toEqual([]);
    expect((await f.store.getOutbox(f.firm.id, letter!.id))?.state).toBe("scheduled");
    f.clock.advance(60 * 60_000);
    await f.settle();
    expect(f.allDeliveries().map((d) => d.subject)).toEqual(["Engagement letter 2026"]);
    expect((await f.store.getOutbox(f.firm.id, letter!.id))?.state).toBe("sent");
    expect((await f.store.getOutbox(f.firm.id, reminder!.id))?.state).toBe("cancelled");
    await expect(f.client.cancel(f.firm.id, letter!.id, f.members.ann.id)).rejects.toMatchObject({
      code: "conflict",
    });
    await expect(
      f.client.reschedule(f.firm.id, letter!.id, { by: f.members.ann.id, subject: "late" }),
    ).rejects.toMatchObject({ code: "conflict" });
    expect(await f.client.scheduledView(f.firm.id, f.accounts.acme.id)).toEqual([]);
  });

  it("S5: a sent message appears in its thread at once and its copy that comes back through sync is recognised, not stored twice", async () => {
    const f = await makeSendingFirm();
    await f.client.send(f.firm.id, {
      actor: ann(f),
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.acme.id],
      subject: "Your year-end",
      text: "Numbers attached soon.",
    });
    await f.settle();
    const listed = async () =>
      (await f.store.listAccountThreads(f.firm.id, f.accounts.acme.id, { view: "sent" })).flatMap(
        (t) => t.messages,
      );
    const atOnce = await listed();
    expect(atOnce.map((m) => [m.subject, m.direction, m.sightings.length])).toEqual([
      ["Your year-end", "outbound", 0],
    ]);
    await f.sync(f.boxes.ann.id).syncOnce();
    const afterSync = await listed();
    expect(afterSync).toHaveLength(1);
    expect(afterSync[0]!.id).toBe(atOnce[0]!.id);
    expect(afterSync[0]!.sightings).toEqual([
      expect.objectContaining({ mailboxId: f.boxes.ann.id, folder: "Sent" }),
    ]);
  });

  it("S6, P3: a reply carries In-Reply-To, References and the parent's provider id, goes out from the mailbox the last inbound message arrived in, and lands in the same thread", async () => {
    const f = await makeSendingFirm();
    const support = f.boxes.support.id;
    f.box(support).append({
      from: [at("jo@home.example", "Jo Jordan")],
      to: [at("support@ledger.example")],
      subject: "[EXTERNAL] Question about my return",
      messageId: "<q2@home.example>",
      references: ["<q0@home.example>", "<q1@ledger.example>"],
      inReplyTo: ["<q1@ledger.example>"],
      date: minutes(0),
      text: "?",
    });
    await f.sync(support).syncOnce();
    const [thread] = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });
    // Bob connected the shared support mailbox, so his reply goes out from it (P3).
    const reply = await f.client.reply(f.firm.id, {
      actor: { kind: "member", memberId: f.members.bob.id },
      threadId: thread!.threadId,
      text: "Here is the answer.",
    });
    expect(reply.mailboxId).toBe(support);
    await f.settle();
    const [delivered] = f.senderOf(support).deliveries;
    expect(delivered).toMatchObject({
      from: { address: "support@ledger.example" },
      to: [{ address: "jo@home.example", name: "Jo Jordan" }],
      subject: "Re: [EXTERNAL] Question about my return",
      inReplyTo: "<q2@home.example>",
      references: "<q0@home.example> <q1@ledger.example> <q2@home.example>",
      replyToProvider: { messageId: thread!.messages[0]!.sightings[0]!.providerId },
    });
    const [after] = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });
    expect(after!.threadId).toBe(thread!.threadId);
    expect(after!.messages.map((m) => m.direction)).toEqual(["inbound", "outbound"]);
    // And when the provider's copy comes back through sync, it is the same message in the same thread.
    await f.sync(support).syncOnce();
    const [synced] = await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });
    expect(synced!.messages).toHaveLength(2);
  });

  it("P3: without the thread's mailbox, a reply goes from the sender's own mailbox; with neither, it is refused with why", async () => {
    const f = await makeSendingFirm();
    f.box(f.boxes.ann.id).append({
      from: [at("petra@acme.example")],
      to: [at("ann@ledger.example")],
      subject: "Invoice",
      messageId: "<inv@acme.example>",
      date: minutes(0),
      text: "?",
    });
    await f.sync(f.boxes.ann.id).syncOnce();
    const [thread] = await f.store.listAccountThreads(f.firm.id, f.accounts.acme.id, { view: "inbox" });
    const fromCarl = await f.client.reply(f.firm.id, {
      actor: { kind: "member", memberId: f.members.carl.id },
      threadId: thread!.threadId,
      text: "I'll take this.",
    });
    expect(fromCarl.mailboxId).toBe(f.boxes.carl.id);
    await f.store.setMailboxState(f.firm.id, f.boxes.carl.id, {
      status: "stopped",
      reason: "auth_revoked",
      at: new Date(),
    });
    const refused = await f.client
      .reply(f.firm.id, {
        actor: { kind: "member", memberId: f.members.carl.id },
        threadId: thread!.threadId,
        text: "again",
      })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PermissionDeniedError);
    expect((refused as PermissionDeniedError).reason).toBe("no_usable_mailbox");
    expect((refused as Error).message).toContain("ann@ledger.example");
    expect((refused as Error).message).toContain("carl@ledger-partners.net");
  });

  it("P1: a member sends from a mailbox they connected (shared too) or whose owner delegates; otherwise refused with the reason", async () => {
    const f = await makeSendingFirm();
    const send = (memberId: string, mailboxId: string) =>
      f.client.send(f.firm.id, {
        actor: { kind: "member", memberId },
        mailboxId,
        accountIds: [f.accounts.acme.id],
        subject: "x",
        text: "y",
      });
    await expect(send(f.members.bob.id, f.boxes.support.id)).resolves.toMatchObject({ skipped: [] });
    const refused = await send(f.members.bob.id, f.boxes.ann.id).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "permission_denied", reason: "not_connected_and_not_delegated" });
    await f.store.updateMailboxSettings(f.firm.id, f.boxes.ann.id, { allowOthersToSend: true });
    await expect(send(f.members.bob.id, f.boxes.ann.id)).resolves.toMatchObject({ skipped: [] });
    await f.settle();
    expect(f.senderOf(f.boxes.ann.id).deliveries.map((d) => d.from.address)).toEqual(["ann@ledger.example"]);
  });

  it("P1, P4: permission is checked again when sending; every sent message records mailbox and actor with an audit entry", async () => {
    const f = await makeSendingFirm();
    await f.store.updateMailboxSettings(f.firm.id, f.boxes.ann.id, { allowOthersToSend: true });
    const later = new Date(f.clock.now().getTime() + 60_000);
    const bob = { kind: "member" as const, memberId: f.members.bob.id };
    const base = { mailboxId: f.boxes.ann.id, accountIds: [f.accounts.acme.id], text: "y", sendAt: later };
    const [revoked] = (await f.client.send(f.firm.id, { ...base, actor: bob, subject: "Bob's" })).messages;
    const [kept] = (await f.client.send(f.firm.id, { ...base, actor: ann(f), subject: "Ann's" })).messages;
    await f.store.updateMailboxSettings(f.firm.id, f.boxes.ann.id, { allowOthersToSend: false });
    f.clock.advance(61_000);
    await f.settle();
    expect(f.allDeliveries().map((d) => d.subject)).toEqual(["Ann's"]);
    expect(await f.store.getOutbox(f.firm.id, revoked!.id)).toMatchObject({
      state: "failed",
      lastError: expect.stringContaining("not_connected_and_not_delegated"),
    });
    const sent = await f.store.getOutbox(f.firm.id, kept!.id);
    expect(sent).toMatchObject({
      state: "sent",
      mailboxId: f.boxes.ann.id,
      actor: { kind: "member", memberId: f.members.ann.id },
    });
    const audit = await f.store.listAudit(f.firm.id);
    expect(audit.find((e) => e.action === "message.sent")).toMatchObject({
      actor: f.members.ann.id,
      subject: `outbox:${kept!.id}`,
      details: expect.objectContaining({
        mailboxId: f.boxes.ann.id,
        actor: { kind: "member", memberId: f.members.ann.id },
        messageId: sent!.messageId,
      }),
    });
    expect(audit.find((e) => e.action === "message.refused")).toMatchObject({ actor: f.members.bob.id });
  });

  it("P2, N4: an automation sends as its named member's mailbox; when that mailbox refuses at send time the step fails with the reason and admins get an Inbox+ notice", async () => {
    const f = await makeSendingFirm();
    const failing: unknown[] = [];
    f.events.on("automation.failing", (e) => failing.push(e));
    const automation = {
      kind: "automation" as const,
      automationId: "Welcome pipeline",
      runAsMemberId: f.members.ann.id,
    };
    // It may not borrow another member's mailbox.
    await expect(
      f.client.send(f.firm.id, {
        actor: automation,
        mailboxId: f.boxes.bob.id,
        accountIds: [f.accounts.acme.id],
        subject: "Welcome",
        text: "Hi",
      }),
    ).rejects.toMatchObject({ reason: "not_connected_and_not_delegated" });
    const later = new Date(f.clock.now().getTime() + 60_000);
    const [queued] = (
      await f.client.send(f.firm.id, {
        actor: automation,
        mailboxId: f.boxes.ann.id,
        accountIds: [f.accounts.acme.id],
        subject: "Welcome",
        text: "Hi",
        sendAt: later,
      })
    ).messages;
    expect(queued!.actor).toEqual({
      kind: "automation",
      name: "Welcome pipeline",
      memberId: f.members.ann.id,
    });
    // Ann leaves the shared... her own mailbox is disconnected before the step runs (P5).
    await f.store.setMailboxState(f.firm.id, f.boxes.ann.id, {
      status: "stopped",
      reason: "disconnected_by_user",
      at: new Date(),
    });
    f.clock.advance(61_000);
    await f.settle();
    expect(f.allDeliveries()).toEqual([]);
    expect(await f.store.getOutbox(f.firm.id, queued!.id)).toMatchObject({
      state: "failed",
      lastError: expect.stringContaining("mailbox_sync_stopped"),
    });
    const notices = await f.client.notifications(f.firm.id, f.admin.id);
    expect(notices).toEqual([
      expect.objectContaining({
        kind: "automation_failing",
        payload: expect.objectContaining({ automationId: "Welcome pipeline", mailboxId: f.boxes.ann.id }),
      }),
    ]);
    expect(await f.client.notifications(f.firm.id, f.members.bob.id)).toEqual([]);
    expect(failing).toEqual([
      expect.objectContaining({ automation: "Welcome pipeline", reason: "mailbox_sync_stopped" }),
    ]);
  });

  it("P5: sending from a stopped mailbox fails with a typed error before anything is queued", async () => {
    const f = await makeSendingFirm();
    await f.store.setMailboxState(f.firm.id, f.boxes.ann.id, {
      status: "stopped",
      reason: "auth_revoked",
      at: new Date(),
    });
    const refused = await f.client
      .send(f.firm.id, {
        actor: ann(f),
        mailboxId: f.boxes.ann.id,
        accountIds: [f.accounts.acme.id],
        subject: "x",
        text: "y",
      })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "mailbox_unavailable", reason: "mailbox_sync_stopped" });
    expect(await f.store.listOutbox(f.firm.id)).toEqual([]);
  });

  it("T5, T6: a system notification goes to links with notify and the category on, each with an activation banner until that contact has activated", async () => {
    const f = await makeSendingFirm();
    // Jo: login on, invitation pending. Sam: activated. Both in the family account.
    await f.client.updateLink(f.firm.id, f.links.joFamily.id, { login: true, sendInvitation: true });
    const samToken = "sam-token";
    await f.store.setInvitation(f.firm.id, f.links.samFamily.id, {
      token: samToken,
      email: "sam@home.example",
      status: "accepted",
      sentAt: new Date(),
      acceptedAt: new Date(),
      customMessage: undefined,
    });
    await f.store.updateLink(f.firm.id, f.links.samFamily.id, { login: true });
    await f.store.updateLink(f.firm.id, f.links.petraAcme.id, {
      notifyPreferences: { ...f.links.petraAcme.notifyPreferences, invoices_and_payments: false },
    });
    const result = await f.client.notifyClients(f.firm.id, {
      actor: ann(f),
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.family.id, f.accounts.acme.id],
      category: "invoices_and_payments",
      subject: "Invoice for [ACCOUNT_NAME]",
      text: "Your invoice is ready.",
    });
    expect(result.skipped).toEqual([f.accounts.acme.id]);
    await f.settle();
    const byRecipient = new Map(f.allDeliveries().map((d) => [d.to[0]!.address, d]));
    expect([...byRecipient.keys()].sort()).toEqual(["jo@home.example", "sam@home.example"]);
    expect(byRecipient.get("jo@home.example")!.text).toMatch(/^Your client portal access is waiting/);
    expect(byRecipient.get("sam@home.example")!.text).toBe("Your invoice is ready.");
  });

  it("T5: the weekly transactions digest is scheduled for Monday 09:00 in the recipients' time zone, to links with that category on", async () => {
    const f = await makeSendingFirm();
    await f.store.updateLink(f.firm.id, f.links.samFamily.id, {
      notifyPreferences: { ...f.links.samFamily.notifyPreferences, transactions_digest: false },
    });
    const result = await f.client.scheduleWeeklyDigests(f.firm.id, {
      actor: ann(f),
      mailboxId: f.boxes.ann.id,
      timeZone: "Europe/Berlin",
      digests: [
        {
          accountId: f.accounts.family.id,
          subject: "Your week, [CONTACT_FIRST_NAME]",
          text: "3 transactions",
        },
        {
          accountId: f.accounts.acme.id,
          subject: "Your week",
          text: "1 transaction",
          timeZone: "Asia/Tokyo",
        },
      ],
    });
    expect(
      result.messages.map((m) => (m.draft as { to: Array<{ address: string }> }).to[0]!.address),
    ).toEqual(["jo@home.example", "petra@acme.example"]);
    expect(result.messages[0]!.sendAt).toEqual(nextWeeklyDigestAt(f.clock.now(), "Europe/Berlin"));
    expect(result.messages[1]!.sendAt).toEqual(nextWeeklyDigestAt(f.clock.now(), "Asia/Tokyo"));
    expect(result.messages[0]!.draft).toMatchObject({
      subject: "Your week, Jo",
      kind: { kind: "client_notification", category: "transactions_digest" },
    });
    // S2 across digests: one unknown shortcode queues none of them.
    await expect(
      f.client.scheduleWeeklyDigests(f.firm.id, {
        actor: ann(f),
        mailboxId: f.boxes.ann.id,
        timeZone: "UTC",
        digests: [
          { accountId: f.accounts.acme.id, subject: "ok", text: "ok" },
          { accountId: f.accounts.family.id, subject: "[BALANCE]", text: "x" },
        ],
      }),
    ).rejects.toMatchObject({ code: "unknown_shortcode" });
    expect(await f.store.listOutbox(f.firm.id)).toHaveLength(2);
  });

  it("H5: the Scheduled view lists waiting messages with whether they are due, and failed ones with why", async () => {
    const f = await makeSendingFirm();
    const later = new Date(f.clock.now().getTime() + 60 * 60_000);
    const base = { actor: ann(f), mailboxId: f.boxes.ann.id, accountIds: [f.accounts.acme.id], text: "y" };
    await f.client.send(f.firm.id, { ...base, subject: "Later", sendAt: later });
    f.senderOf(f.boxes.ann.id).failNext(
      "before_accept",
      new ClientMailError("validation_failed", "Recipient address rejected"),
    );
    await f.client.send(f.firm.id, { ...base, subject: "Now" });
    await f.settle();
    const view = await f.client.scheduledView(f.firm.id, f.accounts.acme.id);
    expect(view.map((v) => [v.message.state, v.due, v.error])).toEqual([
      ["failed", false, expect.stringContaining("Recipient address rejected")],
      ["scheduled", false, undefined],
    ]);
  });
});
