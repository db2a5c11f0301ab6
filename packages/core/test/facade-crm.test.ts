/**
 * The CRM model through the facade, on the memory store and on PostgreSQL: linking a contact to a
 * second account, adding and removing addresses, deleting links, contacts and accounts, listing
 * accounts, paging an account's threads and Inbox+, a member's notification settings, the T4
 * address replacement and login turned back on (T2, T10). Every call is also given bad input.
 */
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createMemoryBlobStore, createMemoryJobQueue, createMemoryStore } from "@clientmail/memory";
import { createPostgresStore, migrate } from "@clientmail/postgres";
import { ClientMailError, createClientMail, type ClientMailEvents } from "../src/index.js";
import type { MessageToFile, Store } from "../src/ports/index.js";
import { TestClock } from "./engine/firm-fixture.js";

const url = process.env.CLIENTMAIL_TEST_DATABASE_URL;
if (!url) throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests with `pnpm test`.");
const pool = new pg.Pool({ connectionString: url, max: 5 });
const migrated = migrate(pool);
afterAll(async () => {
  await pool.end();
});

const stores: Array<[name: string, make: (clock: TestClock) => Promise<Store>]> = [
  ["memory", async (clock) => createMemoryStore({ clock })],
  [
    "postgres",
    async () => {
      await migrated;
      return createPostgresStore({ pool });
    },
  ],
];

/** The code and, for validation, the fields of the error a call failed with. */
async function failure(promise: Promise<unknown>): Promise<{ code: string; fields: string[] }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!ClientMailError.isInstance(error)) throw new Error(`expected a ClientMailError, got ${String(error)}`);
  const issues = (error as { issues?: Array<{ field: string }> }).issues ?? [];
  return { code: error.code, fields: issues.map((i) => i.field) };
}

