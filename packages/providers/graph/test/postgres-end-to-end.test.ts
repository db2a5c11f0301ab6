/**
 * End to end on Microsoft Graph and Postgres: three fake Outlook mailboxes (two personal, one
 * shared mailbox both members open with Full Access) with mixed client and personal mail, synced
 * by the engine through the Graph provider into the Postgres store; then one more address gets
 * email sync and its history is backfilled with `$search`. Finally every table (and the document
 * folder) is scanned for anything of the personal mail: nothing may be found.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresWithQueue } from "../../../../test/support/queue.js";
import { createAesGcmKeyring, createClientMail, generateKeyringKey, SyncService } from "@clientmail/core";
import { silentLogger, type Store } from "@clientmail/core/ports";
import {
  createGraphFake,
  scanTablesForNeedles,
  type GraphFakeMailbox,
  type GraphFakeMessageInput,
  createEndToEndFirm,
  FolderDocumentSink,
  personalMarkers,
} from "@clientmail/testkit";
import { createGraphProvider } from "../src/index.js";

const databaseUrl = process.env.CLIENTMAIL_TEST_DATABASE_URL;
if (!databaseUrl) throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests with `pnpm test`.");

/** What the host keeps (encrypted) per connected Outlook mailbox. */
interface GraphCredentials {
  /** The signed-in member whose token opens the mailbox. */
  user: string;
  /** True when the mailbox is not the member's own (a shared mailbox opened with Full Access). */
  shared: boolean;
}

