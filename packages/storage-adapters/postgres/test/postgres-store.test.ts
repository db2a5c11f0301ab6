import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { defaultNotifyPreferences } from "@clientmail/core";
import { storeConformance } from "@clientmail/testkit/vitest";
import { createPostgresStore, migrate } from "../src/index.js";

const url = process.env.CLIENTMAIL_TEST_DATABASE_URL;
if (!url) {
  // Never skip: a run without a server must fail loudly.
  throw new Error(
    "CLIENTMAIL_TEST_DATABASE_URL is not set. Run the tests with `pnpm test` (test/global-setup.ts starts PostgreSQL) or point it at a database.",
  );
}

const pool = new pg.Pool({ connectionString: url, max: 20 });
const migrated = migrate(pool);
afterAll(async () => {
  await pool.end();
});

storeConformance({
  name: "postgres",
  makeStore: async () => {
    await migrated;
    const store = createPostgresStore({ pool });
    return {
      store,
      raw: {
        countMessages: async (firmId) =>
          Number(
            (await pool.query("SELECT count(*) AS n FROM messages WHERE firm_id = $1", [firmId])).rows[0].n,
          ),
        countSightings: async (firmId) =>
          Number(
            (await pool.query("SELECT count(*) AS n FROM message_sightings WHERE firm_id = $1", [firmId]))
              .rows[0].n,
          ),
        storedCredentials: async (firmId, mailboxId) =>
          (
            await pool.query("SELECT credentials FROM mailboxes WHERE firm_id = $1 AND id = $2", [
              firmId,
              mailboxId,
            ])
          ).rows[0]?.credentials ?? undefined,
      },
    };
  },
});