describe.each(stores)("the CRM facade on the %s store", (_name, makeStore) => {
  async function setup() {
    const clock = new TestClock();
    const store = await makeStore(clock);
    let n = 0;
    const cm = createClientMail({ store, clock, newToken: () => `tok-${++n}-${Math.random()}` });
    const events: Array<{ name: keyof ClientMailEvents; payload: Record<string, unknown> }> = [];
    for (const name of [
      "invitation.requested",
      "invitation.invalidated",
      "backfill.requested",
      "link.created",
      "link.deleted",
      "contact.deleted",
      "account.deleted",
      "member.updated",
    ] as const)
      cm.on(name, (payload: unknown) => events.push({ name, payload: payload as Record<string, unknown> }));
    const firm = await cm.createFirm({ name: "Ledger", internalDomains: ["ledger.example"] });
    const owner = await cm.addMember(firm.id, {
      name: "Olive",
      email: "olive@ledger.example",
      role: "owner",
    });
    const family = await cm.createAccount(firm.id, {
      name: "Jordan family",
      kind: "family",
      contacts: [{ firstName: "Jo", lastName: "Jordan", emails: [{ email: "jo@home.example" }] }],
    });
    const jo = family.links[0]!;
    events.length = 0;
    return { clock, store, cm, events, firm, owner, family, jo };
  }

  it("T1: links an existing contact to a second account with its own settings; bad input is refused", async () => {
    const { cm, firm, jo, events } = await setup();
    const business = await cm.createAccount(firm.id, {
      name: "Jordan Bakery",
      kind: "business",
      contacts: [],
    });
    const link = await cm.linkContact(firm.id, business.account.id, jo.contactId, {
      email: " Jo@Home.Example ",
      emailSync: true,
      notify: false,
    });
    expect(link).toMatchObject({
      accountId: business.account.id,
      contactId: jo.contactId,
      email: "jo@home.example",
    });
    expect(link).toMatchObject({ emailSync: true, notify: false, login: false });
    expect((await cm.accountOverview(firm.id, jo.accountId)).links[0]).toMatchObject({ emailSync: false });
    expect(events.map((e) => e.name)).toEqual(["backfill.requested", "link.created"]);

    expect(await failure(cm.linkContact(firm.id, "", jo.contactId, { email: "x@y.example" }))).toEqual({
      code: "validation_failed",
      fields: ["accountId"],
    });
    expect(
      await failure(cm.linkContact(firm.id, business.account.id, jo.contactId, { email: "broken@" })),
    ).toEqual({
      code: "validation_failed",
      fields: ["email"],
    });
    expect(
      await failure(
        cm.linkContact(firm.id, business.account.id, jo.contactId, {
          email: "a@b.example",
          login: "yes",
        } as never),
      ),
    ).toEqual({ code: "validation_failed", fields: ["login"] });
    expect(
      (await failure(cm.linkContact(firm.id, "no-such-account", jo.contactId, { email: "a@b.example" })))
        .code,
    ).toBe("not_found");
    expect(
      (
        await failure(
          cm.linkContact(firm.id, business.account.id, jo.contactId, { email: "jo@home.example" }),
        )
      ).code,
    ).toBe("conflict");
  });

  it("T1/T12: adds an address to a contact in every account it is linked to, and removes it again; bad input is refused", async () => {
    const { cm, firm, jo, events } = await setup();
    const business = await cm.createAccount(firm.id, {
      name: "Jordan Bakery",
      kind: "business",
      contacts: [],
    });
    await cm.linkContact(firm.id, business.account.id, jo.contactId, { email: "jo@home.example" });
    events.length = 0;
    const added = await cm.addContactAddress(firm.id, jo.contactId, {
      email: "JO@Work.Example",
      login: true,
    });
    expect(added.map((l) => [l.accountId, l.email, l.login]).sort()).toEqual(
      [
        [business.account.id, "jo@work.example", true],
        [jo.accountId, "jo@work.example", true],
      ].sort(),
    );
    expect(events.filter((e) => e.name === "invitation.requested")).toHaveLength(2);
    // Only one account, when asked.
    const other = await cm.createAccount(firm.id, { name: "Other", kind: "person", contacts: [] });
    expect(
      (
        await cm.addContactAddress(firm.id, jo.contactId, {
          email: "jo@third.example",
          accountIds: [other.account.id],
        })
      ).map((l) => l.accountId),
    ).toEqual([other.account.id]);

    events.length = 0;
    const removed = await cm.removeContactAddress(firm.id, jo.contactId, "Jo@Work.example");
    expect(removed).toHaveLength(2);
    expect((await cm.accountOverview(firm.id, jo.accountId)).links.map((l) => l.email)).toEqual([
      "jo@home.example",
    ]);
    // The pending invitations of the removed address stop working.
    expect(events.filter((e) => e.name === "invitation.invalidated")).toHaveLength(2);
    expect(events.filter((e) => e.name === "link.deleted")).toHaveLength(2);

    expect(await failure(cm.addContactAddress(firm.id, jo.contactId, { email: "not an address" }))).toEqual({
      code: "validation_failed",
      fields: ["email"],
    });
    expect(
      await failure(cm.addContactAddress(firm.id, jo.contactId, { email: "a@b.example", accountIds: [] })),
    ).toEqual({
      code: "validation_failed",
      fields: ["accountIds"],
    });
    const loner = await cm.createAccount(firm.id, {
      name: "Loner",
      kind: "person",
      contacts: [{ firstName: "Lo", emails: [{ email: "lo@x.example" }] }],
    });
    await cm.deleteLink(firm.id, loner.links[0]!.id);
    expect(
      await failure(cm.addContactAddress(firm.id, loner.links[0]!.contactId, { email: "lo@y.example" })),
    ).toEqual({
      code: "validation_failed",
      fields: ["accountIds"],
    });
    expect(await failure(cm.removeContactAddress(firm.id, jo.contactId, "@@"))).toEqual({
      code: "validation_failed",
      fields: ["email"],
    });
    expect((await failure(cm.removeContactAddress(firm.id, jo.contactId, "never@x.example"))).code).toBe(
      "not_found",
    );
  });

  it("deletes links, contacts and accounts; pending invitations stop working; bad input is refused", async () => {
    const { cm, firm, jo, events } = await setup();
    const pending = await cm.updateLink(firm.id, jo.id, { login: true });
    const token = pending.invitation!.token;
    const second = await cm.addContactAddress(firm.id, jo.contactId, { email: "jo2@home.example" });
    events.length = 0;
    await cm.deleteLink(firm.id, jo.id);
    expect(events.map((e) => e.name)).toEqual(["invitation.invalidated", "link.deleted"]);
    expect((await failure(cm.acceptInvitation(firm.id, token))).code).toBe("not_found");
    expect((await failure(cm.deleteLink(firm.id, jo.id))).code).toBe("not_found");
    expect(await failure(cm.deleteLink(firm.id, "bad\u0000id"))).toEqual({
      code: "validation_failed",
      fields: ["linkId"],
    });

    await cm.deleteContact(firm.id, jo.contactId);
    expect((await cm.accountOverview(firm.id, jo.accountId)).links).toEqual([]);
    expect(events.map((e) => e.name).slice(2)).toEqual(["link.deleted", "contact.deleted"]);
    expect(events[2]!.payload.linkId).toBe(second[0]!.id);
    expect((await failure(cm.deleteContact(firm.id, jo.contactId))).code).toBe("not_found");
    expect(await failure(cm.deleteContact(firm.id, 42 as never))).toEqual({
      code: "validation_failed",
      fields: ["contactId"],
    });

    await cm.deleteAccount(firm.id, jo.accountId);
    expect((await failure(cm.accountOverview(firm.id, jo.accountId))).code).toBe("not_found");
    expect(events.at(-1)).toEqual({
      name: "account.deleted",
      payload: { firmId: firm.id, accountId: jo.accountId },
    });
    expect((await failure(cm.deleteAccount(firm.id, jo.accountId))).code).toBe("not_found");
    expect(await failure(cm.deleteAccount("", jo.accountId))).toEqual({
      code: "validation_failed",
      fields: ["firmId"],
    });
  });

  it("T3/T8: lists every account with its links, portal status and list flags; bad input is refused", async () => {
    const { cm, firm, jo } = await setup();
    await cm.createAccount(firm.id, {
      name: "Acme",
      kind: "business",
      contacts: [
        { firstName: "Petra", emails: [{ email: "petra@acme.example", login: true, emailSync: true }] },
      ],
    });
    await cm.createAccount(firm.id, { name: "Empty", kind: "person", contacts: [] });
    const accounts = await cm.listAccounts(firm.id);
    expect(
      accounts.map((a) => [a.account.name, a.portalStatus, a.notify, a.emailSync, a.links.length]),
    ).toEqual([
      ["Acme", "pending_activation", true, true, 1],
      ["Empty", "not_activated", false, false, 0],
      ["Jordan family", "not_activated", true, false, 1],
    ]);
    expect(accounts[2]!.links[0]!.id).toBe(jo.id);
    expect(await failure(cm.listAccounts(undefined as never))).toEqual({
      code: "validation_failed",
      fields: ["firmId"],
    });
  });

  /** Files one message per thread into the account, at the given minutes, through the store. */
  async function fileThreads(
    store: Store,
    firmId: string,
    accountId: string,
    linkId: string,
    minutes: number[],
  ) {
    const mailbox = (await store.listMailboxes(firmId))[0]!;
    const threads: string[] = [];
    for (const [i, minute] of minutes.entries()) {
      const threadId = await store.createThread(firmId);
      threads.push(threadId);
      const message: MessageToFile = {
        dedupeKey: `<${threadId}@x>`,
        messageId: `${threadId}@x`,
        inReplyTo: [],
        references: [],
        from: [{ address: "jo@home.example" }],
        sender: [],
        replyTo: [],
        to: [{ address: mailbox.address }],
        cc: [],
        bcc: [],
        subject: `Thread ${i}`,
        date: new Date(Date.UTC(2026, 2, 2, 9, minute)),
        direction: i % 2 === 0 ? "inbound" : "outbound",
        text: "hello",
        html: undefined,
        attachments: [],
        sourceKey: undefined,
        degraded: false,
        threadId,
        filings: [{ accountId, linkIds: [linkId] }],
        sightings: [{ mailboxId: mailbox.id, providerId: `p-${threadId}`, folder: "INBOX" }],
      };
      await store.fileMessages(firmId, [message], new Date());
    }
    return threads;
  }

  it("H5: pages an account's threads by cursor, newest first, without repeats; bad cursors and limits are refused", async () => {
    const { cm, store, firm, owner, jo } = await setup();
    await cm.connectMailbox(firm.id, owner.id, { provider: "imap", address: "olive@ledger.example" });
    await cm.updateLink(firm.id, jo.id, { emailSync: true });
    const threads = await fileThreads(store, firm.id, jo.accountId, jo.id, [1, 5, 3, 4, 2]);
    const seen: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await cm.accountThreadsPage(firm.id, jo.accountId, { limit: 2, cursor });
      seen.push(page.threads.map((t) => t.threadId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([[threads[1], threads[3]], [threads[2], threads[4]], [threads[0]]]);
    const sent = await cm.accountThreadsPage(firm.id, jo.accountId, { view: "sent" });
    expect(sent).toEqual({
      threads: [
        expect.objectContaining({ threadId: threads[1] }),
        expect.objectContaining({ threadId: threads[3] }),
      ],
      nextCursor: undefined,
    });

    const first = await cm.accountThreadsPage(firm.id, jo.accountId, { limit: 1 });
    expect(await failure(cm.accountThreadsPage(firm.id, jo.accountId, { cursor: "not-a-cursor" }))).toEqual({
      code: "validation_failed",
      fields: ["cursor"],
    });
    // A cursor belongs to its listing: another view or account refuses it.
    expect(
      await failure(cm.accountThreadsPage(firm.id, jo.accountId, { view: "sent", cursor: first.nextCursor })),
    ).toEqual({
      code: "validation_failed",
      fields: ["cursor"],
    });
    const other = await cm.createAccount(firm.id, { name: "Other", kind: "person", contacts: [] });
    expect(
      await failure(cm.accountThreadsPage(firm.id, other.account.id, { cursor: first.nextCursor })),
    ).toEqual({
      code: "validation_failed",
      fields: ["cursor"],
    });
    expect(await failure(cm.accountThreadsPage(firm.id, jo.accountId, { limit: 0 }))).toEqual({
      code: "validation_failed",
      fields: ["limit"],
    });
    expect((await failure(cm.accountThreadsPage(firm.id, "no-such-account"))).code).toBe("not_found");
  });

  it("H4: Inbox+ pages the firm's threads across accounts, with their accounts and the member's mutes; bad input is refused", async () => {
    const { cm, store, firm, owner, jo } = await setup();
    await cm.connectMailbox(firm.id, owner.id, { provider: "imap", address: "olive@ledger.example" });
    await cm.updateLink(firm.id, jo.id, { emailSync: true });
    const acme = await cm.createAccount(firm.id, {
      name: "Acme",
      kind: "business",
      contacts: [{ firstName: "Petra", emails: [{ email: "petra@acme.example", emailSync: true }] }],
    });
    const family = await fileThreads(store, firm.id, jo.accountId, jo.id, [1, 3]);
    const business = await fileThreads(store, firm.id, acme.account.id, acme.links[0]!.id, [2]);
    await cm.muteThread(firm.id, family[1]!, owner.id);
    const first = await cm.inboxPlus(firm.id, owner.id, { limit: 2 });
    expect(first.threads.map((t) => [t.threadId, t.accountIds, t.muted])).toEqual([
      [family[1], [jo.accountId], true],
      [business[0], [acme.account.id], false],
    ]);
    const rest = await cm.inboxPlus(firm.id, owner.id, { limit: 2, cursor: first.nextCursor });
    expect(rest.threads.map((t) => t.threadId)).toEqual([family[0]]);
    expect(rest.nextCursor).toBeUndefined();
    // A thread is the same page item whoever asks; only the mute is per member.
    const eve = await cm.addMember(firm.id, { name: "Eve", email: "eve@ledger.example" });
    expect((await cm.inboxPlus(firm.id, eve.id, { limit: 1 })).threads[0]).toMatchObject({
      threadId: family[1],
      muted: false,
    });

    expect(await failure(cm.inboxPlus(firm.id, owner.id, { limit: 101 }))).toEqual({
      code: "validation_failed",
      fields: ["limit"],
    });
    expect(await failure(cm.inboxPlus(firm.id, owner.id, { view: "all" } as never))).toEqual({
      code: "validation_failed",
      fields: ["view"],
    });
    const accountCursor = (await cm.accountThreadsPage(firm.id, jo.accountId, { limit: 1 })).nextCursor;
    expect(await failure(cm.inboxPlus(firm.id, owner.id, { cursor: accountCursor }))).toEqual({
      code: "validation_failed",
      fields: ["cursor"],
    });
    expect((await failure(cm.inboxPlus(firm.id, "no-such-member"))).code).toBe("not_found");
  });

  it("N1: changes a member's notification settings; bad input is refused", async () => {
    const { cm, firm, owner, events } = await setup();
    const updated = await cm.updateMemberNotifications(firm.id, owner.id, {
      newMailNotifications: "none",
      timeZone: "Asia/Tokyo",
    });
    expect(updated).toMatchObject({
      id: owner.id,
      newMailNotifications: "none",
      timeZone: "Asia/Tokyo",
      role: "owner",
    });
    expect(events).toEqual([{ name: "member.updated", payload: { firmId: firm.id, member: updated } }]);
    expect(
      await failure(cm.updateMemberNotifications(firm.id, owner.id, { timeZone: "Mars/Olympus" })),
    ).toEqual({
      code: "validation_failed",
      fields: ["timeZone"],
    });
    expect(
      await failure(
        cm.updateMemberNotifications(firm.id, owner.id, { newMailNotifications: "sometimes" } as never),
      ),
    ).toEqual({
      code: "validation_failed",
      fields: ["newMailNotifications"],
    });
    expect((await failure(cm.updateMemberNotifications(firm.id, owner.id, {}))).code).toBe(
      "validation_failed",
    );
    expect(
      (await failure(cm.updateMemberNotifications(firm.id, owner.id, { role: "owner" } as never))).code,
    ).toBe("validation_failed");
    expect((await failure(cm.updateMemberNotifications(firm.id, "nobody", { timeZone: "UTC" }))).code).toBe(
      "not_found",
    );
  });

  it("T4: replacing an activated address keeps it as an unlinked email with its login; the account never drops to pending", async () => {
    const { cm, firm, jo, events } = await setup();
    const invited = await cm.updateLink(firm.id, jo.id, { login: true, emailSync: true });
    await cm.acceptInvitation(firm.id, invited.invitation!.token);
    expect((await cm.accountOverview(firm.id, jo.accountId)).portalStatus).toBe("activated");
    events.length = 0;

    const replaced = await cm.changeLinkAddress(firm.id, jo.id, "jo@new.example");
    expect(replaced).toMatchObject({ id: jo.id, email: "jo@new.example", login: true, emailSync: true });
    const overview = await cm.accountOverview(firm.id, jo.accountId);
    expect(overview.portalStatus).toBe("activated");
    const unlinked = overview.links.find((l) => l.email === "jo@home.example")!;
    expect(unlinked).toMatchObject({ login: true, notify: false, emailSync: false, signatory: false });
    expect(unlinked.unlinkedAt).toBeInstanceOf(Date);
    expect(unlinked.invitation?.status).toBe("accepted");
    expect(events.map((e) => e.name)).toEqual(["invitation.requested", "backfill.requested", "link.created"]);

    // Nothing but turning its login off applies to an unlinked email.
    expect(await failure(cm.updateLink(firm.id, unlinked.id, { notify: true }))).toEqual({
      code: "validation_failed",
      fields: ["notify"],
    });
    expect(await failure(cm.changeLinkAddress(firm.id, unlinked.id, "x@y.example"))).toEqual({
      code: "validation_failed",
      fields: ["linkId"],
    });
    expect(await failure(cm.changeLinkAddress(firm.id, jo.id, "no-at-sign"))).toEqual({
      code: "validation_failed",
      fields: ["email"],
    });

    // The client accepts at the new address; then the firm turns the old login off, which removes it.
    const token = events.find((e) => e.name === "invitation.requested")!.payload.token as string;
    await cm.acceptInvitation(firm.id, token);
    expect((await cm.accountOverview(firm.id, jo.accountId)).portalStatus).toBe("activated");
    await cm.updateLink(firm.id, unlinked.id, { login: false });
    const after = await cm.accountOverview(firm.id, jo.accountId);
    expect(after.links.map((l) => l.email)).toEqual(["jo@new.example"]);
    expect(after.portalStatus).toBe("activated");
    expect(events.at(-1)?.name).toBe("link.deleted");
  });

  it("T4: an address replaced before acceptance leaves nothing behind and its token stops working", async () => {
    const { cm, firm, jo } = await setup();
    const invited = await cm.updateLink(firm.id, jo.id, { login: true });
    await cm.changeLinkAddress(firm.id, jo.id, "jo@new.example");
    const overview = await cm.accountOverview(firm.id, jo.accountId);
    expect(overview.links.map((l) => l.email)).toEqual(["jo@new.example"]);
    expect(overview.portalStatus).toBe("pending_activation");
    expect((await failure(cm.acceptInvitation(firm.id, invited.invitation!.token))).code).not.toBe(
      "validation_failed",
    );
  });

  it("T2/T10: login turned back on, alone or in bulk, goes through a fresh invitation and never restores access silently", async () => {
    const { cm, firm, owner, jo, events } = await setup();
    const invited = await cm.updateLink(firm.id, jo.id, { login: true });
    await cm.acceptInvitation(firm.id, invited.invitation!.token);
    await cm.updateLink(firm.id, jo.id, { login: false });
    expect((await cm.accountOverview(firm.id, jo.accountId)).portalStatus).toBe("not_activated");

    events.length = 0;
    const again = await cm.updateLink(firm.id, jo.id, { login: true });
    expect((await cm.accountOverview(firm.id, jo.accountId)).portalStatus).toBe("pending_activation");
    expect(events.map((e) => e.name)).toEqual(["invitation.requested"]);
    expect(again.invitation?.token).not.toBe(invited.invitation!.token);
    expect((await failure(cm.acceptInvitation(firm.id, invited.invitation!.token))).code).toBe("not_found");

    // Bulk: with invitations left for later, login is on but nobody has access yet.
    await cm.acceptInvitation(firm.id, again.invitation!.token);
    await cm.bulkUpdate(firm.id, owner.id, { accountIds: [jo.accountId], login: "disable" });
    events.length = 0;
    const report = await cm.bulkUpdate(firm.id, owner.id, {
      accountIds: [jo.accountId],
      login: "enable",
      sendInvitations: false,
    });
    expect(report.invitationsSent).toBe(0);
    expect((await cm.accountOverview(firm.id, jo.accountId)).portalStatus).toBe("not_activated");
    const withInvites = await cm.bulkUpdate(firm.id, owner.id, {
      accountIds: [jo.accountId],
      login: "enable",
      sendInvitations: true,
    });
    expect(withInvites.linksChanged).toBe(0);
    await cm.updateLink(firm.id, jo.id, { sendInvitation: true });
    expect((await cm.accountOverview(firm.id, jo.accountId)).portalStatus).toBe("pending_activation");
  });
  it("R10: without a queue, eraseContact deletes the documents and sources itself; a sink without delete keeps them and says so", async () => {
    const { cm: plain, store, firm, owner, jo, clock } = await setup();
    await plain.connectMailbox(firm.id, owner.id, { provider: "imap", address: "olive@ledger.example" });
    await plain.updateLink(firm.id, jo.id, { emailSync: true });
    const [threadId] = await fileThreads(store, firm.id, jo.accountId, jo.id, [1]);
    const [message] = await store.listThreadMessages(firm.id, threadId!);
    // Give the filed message a kept source and a saved attachment, as the engine does (R11, F9).
    const blobs = createMemoryBlobStore();
    const sourceKey = `${firm.id}/source/${message!.id}.eml`;
    await blobs.put(sourceKey, new TextEncoder().encode("Subject: secret"));
    await store.eraseMessages(firm.id, [message!.id]);
    const hash = "ab".repeat(32);
    await store.fileMessages(
      firm.id,
      [
        {
          ...message!,
          sourceKey,
          attachments: [{ filename: "id.pdf", contentType: "application/pdf", size: 3, contentHash: hash }],
          sightings: message!.sightings,
          filings: message!.filings,
        },
      ],
      clock.now(),
    );
    await store.claimAttachment(firm.id, jo.accountId, hash);
    const deleted: unknown[] = [];
    const sink = {
      save: async () => ({ documentId: "d" }),
      delete: async (ref: unknown) => void deleted.push(ref),
    };
    const cm = createClientMail({ store, clock, documents: sink, blobs });
    const erased: unknown[] = [];
    cm.on("contact.erased", (e) => erased.push(e.report));

    expect(await failure(cm.eraseContact(firm.id, jo.contactId, ""))).toEqual({
      code: "validation_failed",
      fields: ["by"],
    });
    const report = await cm.eraseContact(firm.id, jo.contactId, owner.id);
    expect(report).toMatchObject({
      messages: 1,
      links: 1,
      addresses: 1,
      documents: 1,
      sources: 1,
      files: "deleted",
    });
    expect(erased).toEqual([report]);
    expect(deleted).toEqual([{ firmId: firm.id, accountId: jo.accountId, contentHash: hash }]);
    expect(await blobs.get(sourceKey)).toBeUndefined();
    // Still recorded as saved, so a save job of the erased mail still waiting skips it.
    expect(await store.isAttachmentSaved(firm.id, jo.accountId, hash)).toBe(true);
    expect(await store.listErasureTombstones(firm.id)).toHaveLength(1);
    expect((await store.listAudit(firm.id, 1))[0]).toMatchObject({
      actor: owner.id,
      action: "contact.erased",
    });
    expect((await failure(cm.eraseContact(firm.id, jo.contactId, owner.id))).code).toBe("not_found");

    // A sink that cannot delete: the report says the files were kept.
    const other = await cm.createAccount(firm.id, {
      name: "Acme",
      kind: "business",
      contacts: [{ firstName: "Petra", emails: [{ email: "petra@acme.example", emailSync: true }] }],
    });
    const [t2] = await fileThreads(store, firm.id, other.account.id, other.links[0]!.id, [2]);
    const [m2] = await store.listThreadMessages(firm.id, t2!);
    await store.eraseMessages(firm.id, [m2!.id]);
    await store.fileMessages(
      firm.id,
      [{ ...m2!, from: [{ address: "petra@acme.example" }], sourceKey: "k" }],
      clock.now(),
    );
    const keeper = createClientMail({ store, clock });
    expect((await keeper.eraseContact(firm.id, other.links[0]!.contactId, owner.id)).files).toBe("kept");
  });
});

// The memory job queue rides on the memory store's transactions; Postgres's queue has its own suite.
describe("the CRM facade with a job queue", () => {
  it("R8/T7: with a queue, linking and adding a synced address enqueue the backfill in the same transaction", async () => {
    const clock = new TestClock();
    const store = createMemoryStore({ clock });
    const queue = createMemoryJobQueue({ store });
    const cm = createClientMail({ store, clock, queue });
    const events: string[] = [];
    cm.on("backfill.requested", () => events.push("backfill.requested"));
    const firm = await cm.createFirm({ name: "Ledger", internalDomains: ["ledger.example"] });
    const family = await cm.createAccount(firm.id, {
      name: "Jordan family",
      kind: "family",
      contacts: [{ firstName: "Jo", emails: [{ email: "jo@home.example" }] }],
    });
    const jo = family.links[0]!;
    const waiting = async () => (await queue.stats()).waiting;
    const before = await waiting();
    const business = await cm.createAccount(firm.id, {
      name: "Jordan Bakery",
      kind: "business",
      contacts: [],
    });
    await cm.linkContact(firm.id, business.account.id, jo.contactId, {
      email: "jo@home.example",
      emailSync: true,
    });
    expect(await waiting()).toBe(before + 1);
    await cm.addContactAddress(firm.id, jo.contactId, { email: "jo@work.example", emailSync: true });
    expect(await waiting()).toBe(before + 2);
    // A failing call enqueues nothing.
    await expect(
      cm.addContactAddress(firm.id, jo.contactId, { email: "jo@work.example", emailSync: true }),
    ).rejects.toThrow();
    expect(await waiting()).toBe(before + 2);
    expect(events).toEqual([]);
  });
});
