/**
 * End to end on real servers: Dovecot mailboxes with mixed client and personal mail, synced by
 * the engine through the IMAP provider into the Postgres store. Then one more address gets email
 * sync and its history is backfilled. Finally every table (and the document folder) is scanned
 * for anything of the personal mail: nothing may be found.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresWithQueue } from "../support/queue.js";
import { createAesGcmKeyring, createClientMail, generateKeyringKey, SyncService } from "@clientmail/core";
import { silentLogger, type Store } from "@clientmail/core/ports";
import { createImapProvider } from "@clientmail/imap";
import {
  appendToDovecot,
  attachDovecot,
  dovecotAvailability,
  loopbackHostPolicy,
  startDovecot,
  type DovecotInfo,
  type DovecotServer,
  type DovecotUser,
  scanTablesForNeedles,
  createEndToEndFirm,
  FolderDocumentSink,
  personalMarkers,
} from "@clientmail/testkit";

const databaseUrl = process.env.CLIENTMAIL_TEST_DATABASE_URL;
if (!databaseUrl) throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests with `pnpm test`.");
const availability = dovecotAvailability();
const skipReason = process.env.CLIENTMAIL_TEST_DOVECOT
  ? undefined
  : availability.available
    ? undefined
    : availability.reason;
if (skipReason && process.env.CI) throw new Error(`Dovecot is required in CI: ${skipReason}`);

interface Mail {
  from: string;
  to: string;
  cc?: string;
  subject: string;
  messageId?: string;
  inReplyTo?: string;
  date: string;
  body: string;
  attachment?: { name: string; content: string };
}

function rfc822(mail: Mail): string {
  const headers = [
    `From: ${mail.from}`,
    `To: ${mail.to}`,
    ...(mail.cc ? [`Cc: ${mail.cc}`] : []),
    `Subject: ${mail.subject}`,
    `Date: ${mail.date}`,
    ...(mail.messageId ? [`Message-ID: ${mail.messageId}`] : []),
    ...(mail.inReplyTo ? [`In-Reply-To: ${mail.inReplyTo}`, `References: ${mail.inReplyTo}`] : []),
    "MIME-Version: 1.0",
  ];
  if (!mail.attachment)
    return [...headers, "Content-Type: text/plain; charset=utf-8", "", mail.body, ""].join("\r\n");
  const boundary = "b-" + randomBytes(6).toString("hex");
  return [
    ...headers,
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=utf-8",
    "",
    mail.body,
    `--${boundary}`,
    `Content-Type: application/pdf; name="${mail.attachment.name}"`,
    `Content-Disposition: attachment; filename="${mail.attachment.name}"`,
    "Content-Transfer-Encoding: base64",
    "",
    Buffer.from(mail.attachment.content).toString("base64"),
    `--${boundary}--`,
    "",
  ].join("\r\n");
}

async function deliver(
  server: DovecotServer,
  user: DovecotUser,
  folder: "INBOX" | "Sent",
  mail: Mail,
): Promise<void> {
  await appendToDovecot(server, user, [{ raw: rfc822(mail), folder, date: new Date(mail.date) }]);
}

describe.skipIf(skipReason !== undefined)(
  `end to end on Dovecot and Postgres${skipReason ? ` (skipped: ${skipReason})` : ""}`,
  () => {
    let server: DovecotServer;
    let db: Awaited<ReturnType<typeof postgresWithQueue>>;
    let pool: pg.Pool;
    let store: Store;
    let sink: FolderDocumentSink;
    const token = randomBytes(4).toString("hex");
    const personal = personalMarkers(token);

    beforeAll(async () => {
      const info = process.env.CLIENTMAIL_TEST_DOVECOT;
      server = info ? attachDovecot(JSON.parse(info) as DovecotInfo) : await startDovecot();
      db = await postgresWithQueue("e2e_imap");
      pool = db.pool;
      store = db.store;
      sink = await FolderDocumentSink.create();
      await db.startWorker(sink);
    });

    afterAll(async () => {
      await db?.close();
      if (!process.env.CLIENTMAIL_TEST_DOVECOT) await server?.stop();
      await sink?.remove();
    });

    it("F1 F4 F5 H1 H3 Y2 Y5: files exactly the client mail, once, threaded, in every account; backfills a newly synced address; stores nothing personal", async () => {
      const ann = await server.addUser(`ann-${token}`);
      const bob = await server.addUser(`bob-${token}`);
      const support = await server.addUser(`support-${token}`);
      const domain = "ledger.example";
      const annAddress = `ann-${token}@${domain}`;
      const bobAddress = `bob-${token}@${domain}`;
      const supportAddress = `support-${token}@${domain}`;

      const cm = createClientMail({ store });
      const { firm, family, bakery, acme, annBox, bobBox, supportBox } = await createEndToEndFirm(cm, {
        provider: "imap",
        token,
        addresses: { domain, ann: annAddress, bob: bobAddress, support: supportAddress },
      });

      const day = (h: number) => `Mon, 2 Mar 2026 ${String(h).padStart(2, "0")}:00:00 +0000`;
      // A client writes to two team members at once (F5: one stored message).
      const toBoth: Mail = {
        from: "Jo <jo@home.example>",
        to: annAddress,
        cc: bobAddress,
        subject: "Receipts 2025",
        messageId: `<receipts-${token}@home.example>`,
        date: day(8),
        body: "Here are the receipts.",
        attachment: { name: "receipts.pdf", content: "%PDF receipts" },
      };
      await deliver(server, ann, "INBOX", toBoth);
      await deliver(server, bob, "INBOX", toBoth);
      // Ann's reply, in her Sent folder.
      await deliver(server, ann, "Sent", {
        from: annAddress,
        to: "jo@home.example",
        subject: "Re: Receipts 2025",
        messageId: `<reply-${token}@${domain}>`,
        inReplyTo: `<receipts-${token}@home.example>`,
        date: day(9),
        body: "Thanks, Jo.",
      });
      // The shared mailbox: a client's reply that arrives before its parent (the parent is in Ann's Sent).
      await deliver(server, support, "INBOX", {
        from: "Petra <petra@acme.example>",
        to: supportAddress,
        subject: "AW: VAT Q4",
        messageId: `<vat-2-${token}@acme.example>`,
        inReplyTo: `<vat-1-${token}@${domain}>`,
        date: day(11),
        body: "Attached.",
      });
      // Personal and internal mail, which must leave no trace.
      await deliver(server, ann, "INBOX", {
        from: personal.address,
        to: annAddress,
        subject: personal.subject,
        messageId: `<holiday-${token}@personal.example>`,
        date: day(10),
        body: personal.body,
        attachment: { name: personal.attachment, content: personal.body },
      });
      await deliver(server, bob, "INBOX", {
        from: annAddress,
        to: bobAddress,
        cc: supportAddress,
        subject: personal.internalSubject,
        messageId: `<lunch-${token}@${domain}>`,
        date: day(10),
        body: personal.body,
      });
      await deliver(server, support, "INBOX", {
        from: personal.newsletterSender,
        to: supportAddress,
        subject: personal.newsletter,
        date: day(7),
        body: personal.body,
      });
      // Sam's old mail: not filed while Sam's email sync is off.
      await deliver(server, bob, "INBOX", {
        from: "Sam <sam@home.example>",
        to: bobAddress,
        subject: "Question about my return",
        messageId: `<sam-${token}@home.example>`,
        date: day(6),
        body: "A question.",
      });

      const keyring = createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" });
      const users = new Map([
        [annBox.id, ann],
        [bobBox.id, bob],
        [supportBox.id, support],
      ]);
      const sync = new SyncService({
        store,
        clock: { now: () => new Date() },
        logger: silentLogger,
        keyring,
        documents: sink,
        queue: db.queue,
        blobs: db.blobs,
        holder: "e2e",
        sleep: async () => undefined,
        providerFor: (mailbox, credentials) => {
          const { user, password } = JSON.parse(credentials!) as DovecotUser & { password: string };
          return createImapProvider({
            host: server.host,
            port: server.port,
            security: "none",
            hostPolicy: loopbackHostPolicy,
            user,
            password,
            pageSize: 3,
          });
        },
      });
      for (const [mailboxId, user] of users)
        await sync.storeCredentials(
          firm.id,
          mailboxId,
          JSON.stringify({ user: user.user, password: user.password }),
        );

      // Bob and the shared mailbox first, so the reply is filed before its parent.
      for (const mailboxId of [supportBox.id, bobBox.id, annBox.id])
        expect(await sync.syncMailbox(firm.id, mailboxId)).toBe("ok");
      // Ann sends the parent of Petra's reply only now (late parent: H3 merge).
      await deliver(server, ann, "Sent", {
        from: annAddress,
        to: "petra@acme.example",
        subject: "VAT Q4",
        messageId: `<vat-1-${token}@${domain}>`,
        date: day(7),
        body: "Please send the VAT figures.",
      });
      expect(await sync.syncMailbox(firm.id, annBox.id)).toBe("ok");

      const view = async (accountId: string) =>
        (await cm.accountThreads(firm.id, accountId)).map((t) =>
          t.messages.map((m) => `${m.direction}:${m.subject}`),
        );
      expect(await view(family.account.id)).toEqual([
        ["inbound:Receipts 2025", "outbound:Re: Receipts 2025"],
      ]);
      expect(await view(bakery.account.id)).toEqual(await view(family.account.id));
      expect(await view(acme.account.id)).toEqual([["outbound:VAT Q4", "inbound:AW: VAT Q4"]]);
      const receipts = (await cm.accountThreads(firm.id, family.account.id))[0]!.messages[0]!;
      expect(receipts.sightings.map((s) => s.mailboxId).sort()).toEqual([annBox.id, bobBox.id].sort());
      // F9: the receipts attachment was saved once per account (Ann's mailbox auto-saves).
      await db.drain();
      expect((await sink.list()).map((s) => s.accountId).sort()).toEqual(
        [bakery.account.id, family.account.id].sort(),
      );

      // T7/Y5: email sync turned on for Sam backfills Sam's history from every mailbox.
      const requested: string[][] = [];
      cm.on("backfill.requested", (event) => requested.push(event.addresses));
      await cm.updateLink(firm.id, family.links.find((l) => l.email === "sam@home.example")!.id, {
        emailSync: true,
      });
      expect(requested).toEqual([["sam@home.example"]]);
      const outcomes = await sync.backfillAddresses(firm.id, requested[0]!);
      expect(outcomes.every((o) => o.error === undefined)).toBe(true);
      expect(outcomes.reduce((sum, o) => sum + o.filed, 0)).toBe(1);
      expect((await view(family.account.id)).flat()).toContain("inbound:Question about my return");
      await sync.closeAll();

      // Privacy: nothing of the personal or internal mail is anywhere in the store or documents.
      const forbidden = [...Object.values(personal), `news-${token}`];
      const scan = await scanTablesForNeedles(pool, forbidden);
      expect(scan.hits).toEqual([]);
      expect(scan.tables).toBeGreaterThan(5);
      expect(scan.rows).toBeGreaterThan(10);
      expect(await sink.findNeedles(forbidden)).toEqual([]);
      // The client mail itself is there, so the scan would have seen personal mail had it been stored.
      const stored = (
        await pool.query<{ row: string }>(
          "SELECT row_to_json(t)::text AS row FROM messages t WHERE firm_id = $1",
          [firm.id],
        )
      ).rows
        .map((r) => r.row)
        .join("\n");
      expect(stored).toContain("Here are the receipts.");
    });
  },
);