describe("postgres store specifics", () => {
  it("F4: link ids with quotes, commas and backslashes survive the batched filing upsert", async () => {
    await migrated;
    let n = 0;
    const store = createPostgresStore({
      pool,
      newId: () => `id "${++n}", {x}\\${globalThis.crypto.randomUUID()}`,
    });
    const firm = await store.createFirm({ name: "Odd ids", internalDomains: [], deletionMode: "mirror" });
    const member = await store.createMember(firm.id, {
      name: "Ann",
      email: "ann@odd.example",
      role: "owner",
      newMailNotifications: "all",
      timeZone: "UTC",
    });
    const mailbox = await store.createMailbox(
      firm.id,
      {
        provider: "imap",
        address: "ann@odd.example",
        displayName: "Ann",
        ownerMemberId: member.id,
        settings: { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" },
      },
      new Date(),
    );
    const account = await store.createAccount(firm.id, { name: "Client", kind: "person" }, new Date());
    const contact = await store.createContact(firm.id, { firstName: "C", lastName: "D" });
    const base = {
      accountId: account.id,
      contactId: contact.id,
      login: false,
      notify: true,
      emailSync: true,
      signatory: false,
      notifyPreferences: defaultNotifyPreferences(),
    };
    const first = await store.createLink(firm.id, { ...base, email: "c@client.example" });
    const second = await store.createLink(firm.id, { ...base, email: "d@client.example" });
    const threadId = await store.createThread(firm.id);
    const message = {
      dedupeKey: "<odd@client.example>",
      messageId: "<odd@client.example>",
      inReplyTo: [],
      references: [],
      from: [{ address: "c@client.example" }],
      sender: [],
      replyTo: [],
      to: [{ address: "ann@odd.example" }],
      cc: [],
      bcc: [],
      subject: "Hi",
      date: new Date(),
      direction: "inbound" as const,
      text: "x",
      html: undefined,
      attachments: [],
      sourceKey: undefined,
      degraded: false,
      threadId,
      sightings: [{ mailboxId: mailbox.id, providerId: "1", folder: "INBOX" }],
    };
    const [filed] = await store.fileMessages(
      firm.id,
      [{ ...message, filings: [{ accountId: account.id, linkIds: [second.id] }] }],
      new Date(),
    );
    await store.fileMessages(
      firm.id,
      [{ ...message, filings: [{ accountId: account.id, linkIds: [first.id, second.id] }] }],
      new Date(),
    );
    const stored = await store.getMessage(firm.id, filed?.id ?? "");
    expect(stored?.filings).toEqual([{ accountId: account.id, linkIds: [first.id, second.id].sort() }]);
  });

  it("F5: two workers filing overlapping batches in opposite orders both succeed, once per message", async () => {
    await migrated;
    const store = createPostgresStore({ pool });
    const firm = await store.createFirm({ name: "Race", internalDomains: [], deletionMode: "mirror" });
    const member = await store.createMember(firm.id, {
      name: "Ann",
      email: "ann@race.example",
      role: "owner",
      newMailNotifications: "all",
      timeZone: "UTC",
    });
    const settings = { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" };
    const [inbox, shared] = await Promise.all(
      ["ann@race.example", "team@race.example"].map((address) =>
        store.createMailbox(
          firm.id,
          { provider: "imap", address, displayName: address, ownerMemberId: member.id, settings },
          new Date(),
        ),
      ),
    );
    const threadId = await store.createThread(firm.id);
    const batch = (mailboxId: string) =>
      Array.from({ length: 2000 }, (_, i) => ({
        dedupeKey: `<race-${i}@client.example>`,
        messageId: `<race-${i}@client.example>`,
        inReplyTo: [],
        references: [],
        from: [{ address: "c@client.example" }],
        sender: [],
        replyTo: [],
        to: [{ address: "ann@race.example" }],
        cc: [],
        bcc: [],
        subject: `m${i}`,
        date: new Date(),
        direction: "inbound" as const,
        text: "x",
        html: undefined,
        attachments: [],
        sourceKey: undefined,
        degraded: false,
        threadId,
        filings: [],
        sightings: [{ mailboxId, providerId: `${i}`, folder: "INBOX" }],
      }));
    const [a, b] = await Promise.all([
      store.fileMessages(firm.id, batch(inbox?.id ?? ""), new Date()),
      store.fileMessages(firm.id, batch(shared?.id ?? "").reverse(), new Date()),
    ]);
    expect(a.filter((o) => o.created).length + (b ?? []).filter((o) => o.created).length).toBe(2000);
    const counts = await pool.query(
      "SELECT (SELECT count(*) FROM messages WHERE firm_id = $1)::int AS messages, (SELECT count(*) FROM message_sightings WHERE firm_id = $1)::int AS sightings",
      [firm.id],
    );
    expect(counts.rows[0]).toEqual({ messages: 2000, sightings: 4000 });
  });
  it("F5: a new message whose sighting another message already holds keeps that sighting and is still filed", async () => {
    await migrated;
    const store = createPostgresStore({ pool });
    const firm = await store.createFirm({ name: "Held", internalDomains: [], deletionMode: "mirror" });
    const member = await store.createMember(firm.id, {
      name: "Ann",
      email: "ann@held.example",
      role: "owner",
      newMailNotifications: "all",
      timeZone: "UTC",
    });
    const mailbox = await store.createMailbox(
      firm.id,
      {
        provider: "imap",
        address: "ann@held.example",
        displayName: "Ann",
        ownerMemberId: member.id,
        settings: { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" },
      },
      new Date(),
    );
    const account = await store.createAccount(firm.id, { name: "Client", kind: "business" }, new Date());
    const threadId = await store.createThread(firm.id);
    const message = (i: number, providerId: string) => ({
      dedupeKey: `<held-${i}@client.example>`,
      messageId: `<held-${i}@client.example>`,
      inReplyTo: [],
      references: [],
      from: [{ address: "c@client.example" }],
      sender: [],
      replyTo: [],
      to: [{ address: "ann@held.example" }],
      cc: [],
      bcc: [],
      subject: `m${i}`,
      date: new Date(),
      direction: "inbound" as const,
      text: "tab\there, back\\slash,\nnew line",
      html: undefined,
      attachments: [],
      sourceKey: undefined,
      degraded: false,
      threadId,
      filings: [{ accountId: account.id, linkIds: [] }],
      sightings: [{ mailboxId: mailbox.id, providerId, folder: "INBOX" }],
    });
    const [first] = await store.fileMessages(firm.id, [message(1, "7")], new Date());
    // Two new messages: one seen where the first one is, and one seen twice in the batch.
    const outcomes = await store.fileMessages(
      firm.id,
      [message(2, "7"), message(3, "8"), message(3, "9")],
      new Date(),
    );
    expect(outcomes.map((o) => o.created)).toEqual([true, true, false]);
    const sightings = await pool.query(
      'SELECT provider_id, message_id FROM message_sightings WHERE firm_id = $1 ORDER BY provider_id COLLATE "C"',
      [firm.id],
    );
    expect(sightings.rows).toEqual([
      { provider_id: "7", message_id: first?.id },
      { provider_id: "8", message_id: outcomes[1]?.id },
      { provider_id: "9", message_id: outcomes[1]?.id },
    ]);
    const filed = await pool.query(
      "SELECT count(*)::int AS n FROM message_filings WHERE firm_id = $1 AND account_id = $2",
      [firm.id, account.id],
    );
    expect(filed.rows[0].n).toBe(3);
    expect((await store.getMessage(firm.id, outcomes[0]?.id ?? ""))?.text).toBe(
      "tab\there, back\\slash,\nnew line",
    );
  });
});