describe("graph end to end on Postgres", () => {
  let db: Awaited<ReturnType<typeof postgresWithQueue>>;
  let pool: pg.Pool;
  let store: Store;
  let sink: FolderDocumentSink;
  const token = randomBytes(4).toString("hex");
  const personal = personalMarkers(token);

  beforeAll(async () => {
    db = await postgresWithQueue("e2e_graph");
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
    const domain = `ledger-${token}.example`;
    const annAddress = `ann@${domain}`;
    const bobAddress = `bob@${domain}`;
    const supportAddress = `support@${domain}`;
    const fake = createGraphFake();
    const ann = fake.addMailbox(annAddress, { displayName: "Ann" });
    const bob = fake.addMailbox(bobAddress, { displayName: "Bob" });
    const support = fake.addMailbox(supportAddress, {
      displayName: "Support",
      delegates: [annAddress, bobAddress],
    });

    const cm = createClientMail({ store });
    const { firm, family, bakery, acme, annBox, bobBox, supportBox } = await createEndToEndFirm(cm, {
      provider: "graph",
      token,
      addresses: { domain, ann: annAddress, bob: bobAddress, support: supportAddress },
    });

    const day = (h: number) => new Date(Date.UTC(2026, 2, 2, h));
    const deliver = (mailbox: GraphFakeMailbox, input: GraphFakeMessageInput) => mailbox.addMessage(input);
    // A client writes to Ann and copies Bob: the same message lands in both mailboxes.
    const toBoth: GraphFakeMessageInput = {
      from: { name: "Jo", address: "jo@home.example" },
      to: [annAddress],
      cc: [bobAddress],
      subject: "Receipts 2025",
      messageId: `<receipts-${token}@home.example>`,
      date: day(8),
      text: "Here are the receipts.",
      attachments: [{ filename: "receipts.pdf", contentType: "application/pdf", content: "%PDF receipts" }],
    };
    const receiptsIds = [deliver(ann, toBoth), deliver(bob, toBoth)];
    deliver(ann, {
      folder: "sentitems",
      from: annAddress,
      to: ["jo@home.example"],
      subject: "Re: Receipts 2025",
      messageId: `<reply-${token}@${domain}>`,
      inReplyTo: `<receipts-${token}@home.example>`,
      references: [`<receipts-${token}@home.example>`],
      date: day(9),
      text: "Thanks, Jo.",
    });
    // A client's reply that arrives before its parent (the parent is sent from Ann's mailbox later).
    deliver(support, {
      from: { name: "Petra", address: "petra@acme.example" },
      to: [supportAddress],
      subject: "AW: VAT Q4",
      messageId: `<vat-2-${token}@acme.example>`,
      inReplyTo: `<vat-1-${token}@${domain}>`,
      references: [`<vat-1-${token}@${domain}>`],
      date: day(11),
      text: "Attached.",
    });
    // Personal and internal mail, which must leave no trace.
    const personalIds = new Map<GraphFakeMailbox, string[]>([
      [ann, []],
      [bob, []],
      [support, []],
    ]);
    const deliverPersonal = (mailbox: GraphFakeMailbox, input: GraphFakeMessageInput) =>
      personalIds.get(mailbox)!.push(deliver(mailbox, input));
    deliverPersonal(ann, {
      from: personal.address,
      to: [annAddress],
      subject: personal.subject,
      messageId: `<holiday-${token}@personal.example>`,
      date: day(10),
      text: personal.body,
      attachments: [
        { filename: personal.attachment, contentType: "application/pdf", content: personal.body },
      ],
    });
    // Mail among team members only, the shared mailbox in copy.
    const lunch: GraphFakeMessageInput = {
      from: annAddress,
      to: [bobAddress],
      cc: [supportAddress],
      subject: personal.internalSubject,
      messageId: `<lunch-${token}@${domain}>`,
      date: day(10),
      text: personal.body,
    };
    deliverPersonal(bob, lunch);
    deliverPersonal(support, lunch);
    deliverPersonal(ann, { ...lunch, folder: "sentitems" });
    deliverPersonal(support, {
      from: personal.newsletterSender,
      to: [supportAddress],
      subject: personal.newsletter,
      date: day(7),
      text: personal.body,
    });
    // Sam is a contact, but without email sync until later: filed only by the backfill.
    deliver(bob, {
      from: { name: "Sam", address: "sam@home.example" },
      to: [bobAddress],
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
      holder: "graph-e2e",
      sleep: async () => undefined,
      providerFor: (mailbox, credentials) => {
        const { user, shared } = JSON.parse(credentials!) as GraphCredentials;
        const accessToken = fake.accessTokenFor(user);
        return createGraphProvider({
          mailbox: mailbox.address,
          shared,
          getAccessToken: async () => accessToken,
          fetch: fake.fetch,
          sleep: async () => undefined,
          pageSize: 3,
        });
      },
    });
    const credentials: [string, GraphCredentials][] = [
      [annBox.id, { user: annAddress, shared: false }],
      [bobBox.id, { user: bobAddress, shared: false }],
      // The shared mailbox is opened with the token of the member who connected it.
      [supportBox.id, { user: annAddress, shared: true }],
    ];
    for (const [mailboxId, secret] of credentials)
      await sync.storeCredentials(firm.id, mailboxId, JSON.stringify(secret));

    // Bob and the shared mailbox first, so the reply is filed before its parent.
    for (const mailboxId of [supportBox.id, bobBox.id, annBox.id])
      expect(await sync.syncMailbox(firm.id, mailboxId)).toBe("ok");
    deliver(ann, {
      folder: "sentitems",
      from: annAddress,
      to: ["petra@acme.example"],
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
    // H1/H3: one thread per conversation, in order of sending, whatever order it arrived in.
    expect(await view(family.account.id)).toEqual([["inbound:Receipts 2025", "outbound:Re: Receipts 2025"]]);
    // F5: a contact in two accounts puts the same thread in both.
    expect(await view(bakery.account.id)).toEqual(await view(family.account.id));
    expect(await view(acme.account.id)).toEqual([["outbound:VAT Q4", "inbound:AW: VAT Q4"]]);
    // Y2: the client's message seen in Ann's and Bob's mailboxes is stored once, with two sightings.
    const receipts = (await cm.accountThreads(firm.id, family.account.id))[0]!.messages[0]!;
    expect(receipts.sightings.map((sighting) => sighting.mailboxId).sort()).toEqual(
      [annBox.id, bobBox.id].sort(),
    );
    await db.drain();
    expect((await sink.list()).map((saved) => saved.accountId).sort()).toEqual(
      [bakery.account.id, family.account.id].sort(),
    );

    // T7/Y5: email sync turned on for Sam backfills Sam's history from every mailbox with $search.
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
    expect(fake.requests.some((r) => r.operation === "listMessages" && r.url.includes("$search="))).toBe(
      true,
    );
    await sync.closeAll();

    // F1: no personal message's content was ever requested from Graph.
    const contentRequests = fake.requests.filter(
      (r) => r.operation === "getMime" || (r.inBatch && r.operation === "getMessage"),
    );
    expect(contentRequests.length).toBeGreaterThan(0);
    const touched = new Set(
      contentRequests.map((r) =>
        decodeURIComponent(/\/messages\/([^/?]+)/.exec(new URL(r.url).pathname)![1]!),
      ),
    );
    expect(receiptsIds.some((id) => touched.has(id))).toBe(true);
    for (const ids of personalIds.values())
      for (const id of ids) expect(touched.has(id), `content of ${id} was fetched`).toBe(false);

    // Privacy: nothing of the personal or internal mail is anywhere in the store or documents.
    const forbidden = [...Object.values(personal), `news-${token}`];
    const scan = await scanTablesForNeedles(pool, forbidden);
    expect(scan.hits).toEqual([]);
    expect(scan.tables).toBeGreaterThan(5);
    expect(scan.rows).toBeGreaterThan(10);
    expect(await sink.findNeedles(forbidden)).toEqual([]);
    // The client mail itself is there, so the scan would have seen personal mail had it been stored.
    const clientNeedles = ["Here are the receipts.", `receipts-${token}@home.example`, "receipts.pdf"];
    const control = await scanTablesForNeedles(pool, clientNeedles);
    expect(new Set(control.hits.map((hit) => hit.needle))).toEqual(new Set(clientNeedles));
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
