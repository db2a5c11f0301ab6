/**
 * End to end on Gmail and Postgres: three fake Gmail mailboxes with mixed client and personal
 * mail, synced by the engine through the Gmail provider into the Postgres store; then one more
 * address gets email sync and its history is backfilled with a `q` search. Finally every table
 * (and the document folder) is scanned for anything of the personal mail: nothing may be found.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresWithQueue } from "../../../../test/support/queue.js";
import { createAesGcmKeyring, createClientMail, generateKeyringKey, SyncService } from "@clientmail/core";
import { silentLogger, type Store } from "@clientmail/core/ports";
import {
  buildRawMessage,
  createGmailFake,
  scanTablesForNeedles,
  type RawMessageInput,
  createEndToEndFirm,
  FolderDocumentSink,
  personalMarkers,
} from "@clientmail/testkit";
import { createGmailProvider } from "../src/index.js";

const databaseUrl = process.env.CLIENTMAIL_TEST_DATABASE_URL;
// Never skip: a run without a server must fail loudly.
if (!databaseUrl) throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests with `pnpm test`.");

describe("gmail end to end on Postgres", () => {
  let db: Awaited<ReturnType<typeof postgresWithQueue>>;
  let pool: pg.Pool;
  let store: Store;
  let sink: FolderDocumentSink;
  const token = randomBytes(4).toString("hex");
  const personal = personalMarkers(token);

  beforeAll(async () => {
    db = await postgresWithQueue("e2e_gmail");
    pool = db.pool;
    store = db.store;
    sink = await FolderDocumentSink.create();
    await db.startWorker(sink);
  });

  afterAll(async () => {
    await db?.close();
    await sink?.remove();
  });

  it("F1 F5 H1 H3 Y2 Y5: files exactly the client mail, once, threaded, in every account; backfills a newly synced address; stores nothing personal", async () => {
    const domain = "ledger.example";
    const annAddress = `ann-${token}@${domain}`;
    const bobAddress = `bob-${token}@${domain}`;
    const supportAddress = `support-${token}@${domain}`;
    const fake = createGmailFake();
    const ann = fake.addUser(annAddress);
    const bob = fake.addUser(bobAddress);
    const support = fake.addUser(supportAddress);

    const cm = createClientMail({ store });
    const { firm, family, bakery, acme, annBox, bobBox, supportBox } = await createEndToEndFirm(cm, {
      provider: "gmail",
      token,
      addresses: { domain, ann: annAddress, bob: bobAddress, support: supportAddress },
    });

    const day = (h: number) => new Date(Date.UTC(2026, 2, 2, h));
    const deliver = (mailbox: typeof ann, labels: "INBOX" | "SENT", input: RawMessageInput) =>
      mailbox.addMessage({
        raw: buildRawMessage(input),
        labelIds: labels === "SENT" ? ["SENT"] : ["INBOX", "UNREAD"],
      });
    const toBoth: RawMessageInput = {
      from: "Jo <jo@home.example>",
      to: annAddress,
      cc: bobAddress,
      subject: "Receipts 2025",
      messageId: `<receipts-${token}@home.example>`,
      date: day(8),
      text: "Here are the receipts.",
      attachments: [{ filename: "receipts.pdf", contentType: "application/pdf", content: "%PDF receipts" }],
    };
    deliver(ann, "INBOX", toBoth);
    deliver(bob, "INBOX", toBoth);
    deliver(ann, "SENT", {
      from: annAddress,
      to: "jo@home.example",
      subject: "Re: Receipts 2025",
      messageId: `<reply-${token}@${domain}>`,
      inReplyTo: `<receipts-${token}@home.example>`,
      references: [`<receipts-${token}@home.example>`],
      date: day(9),
      text: "Thanks, Jo.",
    });
    // A client's reply that arrives before its parent (the parent is sent from Ann's mailbox later).
    deliver(support, "INBOX", {
      from: "Petra <petra@acme.example>",
      to: supportAddress,
      subject: "AW: VAT Q4",
      messageId: `<vat-2-${token}@acme.example>`,
      inReplyTo: `<vat-1-${token}@${domain}>`,
      references: [`<vat-1-${token}@${domain}>`],
      date: day(11),
      text: "Attached.",
    });
    // Personal and internal mail, which must leave no trace.
    deliver(ann, "INBOX", {
      from: personal.address,
      to: annAddress,
      subject: personal.subject,
      messageId: `<holiday-${token}@personal.example>`,
      date: day(10),
      text: personal.body,
      attachments: [
        { filename: personal.attachment, contentType: "application/pdf", content: personal.body },
      ],
    });
    deliver(bob, "INBOX", {
      from: annAddress,
      to: bobAddress,
      cc: supportAddress,
      subject: personal.internalSubject,
      messageId: `<lunch-${token}@${domain}>`,
      date: day(10),
      text: personal.body,
    });
    deliver(support, "INBOX", {
      from: personal.newsletterSender,
      to: supportAddress,
      subject: personal.newsletter,
      date: day(7),
      text: personal.body,
    });
    deliver(bob, "INBOX", {
      from: "Sam <sam@home.example>",
      to: bobAddress,
      subject: "Question about my return",
      messageId: `<sam-${token}@home.example>`,
      date: day(6),
      text: "A question.",
    });

    const keyring = createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" });
    const sync = new SyncService({
      store,
      clock: { now: () => new Date() },
      logger: silentLogger,
      keyring,
      documents: sink,
      queue: db.queue,
      blobs: db.blobs,
      holder: "gmail-e2e",
      sleep: async () => undefined,
      providerFor: (mailbox, credentials) => {
        const { refreshToken } = JSON.parse(credentials!) as { refreshToken: string };
        return createGmailProvider({
          credentials: { ...fake.oauthClient, refreshToken },
          emailAddress: mailbox.address,
          fetch: fake.fetch,
          pageSize: 3,
        });
      },
    });
    for (const [mailboxId, address] of [
      [annBox.id, annAddress],
      [bobBox.id, bobAddress],
      [supportBox.id, supportAddress],
    ] as const) {
      await sync.storeCredentials(
        firm.id,
        mailboxId,
        JSON.stringify({ refreshToken: fake.refreshTokenOf(address) }),
      );
    }

    // Bob and the shared mailbox first, so the reply is filed before its parent.
    for (const mailboxId of [supportBox.id, bobBox.id, annBox.id])
      expect(await sync.syncMailbox(firm.id, mailboxId)).toBe("ok");
    deliver(ann, "SENT", {
      from: annAddress,
      to: "petra@acme.example",
      subject: "VAT Q4",
      messageId: `<vat-1-${token}@${domain}>`,
      date: day(7),
      text: "Please send the VAT figures.",
    });
    expect(await sync.syncMailbox(firm.id, annBox.id)).toBe("ok");

    const view = async (accountId: string) =>
      (await cm.accountThreads(firm.id, accountId)).map((thread) =>
        thread.messages.map((message) => `${message.direction}:${message.subject}`),
      );
    expect(await view(family.account.id)).toEqual([["inbound:Receipts 2025", "outbound:Re: Receipts 2025"]]);
    expect(await view(bakery.account.id)).toEqual(await view(family.account.id));
    expect(await view(acme.account.id)).toEqual([["outbound:VAT Q4", "inbound:AW: VAT Q4"]]);
    const receipts = (await cm.accountThreads(firm.id, family.account.id))[0]!.messages[0]!;
    expect(receipts.sightings.map((sighting) => sighting.mailboxId).sort()).toEqual(
      [annBox.id, bobBox.id].sort(),
    );
    await db.drain();
    expect((await sink.list()).map((saved) => saved.accountId).sort()).toEqual(
      [bakery.account.id, family.account.id].sort(),
    );

    // T7/Y5: email sync turned on for Sam backfills Sam's history from every mailbox with q.
    const requested: string[][] = [];
    cm.on("backfill.requested", (event) => requested.push(event.addresses));
    await cm.updateLink(firm.id, family.links.find((link) => link.email === "sam@home.example")!.id, {
      emailSync: true,
    });
    expect(requested).toEqual([["sam@home.example"]]);
    const outcomes = await sync.backfillAddresses(firm.id, requested[0]!);
    expect(outcomes.every((outcome) => outcome.error === undefined)).toBe(true);
    expect(outcomes.reduce((sum, outcome) => sum + outcome.filed, 0)).toBe(1);
    expect((await view(family.account.id)).flat()).toContain("inbound:Question about my return");
    await sync.closeAll();

    // F1: no personal message's content was ever requested from Gmail.
    const contentIds = new Set(
      fake.calls
        .filter((call) => call.method === "users.messages.get" && call.url.includes("format=raw"))
        .map((call) => /\/messages\/([0-9a-f]+)/.exec(call.url)![1]!),
    );
    for (const mailbox of [ann, bob, support]) {
      for (const message of mailbox.messages.values()) {
        const isPersonal = message.text.includes(personal.body.toLowerCase());
        if (isPersonal)
          expect(contentIds.has(message.id), `content of ${message.id} was fetched`).toBe(false);
      }
    }

    // Privacy: nothing of the personal or internal mail is anywhere in the store or documents.
    const forbidden = [...Object.values(personal), `news-${token}`];
    const scan = await scanTablesForNeedles(pool, forbidden);
    expect(scan.hits).toEqual([]);
    expect(scan.tables).toBeGreaterThan(5);
    expect(scan.rows).toBeGreaterThan(10);
    expect(await sink.findNeedles(forbidden)).toEqual([]);
    const stored = (
      await pool.query<{ row: string }>(
        "SELECT row_to_json(t)::text AS row FROM messages t WHERE firm_id = $1",
        [firm.id],
      )
    ).rows
      .map((row) => row.row)
      .join("\n");
    expect(stored).toContain("Here are the receipts.");
  });
});
