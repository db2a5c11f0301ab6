/**
 * Sending end to end, for each provider: through the facade, the PostgreSQL store and job queue,
 * a worker process (`createWorker`) that opens each mailbox's sender and provider itself from
 * keyring-encrypted credentials, and the provider's real send path — SMTP to a real SMTP server
 * delivering into Dovecot, the Gmail fake, the Graph fake. Sent copies come back through the
 * same worker's sync and must be recognised, never stored twice (S5), also where the provider
 * gave the message a Message-ID of its own (Gmail; Graph replies).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import type { SyncWorker } from "@clientmail/core";
import { dovecotAvailability } from "@clientmail/testkit";
import { backends, eventually, headerOf, sendingWorld, type SendingWorld } from "./world.js";

const dovecotSkip = process.env.CLIENTMAIL_TEST_DOVECOT
  ? undefined
  : dovecotAvailability().available
    ? undefined
    : "no Dovecot";

describe.each(backends)("sending through %s", (kind) => {
  const skip = kind === "imap" && dovecotSkip !== undefined;
  let w: SendingWorld;
  let worker: SyncWorker;
  beforeAll(async () => {
    if (skip) return;
    w = await sendingWorld(kind);
    worker = await w.startWorker();
  });
  afterAll(async () => {
    if (!skip) await w.close();
  });

  /** What the backend delivered whose source mentions `marker`. */
  const deliveriesWith = (marker: string) => w.backend.deliveries().filter((d) => d.raw.includes(marker));
  const link = (account: "family" | "acme", email: string) =>
    w[account].links.find((l) => l.email === email)!;
  const sentCopies = async (accountId: string) =>
    (await w.cm.accountThreads(w.firm.id, accountId, "sent")).flatMap((t) =>
      t.messages.filter((m) => m.direction === "outbound"),
    );

  it.skipIf(skip)(
    "S1, S2, S3, T5, P4, S5: a bulk templated send is one message per account to the links with notify on, personalised and signed, recorded with mailbox and actor, filed at once and recognised when sync brings it back",
    async () => {
      const marker = `bulk-${w.token}`;
      await w.cm.updateLink(w.firm.id, link("family", "sam@home.example").id, { notify: false });
      await w.cm.updateMailboxSettings(w.firm.id, w.annBox.id, w.annMember.id, {
        signatureHtml: "<p>Ann of Ledger</p>",
      });
      const result = await w.cm.send(w.firm.id, {
        actor: w.ann,
        mailboxId: w.annBox.id,
        accountIds: [w.family.account.id, w.acme.account.id],
        subject: `Tax season ${marker}`,
        text: "Hello [CONTACT_FIRST_NAME], about [ACCOUNT_NAME].",
        html: "<p>Hello [CONTACT_FIRST_NAME], about [ACCOUNT_NAME].</p>",
      });
      expect(result.messages).toHaveLength(2);
      for (const message of result.messages)
        await eventually(w.sentState(message.id), `message ${message.id} to be sent`);
      const delivered = deliveriesWith(marker);
      // S1: one message per account, never every client in one message; T5: Sam's notify is off.
      expect(delivered.map((d) => d.to).sort()).toEqual([["jo@home.example"], ["petra@acme.example"]]);
      const jo = delivered.find((d) => d.to[0] === "jo@home.example")!;
      const petra = delivered.find((d) => d.to[0] === "petra@acme.example")!;
      // S2: shortcodes resolved per account and recipient.
      expect(jo.raw).toContain("Hello Jo, about Jordan family.");
      expect(petra.raw).toContain("Hello Petra, about Acme.");
      expect(jo.raw).not.toContain("[CONTACT_FIRST_NAME]");
      // S3: the mailbox's signature on SDK-sent mail.
      for (const d of delivered) expect(d.raw).toContain("Ann of Ledger");
      // P4: the mailbox and the actor of each, with an audit entry; the Message-ID as it went out.
      for (const queued of result.messages) {
        const sent = (await w.outbox(queued.id))!;
        expect(sent).toMatchObject({ mailboxId: w.annBox.id, actor: w.ann });
        expect(delivered.map((d) => d.messageId?.toLowerCase())).toContain(sent.messageId?.toLowerCase());
      }
      const audit = (await w.db.store.listAudit(w.firm.id)).filter((e) => e.action === "message.sent");
      expect(audit).toHaveLength(2);
      for (const entry of audit)
        expect(entry).toMatchObject({
          actor: w.annMember.id,
          details: expect.objectContaining({ mailboxId: w.annBox.id, actor: w.ann }),
        });
      // S5: in the Sent view at once, before any sync.
      const copies = await sentCopies(w.acme.account.id);
      expect(
        copies.filter((m) => m.subject === `Tax season ${marker}`).map((m) => m.to[0]?.address),
      ).toContain("petra@acme.example");
      // The provider's copy comes back through sync: recognised (its sighting added), not a second record.
      await worker.requestSync(w.firm.id, w.annBox.id);
      for (const queued of result.messages) {
        const sent = (await w.outbox(queued.id))!;
        await eventually(
          async () => (await w.recordsOf(sent.messageId!)).some((r) => r.sightings.length === 1),
          "the sent copy to come back through sync",
        );
        expect(await w.recordsOf(sent.messageId!)).toHaveLength(1);
      }
      await w.cm.updateLink(w.firm.id, link("family", "sam@home.example").id, { notify: true });
    },
  );

  it.skipIf(skip || kind === "imap")(
    "S1: the sender the worker opens draws on the mailbox's share of the shared pacing (Gmail quota units, Graph request slots)",
    async () => {
      const key = `${kind}:${w.annBox.address}`;
      const before = { takes: w.paced.takes.length, acquires: w.paced.acquires.length };
      const [queued] = (
        await w.cm.send(w.firm.id, {
          actor: w.ann,
          mailboxId: w.annBox.id,
          accountIds: [w.acme.account.id],
          subject: `Paced ${w.token}`,
          text: "x",
        })
      ).messages;
      await eventually(w.sentState(queued!.id), "the paced message to be sent");
      if (kind === "gmail")
        // messages.send costs 100 units of the user's quota, spent through the shared budget.
        expect(w.paced.takes.slice(before.takes)).toContainEqual({ key, units: 100 });
      else
        expect(w.paced.acquires.slice(before.acquires).filter((a) => a.key === key).length).toBeGreaterThan(
          0,
        );
    },
  );

  it.skipIf(skip)(
    "S2: an unknown shortcode is an error naming it before anything is queued; nothing is sent",
    async () => {
      const marker = `unknown-${w.token}`;
      const before = (await w.db.store.listOutbox(w.firm.id)).length;
      const error = await w.cm
        .send(w.firm.id, {
          actor: w.ann,
          mailboxId: w.annBox.id,
          accountIds: [w.acme.account.id],
          subject: `Hello ${marker}`,
          text: "Dear [CONTACT_NICKNAME]",
        })
        .catch((e: unknown) => e);
      expect(ClientMailError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ code: "unknown_shortcode", shortcodes: ["CONTACT_NICKNAME"] });
      expect((await w.db.store.listOutbox(w.firm.id)).length).toBe(before);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(deliveriesWith(marker)).toEqual([]);
    },
  );

  it.skipIf(skip)(
    "S4, H5: a scheduled message is listed under Scheduled, edited while waiting and sent once when due; a cancelled one never goes out",
    async () => {
      const marker = `sched-${w.token}`;
      const sendAt = new Date(Date.now() + 2_500);
      const base = { actor: w.ann, mailboxId: w.annBox.id, accountIds: [w.acme.account.id], sendAt };
      const [kept] = (await w.cm.send(w.firm.id, { ...base, subject: `Kept ${marker}`, text: "Kept" }))
        .messages;
      const [dropped] = (
        await w.cm.send(w.firm.id, { ...base, subject: `Dropped ${marker}`, text: "Dropped" })
      ).messages;
      const view = await w.cm.scheduledView(w.firm.id, w.acme.account.id);
      expect(
        view.filter((i) => i.message.id === kept!.id || i.message.id === dropped!.id).map((i) => i.due),
      ).toEqual([false, false]);
      await w.cm.reschedule(w.firm.id, kept!.id, { by: w.annMember.id, subject: `Edited ${marker}` });
      await w.cm.cancel(w.firm.id, dropped!.id, w.annMember.id);
      await eventually(w.sentState(kept!.id), "the scheduled message to be sent");
      expect((await w.outbox(kept!.id))!.sentAt!.getTime()).toBeGreaterThanOrEqual(sendAt.getTime());
      await new Promise((resolve) => setTimeout(resolve, 500));
      const delivered = deliveriesWith(marker);
      expect(delivered).toHaveLength(1);
      expect(headerOf(delivered[0]!.raw, "Subject") ?? delivered[0]!.raw).toContain(`Edited ${marker}`);
      expect((await w.outbox(dropped!.id))!.state).toBe("cancelled");
      // Once claimed, it can no longer be changed.
      await expect(w.cm.cancel(w.firm.id, kept!.id, w.annMember.id)).rejects.toMatchObject({
        code: "conflict",
      });
    },
  );

  it.skipIf(skip)(
    "S5, S6, H1: a reply carries In-Reply-To and References, goes out in the provider's thread, and comes back through sync into the same thread, stored once",
    async () => {
      const parentId = `<parent-${w.token}@acme.example>`;
      await w.backend.deliverInbound(
        w.annBox.address,
        [
          `From: Petra <petra@acme.example>`,
          `To: ${w.annBox.address}`,
          `Subject: Engagement letter ${w.token}`,
          `Date: ${new Date(Date.now() - 60_000).toUTCString()}`,
          `Message-ID: ${parentId}`,
          "MIME-Version: 1.0",
          "Content-Type: text/plain; charset=utf-8",
          "",
          "Could you send the engagement letter?",
          "",
        ].join("\r\n"),
      );
      await worker.requestSync(w.firm.id, w.annBox.id);
      const threadOf = async () =>
        (await w.cm.accountThreads(w.firm.id, w.acme.account.id)).find((t) =>
          t.messages.some((m) => m.messageId === parentId.slice(1, -1) || m.messageId === parentId),
        );
      await eventually(async () => (await threadOf()) !== undefined, "the client's message to be filed");
      const thread = (await threadOf())!;
      const reply = await w.cm.reply(w.firm.id, {
        actor: w.ann,
        threadId: thread.threadId,
        text: `Here it is ${w.token}`,
      });
      // P3: from the mailbox the client's message arrived in.
      expect(reply.mailboxId).toBe(w.annBox.id);
      await eventually(w.sentState(reply.id), "the reply to be sent");
      const sent = (await w.outbox(reply.id))!;
      const [delivered] = w.backend
        .deliveries()
        .filter((d) => d.messageId?.toLowerCase() === sent.messageId?.toLowerCase());
      expect(delivered).toBeDefined();
      expect(delivered!.to).toEqual(["petra@acme.example"]);
      // S6: RFC 5322 reply headers as they went out.
      expect(headerOf(delivered!.raw, "In-Reply-To")).toBe(parentId);
      expect(headerOf(delivered!.raw, "References")).toContain(parentId);
      // S5: in the thread at once.
      const now = (await w.cm.accountThreads(w.firm.id, w.acme.account.id)).find(
        (t) => t.threadId === thread.threadId,
      )!;
      expect(now.messages.map((m) => m.direction)).toEqual(["inbound", "outbound"]);
      // H1: the copy that sync brings back joins the same thread, recognised, not stored twice.
      await worker.requestSync(w.firm.id, w.annBox.id);
      const outboundOf = async () =>
        (await w.cm.accountThreads(w.firm.id, w.acme.account.id))
          .flatMap((t) => t.messages.map((m) => ({ ...m, threadId: t.threadId })))
          .filter((m) => m.text?.includes(`Here it is ${w.token}`));
      await eventually(
        async () => (await outboundOf()).some((m) => m.sightings.length === 1),
        "the reply's copy to come back through sync",
      );
      const copies = await outboundOf();
      expect(copies).toHaveLength(1);
      expect(copies[0]!.threadId).toBe(thread.threadId);
      expect(copies[0]!.messageId?.toLowerCase()).toBe(sent.messageId?.replace(/^<|>$/g, "").toLowerCase());
    },
  );

  it.skipIf(skip)(
    "P1, P4: a member may send only from a mailbox they connected or whose owner delegates, checked again when sending; a refusal at send time sends nothing and is audited",
    async () => {
      const marker = `perm-${w.token}`;
      const refused = await w.cm
        .send(w.firm.id, {
          actor: w.bob,
          mailboxId: w.annBox.id,
          accountIds: [w.acme.account.id],
          subject: `Bob ${marker}`,
          text: "x",
        })
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: "permission_denied", reason: "not_connected_and_not_delegated" });
      await w.cm.updateMailboxSettings(w.firm.id, w.annBox.id, w.annMember.id, { allowOthersToSend: true });
      const [queued] = (
        await w.cm.send(w.firm.id, {
          actor: w.bob,
          mailboxId: w.annBox.id,
          accountIds: [w.acme.account.id],
          subject: `Bob later ${marker}`,
          text: "x",
          sendAt: new Date(Date.now() + 1_500),
        })
      ).messages;
      await w.cm.updateMailboxSettings(w.firm.id, w.annBox.id, w.annMember.id, { allowOthersToSend: false });
      await eventually(async () => (await w.outbox(queued!.id))?.state === "failed", "the refusal");
      expect((await w.outbox(queued!.id))!.lastError).toContain("not_connected_and_not_delegated");
      expect(deliveriesWith(marker)).toEqual([]);
      const audit = await w.db.store.listAudit(w.firm.id);
      expect(
        audit.find((e) => e.action === "message.refused" && e.subject === `outbox:${queued!.id}`),
      ).toMatchObject({ actor: w.bobMember.id });
    },
  );

  it.skipIf(skip)(
    "P2, P5, N4: an automation runs as its member's mailbox; when that mailbox is stopped at send time it fails with the reason, nothing goes out, and admins get an Inbox+ notice; a stopped mailbox refuses at compose too",
    async () => {
      const marker = `auto-${w.token}`;
      const automation = {
        kind: "automation" as const,
        automationId: `Welcome ${w.token}`,
        runAsMemberId: w.annMember.id,
      };
      const [queued] = (
        await w.cm.send(w.firm.id, {
          actor: automation,
          mailboxId: w.supportBox.id,
          accountIds: [w.acme.account.id],
          subject: `Welcome ${marker}`,
          text: "Hi",
          sendAt: new Date(Date.now() + 1_500),
        })
      ).messages;
      await w.db.store.setMailboxState(w.firm.id, w.supportBox.id, {
        status: "stopped",
        reason: "auth_revoked",
        at: new Date(),
      });
      await eventually(
        async () => (await w.outbox(queued!.id))?.state === "failed",
        "the automation's failure",
      );
      expect((await w.outbox(queued!.id))!.lastError).toContain("mailbox_sync_stopped");
      expect(deliveriesWith(marker)).toEqual([]);
      const notices = await w.cm.notifications(w.firm.id, w.admin.id);
      expect(notices).toContainEqual(
        expect.objectContaining({
          kind: "automation_failing",
          payload: expect.objectContaining({
            automationId: automation.automationId,
            mailboxId: w.supportBox.id,
          }),
        }),
      );
      expect(await w.cm.notifications(w.firm.id, w.bobMember.id)).toEqual([]);
      // P5 at compose time: a typed error, nothing queued.
      const refused = await w.cm
        .send(w.firm.id, {
          actor: w.ann,
          mailboxId: w.supportBox.id,
          accountIds: [w.acme.account.id],
          subject: `Stopped ${marker}`,
          text: "x",
        })
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: "mailbox_unavailable", reason: "mailbox_sync_stopped" });
    },
  );

  it.skipIf(skip)(
    "T5, T6: a system notification goes to the links with notify and the category on, with the activation banner for each contact whose access is pending",
    async () => {
      const marker = `notice-${w.token}`;
      await w.cm.updateLink(w.firm.id, link("family", "sam@home.example").id, { notify: true });
      await w.cm.updateLink(w.firm.id, link("family", "jo@home.example").id, {
        login: true,
        sendInvitation: true,
      });
      const petra = link("acme", "petra@acme.example");
      await w.cm.updateLink(w.firm.id, petra.id, {
        notifyPreferences: { ...petra.notifyPreferences, invoices_and_payments: false },
      });
      const result = await w.cm.notifyClients(w.firm.id, {
        actor: w.ann,
        mailboxId: w.annBox.id,
        accountIds: [w.family.account.id, w.acme.account.id],
        category: "invoices_and_payments",
        subject: `Invoice ${marker}`,
        text: "Your invoice is ready.",
      });
      expect(result.skipped).toEqual([w.acme.account.id]);
      for (const message of result.messages) await eventually(w.sentState(message.id), "the notification");
      const delivered = deliveriesWith(marker);
      expect(delivered.map((d) => d.to).sort()).toEqual([["jo@home.example"], ["sam@home.example"]]);
      const jo = delivered.find((d) => d.to[0] === "jo@home.example")!;
      const sam = delivered.find((d) => d.to[0] === "sam@home.example")!;
      expect(jo.raw).toContain("Your client portal access is waiting");
      expect(sam.raw).not.toContain("Your client portal access is waiting");
      expect(sam.raw).toContain("Your invoice is ready.");
    },
  );
});
