/**
 * R10 end to end on Gmail and Postgres: a contact's mail is synced, threaded, filed into two
 * accounts and its attachment saved to both accounts' documents; then the contact is erased
 * through the facade. Every table of the store is scanned for anything of the contact's mail, the
 * document folder and the blob store are checked, and a resync — new mail, an expired Gmail
 * history that forces a full relisting, and a targeted backfill of the address — must file none
 * of it again, while another client's mail stays untouched.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresWithQueue } from "../../../../test/support/queue.js";
import { createAesGcmKeyring, createClientMail, generateKeyringKey, SyncService } from "@clientmail/core";
import {
  eraseFilesHandler,
  eraseFilesJob,
  invitationHandlers,
  saveAttachmentsHandler,
  saveAttachmentsJob,
} from "@clientmail/core/internal";
import { silentLogger, type JobWorker } from "@clientmail/core/ports";
import {
  buildRawMessage,
  createGmailFake,
  drainJobs,
  FolderDocumentSink,
  scanTablesForNeedles,
  type RawMessageInput,
} from "@clientmail/testkit";
import { createGmailProvider } from "../src/index.js";

if (!process.env.CLIENTMAIL_TEST_DATABASE_URL)
  throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests with `pnpm test`.");

describe("erasing a contact, end to end on Gmail and Postgres", () => {
  let db: Awaited<ReturnType<typeof postgresWithQueue>>;
  let sink: FolderDocumentSink;
  let worker: JobWorker | undefined;
  const token = randomBytes(4).toString("hex");

  beforeAll(async () => {
    db = await postgresWithQueue("e2e_erasure");
    sink = await FolderDocumentSink.create();
    worker = await db.queue.work(
      {
        [saveAttachmentsJob]: saveAttachmentsHandler({
          store: db.store,
          blobs: db.blobs,
          documents: sink,
          logger: silentLogger,
        }),
        [eraseFilesJob]: eraseFilesHandler({ documents: sink, blobs: db.blobs, logger: silentLogger }),
        // T2: the invitations that erasing withdraws are jobs too; nothing to deliver here.
        ...invitationHandlers({ store: db.store, logger: silentLogger, deliver: async () => undefined }),
      },
      { pollIntervalMs: 50 },
    );
  });

  afterAll(async () => {
    await worker?.stop({ timeoutMs: 1_000 });
    await db?.close();
    await sink?.remove();
  });

  it("R10: erasing a contact removes their mail, documents and sources everywhere, is audited, and a resync files none of it again", async () => {
    const domain = "ledger.example";
    const annAddress = `ann-${token}@${domain}`;
    const supportAddress = `support-${token}@${domain}`;
    const jo = `jo-${token}@home.example`;
    const petra = `petra-${token}@acme.example`;
    const secret = {
      subject: `Tax secrets ${token}`,
      body: `Jo-body-${token}`,
      attachment: `jo-passport-${token}.pdf`,
      attachmentContent: `JOPASS-${token}`,
      joint: `Joint meeting ${token}`,
      later: `Still writing ${token}`,
    };
    const fake = createGmailFake();
    const ann = fake.addUser(annAddress);
    const support = fake.addUser(supportAddress);
    const deliver = (mailbox: typeof ann, labels: "INBOX" | "SENT", input: RawMessageInput) =>
      mailbox.addMessage({
        raw: buildRawMessage(input),
        labelIds: labels === "SENT" ? ["SENT"] : ["INBOX", "UNREAD"],
      });
    const day = (h: number) => new Date(Date.UTC(2026, 2, 2, h));

    // The firm: Jo is one contact linked to two accounts (the family's and the bakery's).
    const keyring = createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" });
    // The directory is set up by a facade without a queue (its backfills would wait for workers
    // this test does not run); the erasure goes through one with the queue, as in production.
    const cm = createClientMail({ store: db.store });
    const eraser = createClientMail({ store: db.store, queue: db.queue, documents: sink, blobs: db.blobs });
    const codeOf = (promise: Promise<unknown>) =>
      promise.then(
        () => "resolved",
        (error: { code?: string }) => error.code,
      );
    const firm = await cm.createFirm({ name: `Ledger ${token}`, internalDomains: [domain] });
    const owner = await cm.addMember(firm.id, { name: "Ann", email: annAddress, role: "owner" });
    const employee = await cm.addMember(firm.id, { name: "Eve", email: `eve-${token}@${domain}` });
    const family = await cm.createAccount(firm.id, {
      name: "Jordan family",
      kind: "family",
      contacts: [{ firstName: "Jo", emails: [{ email: jo, emailSync: true, login: true }] }],
    });
    const joContact = family.links[0]!.contactId;
    const bakery = await cm.createAccount(firm.id, {
      name: "Jordan's Bakery",
      kind: "business",
      contacts: [],
    });
    await cm.linkContact(firm.id, bakery.account.id, joContact, { email: jo, emailSync: true });
    const acme = await cm.createAccount(firm.id, {
      name: "Acme",
      kind: "business",
      contacts: [{ firstName: "Petra", emails: [{ email: petra, emailSync: true }] }],
    });
    const annBox = await cm.connectMailbox(firm.id, owner.id, {
      provider: "gmail",
      address: annAddress,
      settings: { autoSaveAttachments: true },
    });
    const supportBox = await cm.connectMailbox(firm.id, owner.id, {
      provider: "gmail",
      address: supportAddress,
      settings: { autoSaveAttachments: true },
    });

    deliver(ann, "INBOX", {
      from: `Jo <${jo}>`,
      to: annAddress,
      subject: secret.subject,
      messageId: `<jo-1-${token}@home.example>`,
      date: day(8),
      text: secret.body,
      attachments: [
        { filename: secret.attachment, contentType: "application/pdf", content: secret.attachmentContent },
      ],
    });
    deliver(ann, "SENT", {
      from: annAddress,
      to: jo,
      subject: `Re: ${secret.subject}`,
      messageId: `<reply-${token}@${domain}>`,
      inReplyTo: `<jo-1-${token}@home.example>`,
      references: [`<jo-1-${token}@home.example>`],
      date: day(9),
      text: `Thanks. ${secret.body}`,
    });
    // Jo only cc'd on another client's mail: it holds Jo's address, so it goes too.
    deliver(support, "INBOX", {
      from: `Petra <${petra}>`,
      to: supportAddress,
      cc: jo,
      subject: secret.joint,
      messageId: `<joint-${token}@acme.example>`,
      date: day(10),
      text: "See you both.",
    });
    // Another client's mail, which must stay.
    deliver(support, "INBOX", {
      from: `Petra <${petra}>`,
      to: supportAddress,
      subject: `VAT Q4 ${token}`,
      messageId: `<vat-${token}@acme.example>`,
      date: day(11),
      text: "Attached the VAT figures.",
      attachments: [{ filename: "vat.pdf", contentType: "application/pdf", content: `VAT-${token}` }],
    });

    const sync = new SyncService({
      store: db.store,
      clock: { now: () => new Date() },
      logger: silentLogger,
      keyring,
      documents: sink,
      queue: db.queue,
      blobs: db.blobs,
      holder: "erasure-e2e",
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
      [supportBox.id, supportAddress],
    ] as const)
      await sync.storeCredentials(
        firm.id,
        mailboxId,
        JSON.stringify({ refreshToken: fake.refreshTokenOf(address) }),
      );
    const syncAll = async () => {
      for (const mailboxId of [annBox.id, supportBox.id])
        expect(await sync.syncMailbox(firm.id, mailboxId)).toBe("ok");
    };
    await syncAll();
    await drainJobs(db.queue);

    const subjects = async (accountId: string) =>
      (await cm.accountThreadsPage(firm.id, accountId)).threads.map((t) => t.messages.map((m) => m.subject));
    expect(await subjects(family.account.id)).toEqual([
      [secret.joint],
      [secret.subject, `Re: ${secret.subject}`],
    ]);
    expect(await subjects(bakery.account.id)).toEqual(await subjects(family.account.id));
    expect((await subjects(acme.account.id)).flat().sort()).toEqual([secret.joint, `VAT Q4 ${token}`].sort());
    const joDocuments = (await sink.list()).filter((d) => d.filename === secret.attachment);
    expect(joDocuments.map((d) => d.accountId).sort()).toEqual([family.account.id, bakery.account.id].sort());
    const joMessages = (await cm.accountThreadsPage(firm.id, family.account.id)).threads.flatMap(
      (t) => t.messages,
    );
    const sourceKeys = joMessages.flatMap((m) => (m.sourceKey ? [m.sourceKey] : []));
    // Sources are kept when the provider hands them over (R11); whatever was kept must go.
    for (const key of sourceKeys) expect(await db.blobs.get(key)).toBeDefined();
    const needles = [jo, ...Object.values(secret)];
    const before = await scanTablesForNeedles(db.pool, needles);
    expect(before.hits.map((h) => h.table)).toEqual(expect.arrayContaining(["links", "messages"]));

    // Only owners and admins may erase; bad input is refused before anything happens.
    expect(await codeOf(eraser.eraseContact(firm.id, joContact, employee.id))).toBe("permission_denied");
    expect(await codeOf(eraser.eraseContact(firm.id, "", owner.id))).toBe("validation_failed");
    expect(await codeOf(eraser.eraseContact(firm.id, "no-such-contact", owner.id))).toBe("not_found");

    const report = await eraser.eraseContact(firm.id, joContact, owner.id);
    expect(report).toMatchObject({
      contactId: joContact,
      messages: 3,
      links: 2,
      addresses: 1,
      documents: 2,
      sources: sourceKeys.length,
      files: "queued",
    });
    await drainJobs(db.queue);

    // Nothing of Jo's mail is left in any table, the documents or the blob store.
    const after = await scanTablesForNeedles(db.pool, needles);
    expect(after.hits).toEqual([]);
    expect(after.tables).toBeGreaterThan(10);
    expect(after.rows).toBeGreaterThan(10);
    expect(await sink.findNeedles([secret.attachment, secret.attachmentContent])).toEqual([]);
    for (const key of sourceKeys) expect(await db.blobs.get(key)).toBeUndefined();
    // Audited: who and when, counts only.
    const [entry] = await db.store.listAudit(firm.id, 1);
    expect(entry).toMatchObject({
      actor: owner.id,
      action: "contact.erased",
      subject: `contact:${joContact}`,
    });
    expect(JSON.stringify(entry)).not.toContain(jo);
    // Petra's own mail and document are untouched; the accounts stay.
    expect(await subjects(acme.account.id)).toEqual([[`VAT Q4 ${token}`]]);
    expect((await sink.list()).map((d) => d.filename)).toEqual(["vat.pdf"]);
    expect((await cm.listAccounts(firm.id)).map((a) => [a.account.name, a.links.length])).toEqual([
      ["Acme", 1],
      ["Jordan family", 0],
      ["Jordan's Bakery", 0],
    ]);

    // Resync: Jo writes again, Gmail's history expires (a full relisting of Ann's mailbox), and
    // the address is backfilled on purpose. None of it is filed.
    deliver(ann, "INBOX", {
      from: `Jo <${jo}>`,
      to: annAddress,
      subject: secret.later,
      messageId: `<jo-2-${token}@home.example>`,
      date: day(12),
      text: secret.body,
    });
    ann.expireHistory();
    // The shared mailbox still holds Petra's mail that cc'd Jo: relisted, Petra's link would file
    // it again but for the tombstone.
    support.expireHistory();
    await syncAll();
    const backfill = await sync.backfillAddresses(firm.id, [jo]);
    expect(backfill.every((outcome) => outcome.error === undefined)).toBe(true);
    expect(backfill.reduce((sum, outcome) => sum + outcome.filed, 0)).toBe(0);
    await drainJobs(db.queue);
    await sync.closeAll();
    const resynced = await scanTablesForNeedles(db.pool, needles);
    expect(resynced.hits).toEqual([]);
    expect(
      (await db.pool.query("SELECT count(*)::int AS n FROM messages WHERE firm_id = $1", [firm.id])).rows[0],
    ).toEqual({ n: 1 });
    expect((await cm.inboxPlus(firm.id, owner.id)).threads.map((t) => t.messages[0]!.subject)).toEqual([
      `VAT Q4 ${token}`,
    ]);
  });
});
