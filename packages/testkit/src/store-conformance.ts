/**
 * The Store conformance suite: every Store adapter (memory, Postgres, a third party's) runs it,
 * so they all keep the same promises. Call it at the top level of a test file.
 */
import { describe, expect, it } from "vitest";
import { ClientMailError, notifyCategories } from "@clientmail/core";
import type { Firm, NotifyPreferences } from "@clientmail/core";
import type { MessageToFile, Store } from "@clientmail/core/ports";

/** Reads what the backend really holds, bypassing the adapter's own read paths. */
export interface StoreRawReader {
  /** Filed messages of the firm as stored, hidden ones included. */
  countMessages(firmId: string): Promise<number>;
  /** Sightings (mailbox, provider id) of the firm's messages as stored. */
  countSightings(firmId: string): Promise<number>;
  /** The credentials value exactly as stored for the mailbox. */
  storedCredentials(firmId: string, mailboxId: string): Promise<string | undefined>;
}

/** One store to test, with a raw reader of the same backend. */
export interface StoreUnderTest {
  store: Store;
  raw: StoreRawReader;
}

export interface StoreConformanceOptions {
  /** Shown in the suite's name. */
  name: string;
  /** A store to test. Tests create their own firms, so a shared, already-migrated backend is fine. */
  makeStore: () => Promise<StoreUnderTest>;
  /**
   * Moves the store's lease clock forward by `ms`. Stores that take time from the database wait
   * in real time (the default).
   */
  advanceClock?: (ms: number) => Promise<void>;
}

const allOn: NotifyPreferences = Object.fromEntries(
  notifyCategories.map((c) => [c, true]),
) as NotifyPreferences;
const t0 = new Date("2026-03-02T09:00:00.000Z");
const minutes = (n: number): Date => new Date(t0.getTime() + n * 60_000);

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ClientMailError.isInstance(error), `expected a ClientMailError with code ${code}`).toBe(true);
  expect((error as ClientMailError).code).toBe(code);
}

/** A firm with one member, mailbox, account, contact and synced link, and a thread. */
async function seedFirm(store: Store, name: string, deletionMode: Firm["deletionMode"] = "mirror") {
  const firm = await store.createFirm({ name, internalDomains: [`${name}.example`], deletionMode });
  const member = await store.createMember(firm.id, {
    name: "Ann Adams",
    email: `ann@${name}.example`,
    role: "owner",
    newMailNotifications: "all",
    timeZone: "Europe/Paris",
  });
  const mailbox = await store.createMailbox(
    firm.id,
    {
      provider: "imap",
      address: `ann@${name}.example`,
      displayName: "Ann",
      ownerMemberId: member.id,
      settings: { autoSaveAttachments: true, allowOthersToSend: false, signatureHtml: "<p>Ann</p>" },
    },
    t0,
  );
  const account = await store.createAccount(firm.id, { name: "Bolt Ltd", kind: "business" }, t0);
  const contact = await store.createContact(firm.id, { firstName: "Cleo", lastName: "Bolt" });
  const link = await store.createLink(firm.id, {
    accountId: account.id,
    contactId: contact.id,
    email: "cleo@bolt.example",
    login: false,
    notify: true,
    emailSync: true,
    signatory: false,
    notifyPreferences: allOn,
  });
  const thread = await store.createThread(firm.id);
  return { firm, member, mailbox, account, contact, link, thread };
}

type Seed = Awaited<ReturnType<typeof seedFirm>>;

function message(seed: Seed, n: number, overrides: Partial<MessageToFile> = {}): MessageToFile {
  return {
    dedupeKey: `<m${n}@bolt.example>`,
    messageId: `<m${n}@bolt.example>`,
    inReplyTo: [],
    references: [],
    from: [{ name: "Cleo", address: "cleo@bolt.example" }],
    sender: [],
    replyTo: [],
    to: [{ address: seed.mailbox.address }],
    cc: [],
    bcc: [],
    subject: `Invoice ${n}`,
    date: minutes(n),
    direction: "inbound",
    text: `Hello ${n}`,
    html: `<p>Hello ${n}</p>`,
    attachments: [
      { filename: "a.pdf", contentType: "application/pdf", size: 10, contentHash: "ab".repeat(32) },
    ],
    sourceKey: `${seed.firm.id}/sources/m${n}.eml`,
    degraded: false,
    threadId: seed.thread,
    filings: [{ accountId: seed.account.id, linkIds: [seed.link.id] }],
    sightings: [{ mailboxId: seed.mailbox.id, providerId: `INBOX:1:${n}`, folder: "INBOX" }],
    ...overrides,
  };
}

/** Everything the store says about a firm, for before/after comparisons. */
async function snapshot(store: Store, raw: StoreRawReader, seed: Seed) {
  const firmId = seed.firm.id;
  const threadIds = new Set<string>([seed.thread]);
  const messageIds = [
    ...(await store.findMessagesByDedupeKeys(firmId, ["<m1@bolt.example>", "<m2@bolt.example>"])).values(),
  ];
  return {
    firm: await store.getFirm(firmId),
    members: await store.listMembers(firmId),
    mailboxes: await store.listMailboxes(firmId),
    credentials: await store.listMailboxCredentials(firmId),
    cursor: await store.getCursor(firmId, seed.mailbox.id),
    accounts: await store.listAccounts(firmId),
    contacts: await store.listContacts(firmId),
    links: await store.listLinks(firmId),
    threads: await Promise.all([...threadIds].map((id) => store.listThreadMessages(firmId, id))),
    threadKeys: await store.findThreadsByKeys(firmId, ["k1", "k2"]),
    mutes: await store.listThreadMutes(firmId, seed.thread),
    messages: await Promise.all(messageIds.map((id) => store.getMessage(firmId, id))),
    accountThreads: await store.listAccountThreads(firmId, seed.account.id, { view: "inbox" }),
    notifications: await store.listNotifications(firmId, seed.member.id, minutes(0)),
    audit: await store.listAudit(firmId),
    outbox: await store.listOutbox(firmId),
    subjects: await store.findSubjectThreads(firmId, [{ key: "s:b", at: t0, open: true }], 1000),
    quarantine: await store.listQuarantine(firmId),
    rawMessages: await raw.countMessages(firmId),
    rawSightings: await raw.countSightings(firmId),
    rawCredentials: await raw.storedCredentials(firmId, seed.mailbox.id),
  };
}

/** Defines the suite. */
export function storeConformance(options: StoreConformanceOptions): void {
  const advance =
    options.advanceClock ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  describe(`Store conformance: ${options.name}`, () => {
    describe("firms and team members", () => {
      it("creates, reads, updates and lists firms", async () => {
        const { store } = await options.makeStore();
        const firm = await store.createFirm({
          name: "Acme",
          internalDomains: ["acme.example"],
          deletionMode: "mirror",
        });
        expect(await store.getFirm(firm.id)).toEqual(firm);
        const updated = await store.updateFirm(firm.id, { deletionMode: "retain" });
        expect(updated).toMatchObject({ name: "Acme", deletionMode: "retain" });
        expect(await store.getFirm(firm.id)).toEqual(updated);
        expect(await store.listFirmIds()).toContain(firm.id);
        expect(await store.getFirm("no-such-firm")).toBeUndefined();
        await expectCode(store.updateFirm("no-such-firm", { name: "x" }), "not_found");
      });

      it("keeps member emails unique per firm", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "members");
        const input = {
          name: "Bob",
          email: "bob@members.example",
          role: "employee",
          newMailNotifications: "none",
          timeZone: "UTC",
        } as const;
        const bob = await store.createMember(seed.firm.id, input);
        await expectCode(store.createMember(seed.firm.id, { ...input, name: "Other Bob" }), "conflict");
        expect((await store.listMembers(seed.firm.id)).map((m) => m.name)).toEqual(["Ann Adams", "Bob"]);
        await expectCode(store.updateMember(seed.firm.id, bob.id, { email: seed.member.email }), "conflict");
        const renamed = await store.updateMember(seed.firm.id, bob.id, { name: "Robert", role: "admin" });
        expect(renamed).toMatchObject({ name: "Robert", role: "admin", email: input.email });
        expect(await store.getMember(seed.firm.id, bob.id)).toEqual(renamed);
        // Another firm may use the same address.
        const other = await store.createFirm({ name: "Other", internalDomains: [], deletionMode: "mirror" });
        await expect(store.createMember(other.id, input)).resolves.toMatchObject({ email: input.email });
      });
    });

    describe("mailboxes", () => {
      it("R1, R2: a mailbox keeps its latest completeness audit", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "verified");
        expect(seed.mailbox.verification).toBeUndefined();
        const verification = {
          at: minutes(30),
          complete: false,
          clientMessages: 120,
          missing: 3,
          repaired: 2,
          quarantined: 1,
        };
        const updated = await store.setMailboxVerification(seed.firm.id, seed.mailbox.id, verification);
        expect(updated.verification).toEqual(verification);
        expect((await store.getMailbox(seed.firm.id, seed.mailbox.id))!.verification).toEqual(verification);
        await expectCode(
          store.setMailboxVerification(seed.firm.id, "no-such-mailbox", verification),
          "not_found",
        );
      });

      it("Y3: stores settings, state, connections and credentials as given", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "mailboxes");
        const { firm, mailbox, member } = seed;
        expect(mailbox.state).toEqual({ status: "connecting" });
        expect(mailbox.connections).toEqual([{ memberId: member.id, connectedAt: t0 }]);
        await expectCode(
          store.createMailbox(firm.id, { ...mailbox, ownerMemberId: member.id }, t0),
          "conflict",
        );
        await expectCode(
          store.createMailbox(
            firm.id,
            { ...mailbox, address: "x@mailboxes.example", ownerMemberId: "nobody" },
            t0,
          ),
          "not_found",
        );

        const settings = await store.updateMailboxSettings(firm.id, mailbox.id, { allowOthersToSend: true });
        expect(settings.settings).toEqual({
          autoSaveAttachments: true,
          allowOthersToSend: true,
          signatureHtml: "<p>Ann</p>",
        });
        const state = {
          status: "retrying",
          attempt: 2,
          nextAttemptAt: minutes(5),
          lastError: "transient",
        } as const;
        const retrying = await store.setMailboxState(firm.id, mailbox.id, state, minutes(1));
        expect(retrying.state).toEqual(state);
        expect(retrying.lastSyncedAt).toEqual(minutes(1));
        const live = await store.setMailboxState(firm.id, mailbox.id, { status: "live" });
        expect(live.lastSyncedAt).toEqual(minutes(1));

        const bob = await store.createMember(firm.id, {
          name: "Bob",
          email: "bob@mailboxes.example",
          role: "employee",
          newMailNotifications: "all",
          timeZone: "UTC",
        });
        await store.addMailboxConnection(firm.id, mailbox.id, bob.id, minutes(2));
        const again = await store.addMailboxConnection(firm.id, mailbox.id, bob.id, minutes(3));
        expect(again.connections).toEqual([
          { memberId: member.id, connectedAt: t0 },
          { memberId: bob.id, connectedAt: minutes(2) },
        ]);
        expect(await store.removeMailboxConnection(firm.id, mailbox.id, bob.id)).toBe(true);
        expect(await store.removeMailboxConnection(firm.id, mailbox.id, bob.id)).toBe(false);
        expect((await store.getMailbox(firm.id, mailbox.id))?.connections).toHaveLength(1);

        expect(await store.getMailboxCredentials(firm.id, mailbox.id)).toBeUndefined();
        await store.setMailboxCredentials(firm.id, mailbox.id, "cmk1.ciphertext");
        expect(await store.getMailboxCredentials(firm.id, mailbox.id)).toBe("cmk1.ciphertext");
        expect(await raw.storedCredentials(firm.id, mailbox.id)).toBe("cmk1.ciphertext");
        expect(await store.listMailboxCredentials(firm.id)).toEqual([
          { mailboxId: mailbox.id, ciphertext: "cmk1.ciphertext" },
        ]);
        await store.setMailboxCredentials(firm.id, mailbox.id, undefined);
        expect(await raw.storedCredentials(firm.id, mailbox.id)).toBeUndefined();
        expect(await store.listMailboxes(firm.id)).toHaveLength(1);
      });
    });

    describe("accounts, contacts and links", () => {
      it("T1: links are unique per (account, contact, email) and carry their own toggles", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "links");
        const { firm, account, contact, link } = seed;
        const family = await store.createAccount(firm.id, { name: "Bolt family", kind: "family" }, t0);
        const second = await store.createLink(firm.id, {
          accountId: family.id,
          contactId: contact.id,
          email: link.email,
          login: true,
          notify: false,
          emailSync: false,
          signatory: true,
          notifyPreferences: allOn,
        });
        expect(second).toMatchObject({ login: true, notify: false, emailSync: false, signatory: true });
        await expectCode(
          store.createLink(firm.id, {
            accountId: account.id,
            contactId: contact.id,
            email: link.email,
            login: false,
            notify: false,
            emailSync: false,
            signatory: false,
            notifyPreferences: allOn,
          }),
          "conflict",
        );
        await expectCode(
          store.createLink(firm.id, { ...second, accountId: "no-such-account", email: "x@y.example" }),
          "not_found",
        );
        expect((await store.listLinks(firm.id, { emailSync: true })).map((l) => l.id)).toEqual([link.id]);
        expect((await store.listLinks(firm.id, { contactId: contact.id })).map((l) => l.id).sort()).toEqual(
          [link.id, second.id].sort(),
        );
        expect((await store.listLinks(firm.id, { accountId: family.id })).map((l) => l.id)).toEqual([
          second.id,
        ]);

        const moved = await store.updateLink(firm.id, second.id, {
          email: "cleo2@bolt.example",
          emailSync: true,
        });
        expect(moved).toMatchObject({ email: "cleo2@bolt.example", emailSync: true, login: true });
        expect(await store.getLink(firm.id, second.id)).toEqual(moved);
        await store.createLink(firm.id, { ...second, email: "cleo3@bolt.example" });
        await expectCode(store.updateLink(firm.id, second.id, { email: "cleo3@bolt.example" }), "conflict");

        const invitation = {
          token: "tok-123",
          email: moved.email,
          status: "pending",
          sentAt: t0,
          acceptedAt: undefined,
          customMessage: "Hi",
        } as const;
        const invited = await store.setInvitation(firm.id, second.id, invitation);
        expect(invited.invitation).toEqual(invitation);
        expect((await store.findLinkByInvitationToken(firm.id, "tok-123"))?.id).toBe(second.id);
        expect(await store.findLinkByInvitationToken(firm.id, "tok-unknown")).toBeUndefined();

        const renamed = await store.updateAccount(firm.id, family.id, { name: "Bolt household" });
        expect(renamed.name).toBe("Bolt household");
        expect((await store.listAccounts(firm.id)).map((a) => a.name)).toEqual([
          "Bolt Ltd",
          "Bolt household",
        ]);
        expect(await store.updateContact(firm.id, contact.id, { firstName: "Clea" })).toMatchObject({
          firstName: "Clea",
          lastName: "Bolt",
        });
        expect((await store.listContacts(firm.id)).map((c) => c.firstName)).toEqual(["Clea"]);

        expect(await store.deleteAccount(firm.id, family.id)).toBe(true);
        expect(await store.deleteAccount(firm.id, family.id)).toBe(false);
        expect(await store.getLink(firm.id, second.id)).toBeUndefined();
        expect(await store.listLinks(firm.id)).toHaveLength(1);
        expect(await store.deleteLink(firm.id, link.id)).toBe(true);
        expect(await store.deleteLink(firm.id, link.id)).toBe(false);
      });
    });

    describe("filing", () => {
      it("F5: replaying a batch changes nothing", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "replay");
        const batch = [message(seed, 1), message(seed, 2), message(seed, 3)];
        const first = await store.fileMessages(seed.firm.id, batch, t0);
        expect(first.map((o) => o.created)).toEqual([true, true, true]);
        const stored = await Promise.all(first.map((o) => store.getMessage(seed.firm.id, o.id)));
        const before = {
          messages: await raw.countMessages(seed.firm.id),
          sightings: await raw.countSightings(seed.firm.id),
        };
        expect(before).toEqual({ messages: 3, sightings: 3 });

        const replay = await store.fileMessages(seed.firm.id, batch, minutes(60));
        expect(replay.map((o) => o.created)).toEqual([false, false, false]);
        expect(replay.map((o) => o.id)).toEqual(first.map((o) => o.id));
        expect({
          messages: await raw.countMessages(seed.firm.id),
          sightings: await raw.countSightings(seed.firm.id),
        }).toEqual(before);
        expect(await Promise.all(first.map((o) => store.getMessage(seed.firm.id, o.id)))).toEqual(stored);

        const m1 = stored[0];
        expect(m1).toMatchObject({
          dedupeKey: "<m1@bolt.example>",
          subject: "Invoice 1",
          direction: "inbound",
          text: "Hello 1",
          html: "<p>Hello 1</p>",
          threadId: seed.thread,
          removedAt: undefined,
          filedAt: t0,
          filings: [{ accountId: seed.account.id, linkIds: [seed.link.id] }],
          sightings: [{ mailboxId: seed.mailbox.id, providerId: "INBOX:1:1", folder: "INBOX" }],
        });
        expect(m1?.from).toEqual([{ name: "Cleo", address: "cleo@bolt.example" }]);
        expect(m1?.date).toEqual(minutes(1));
        expect(m1?.attachments).toHaveLength(1);
      });

      it("F5: the same message seen through another mailbox adds a sighting only", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "sightings");
        const shared = await store.createMailbox(
          seed.firm.id,
          {
            provider: "gmail",
            address: "team@sightings.example",
            displayName: "Team",
            ownerMemberId: seed.member.id,
            settings: seed.mailbox.settings,
          },
          t0,
        );
        const [first] = await store.fileMessages(seed.firm.id, [message(seed, 1)], t0);
        const family = await store.createAccount(seed.firm.id, { name: "Bolt family", kind: "family" }, t0);
        const familyLink = await store.createLink(seed.firm.id, { ...seed.link, accountId: family.id });
        const copy = message(seed, 1, {
          subject: "changed subject is ignored",
          sightings: [{ mailboxId: shared.id, providerId: "g-77", folder: "INBOX" }],
          filings: [{ accountId: family.id, linkIds: [familyLink.id] }],
        });
        const [second] = await store.fileMessages(seed.firm.id, [copy], minutes(5));
        expect(second).toEqual({ dedupeKey: "<m1@bolt.example>", id: first?.id, created: false });
        const stored = await store.getMessage(seed.firm.id, first?.id ?? "");
        expect(stored?.subject).toBe("Invoice 1");
        expect(stored?.sightings).toHaveLength(2);
        expect(stored?.filings.map((f) => f.accountId).sort()).toEqual([seed.account.id, family.id].sort());
        expect(await raw.countMessages(seed.firm.id)).toBe(1);
        expect(await raw.countSightings(seed.firm.id)).toBe(2);
      });

      it("F5: a key repeated inside one batch is stored once", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "inbatch");
        const outcomes = await store.fileMessages(
          seed.firm.id,
          [
            message(seed, 1),
            message(seed, 1, {
              sightings: [{ mailboxId: seed.mailbox.id, providerId: "Sent:1:9", folder: "Sent" }],
            }),
          ],
          t0,
        );
        expect(outcomes.map((o) => o.created)).toEqual([true, false]);
        expect(outcomes[0]?.id).toBe(outcomes[1]?.id);
        expect(await raw.countMessages(seed.firm.id)).toBe(1);
        expect(await raw.countSightings(seed.firm.id)).toBe(2);
      });

      it("files a batch atomically: one bad message stores nothing", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "atomic");
        await expectCode(
          store.fileMessages(
            seed.firm.id,
            [message(seed, 1), message(seed, 2, { threadId: "no-such-thread" })],
            t0,
          ),
          "not_found",
        );
        await expectCode(
          store.fileMessages(
            seed.firm.id,
            [message(seed, 1, { filings: [{ accountId: seed.account.id, linkIds: ["no-such-link"] }] })],
            t0,
          ),
          "not_found",
        );
        expect(await raw.countMessages(seed.firm.id)).toBe(0);
        expect(await raw.countSightings(seed.firm.id)).toBe(0);
        expect((await store.findMessagesByDedupeKeys(seed.firm.id, ["<m1@bolt.example>"])).size).toBe(0);
      });

      it("F8: lists a mailbox's sightings, so a relisting can find the copies that vanished", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "sightings", "mirror");
        await store.fileMessages(
          seed.firm.id,
          [
            message(seed, 1, {
              sightings: [
                { mailboxId: seed.mailbox.id, providerId: "INBOX:7:2", folder: "INBOX" },
                { mailboxId: seed.mailbox.id, providerId: "INBOX:7:10", folder: "INBOX" },
              ],
            }),
          ],
          t0,
        );
        expect(await store.listSightings(seed.firm.id, seed.mailbox.id)).toEqual(["INBOX:7:10", "INBOX:7:2"]);
        expect(await store.listSightings(seed.firm.id, "no-such-mailbox")).toEqual([]);
        await store.removeSightings(seed.firm.id, seed.mailbox.id, ["INBOX:7:2"], minutes(1));
        expect(await store.listSightings(seed.firm.id, seed.mailbox.id)).toEqual(["INBOX:7:10"]);
      });

      it("F8: mirror mode hides a message once its last sighting is removed", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "mirror", "mirror");
        const [a] = await store.fileMessages(
          seed.firm.id,
          [
            message(seed, 1, {
              sightings: [
                { mailboxId: seed.mailbox.id, providerId: "p1", folder: "INBOX" },
                { mailboxId: seed.mailbox.id, providerId: "p2", folder: "Archive" },
              ],
            }),
          ],
          t0,
        );
        const first = await store.removeSightings(
          seed.firm.id,
          seed.mailbox.id,
          ["p1", "unknown"],
          minutes(1),
        );
        expect(first).toEqual({ orphaned: [], hidden: false });
        expect(await store.listThreadMessages(seed.firm.id, seed.thread)).toHaveLength(1);
        const last = await store.removeSightings(seed.firm.id, seed.mailbox.id, ["p2"], minutes(2));
        expect(last).toEqual({ orphaned: [a?.id], hidden: true });
        expect(await store.listThreadMessages(seed.firm.id, seed.thread)).toEqual([]);
        expect(await store.listAccountThreads(seed.firm.id, seed.account.id, { view: "inbox" })).toEqual([]);
        expect((await store.getMessage(seed.firm.id, a?.id ?? ""))?.removedAt).toEqual(minutes(2));
        expect(await store.removeSightings(seed.firm.id, seed.mailbox.id, ["p2"], minutes(3))).toEqual({
          orphaned: [],
          hidden: false,
        });
        // Seen again (e.g. restored from the trash): visible again.
        await store.fileMessages(
          seed.firm.id,
          [
            message(seed, 1, {
              sightings: [{ mailboxId: seed.mailbox.id, providerId: "p3", folder: "INBOX" }],
            }),
          ],
          minutes(4),
        );
        expect(await store.listThreadMessages(seed.firm.id, seed.thread)).toHaveLength(1);
      });

      it("F8: retain mode keeps a message whose copies were all deleted", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "retain", "retain");
        const [a] = await store.fileMessages(seed.firm.id, [message(seed, 1)], t0);
        const removal = await store.removeSightings(seed.firm.id, seed.mailbox.id, ["INBOX:1:1"], minutes(1));
        expect(removal).toEqual({ orphaned: [a?.id], hidden: false });
        expect(await store.listThreadMessages(seed.firm.id, seed.thread)).toHaveLength(1);
        expect((await store.getMessage(seed.firm.id, a?.id ?? ""))?.sightings).toEqual([]);
      });
    });

    describe("identity and quarantine (R2, R4, R5)", () => {
      it("R5: every message with a Message-ID is found by it, several when they share one", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "identity");
        const F = seed.firm.id;
        await store.fileMessages(
          F,
          [
            message(seed, 1, { dedupeKey: "mid:shared@x#aaa", messageId: "shared@x" }),
            message(seed, 2, { dedupeKey: "mid:shared@x#bbb", messageId: "shared@x", subject: "Other" }),
            message(seed, 3, { dedupeKey: "mid:own@x#ccc", messageId: "own@x" }),
            message(seed, 4, { dedupeKey: "sha256:none", messageId: undefined }),
          ],
          t0,
        );
        const shared = await store.findMessagesByMessageIds(F, ["shared@x", "missing@x"]);
        expect(shared.map((m) => m.dedupeKey).sort()).toEqual(["mid:shared@x#aaa", "mid:shared@x#bbb"]);
        expect(shared.every((m) => m.filings.length === 1 && m.sightings.length === 1)).toBe(true);
        expect(await store.findMessagesByMessageIds(F, [])).toEqual([]);
        const [own] = await store.findMessagesByMessageIds(F, ["own@x"]);
        expect(own?.subject).toBe("Invoice 3");
        await store.eraseMessages(F, [own!.id]);
        expect(await store.findMessagesByMessageIds(F, ["own@x"])).toEqual([]);
      });

      it("R4: text a store cannot hold (U+0000, lone surrogates) is refused with validation_failed naming the field, and nothing is written", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "storable");
        const F = seed.firm.id;
        const refused = async (promise: Promise<unknown>, field: string) => {
          const error = await promise.then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(ClientMailError.hasCode(error, "validation_failed"), field).toBe(true);
          expect(JSON.stringify((error as ClientMailError).details)).toContain(field);
        };
        await refused(store.fileMessages(F, [message(seed, 1, { subject: "Invoice\u0000" })], t0), "subject");
        await refused(store.fileMessages(F, [message(seed, 2, { text: "half \ud800 pair" })], t0), "text");
        await refused(
          store.fileMessages(
            F,
            [message(seed, 3), message(seed, 4, { from: [{ name: "J\u0000o", address: "jo@x.example" }] })],
            t0,
          ),
          "from.0.name",
        );
        expect(await raw.countMessages(F)).toBe(0);
        await refused(store.createAccount(F, { name: "Bad\u0000Co", kind: "business" }, t0), "name");
        await refused(store.createContact(F, { firstName: "\udc00", lastName: "X" }), "firstName");
        await refused(store.updateAccount(F, seed.account.id, { name: "x\u0000" }), "name");
        expect((await store.getAccount(F, seed.account.id))?.name).toBe("Bolt Ltd");
        await refused(
          store.createNotification(
            F,
            { memberId: seed.member.id, kind: "x", payload: { subject: "\u0000" } },
            t0,
          ),
          "subject",
        );
        expect(await store.listNotifications(F, seed.member.id, t0)).toEqual([]);
        // A well-formed pair (an emoji) and other control characters are fine.
        const [ok] = await store.fileMessages(F, [message(seed, 5, { subject: "Tax 📎 \u0007 ok" })], t0);
        expect((await store.getMessage(F, ok!.id))?.subject).toBe("Tax 📎 \u0007 ok");
      });

      it("R2: quarantine entries are upserted per (mailbox, provider id), listed soonest first, filtered by due time, and removed", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "quarantine");
        const F = seed.firm.id;
        const entry = (providerId: string, next: number, attempts = 1) => ({
          mailboxId: seed.mailbox.id,
          providerId,
          reason: "unparseable" as const,
          detail: "no readable part",
          attempts,
          firstAttemptAt: t0,
          lastAttemptAt: minutes(attempts),
          nextAttemptAt: minutes(next),
        });
        await store.putQuarantine(F, [entry("INBOX:1:2", 30), entry("INBOX:1:1", 10)]);
        await store.putQuarantine(F, [
          { ...entry("INBOX:1:2", 5, 2), reason: "too_large", detail: "42 MiB" },
        ]);
        expect(await store.listQuarantine(F)).toEqual([
          { ...entry("INBOX:1:2", 5, 2), reason: "too_large", detail: "42 MiB" },
          entry("INBOX:1:1", 10),
        ]);
        expect((await store.listQuarantine(F, { dueAt: minutes(7) })).map((e) => e.providerId)).toEqual([
          "INBOX:1:2",
        ]);
        expect(await store.listQuarantine(F, { limit: 1, mailboxId: seed.mailbox.id })).toHaveLength(1);
        expect(await store.listQuarantine(F, { mailboxId: "no-such-mailbox" })).toEqual([]);
        expect(await store.removeQuarantine(F, seed.mailbox.id, ["INBOX:1:2", "INBOX:1:9"])).toBe(1);
        expect((await store.listQuarantine(F)).map((e) => e.providerId)).toEqual(["INBOX:1:1"]);
        await expectCode(
          store.putQuarantine(F, [{ ...entry("x", 1), mailboxId: "no-such-mailbox" }]),
          "not_found",
        );
        // Atomic with the caller's transaction.
        await store
          .transaction(async (tx) => {
            await tx.putQuarantine(F, [entry("INBOX:1:3", 1)]);
            throw new Error("roll back");
          })
          .catch(() => undefined);
        expect((await store.listQuarantine(F)).map((e) => e.providerId)).toEqual(["INBOX:1:1"]);
      });
    });

    describe("erasure", () => {
      it("F8: erasing messages deletes them with their sightings and filings, permanently", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "erase");
        const [a, b] = await store.fileMessages(seed.firm.id, [message(seed, 1), message(seed, 2)], t0);
        expect(await store.eraseMessages(seed.firm.id, [a?.id ?? "", a?.id ?? "", "unknown"])).toBe(1);
        expect(await store.getMessage(seed.firm.id, a?.id ?? "")).toBeUndefined();
        expect(await raw.countMessages(seed.firm.id)).toBe(1);
        expect(await raw.countSightings(seed.firm.id)).toBe(1);
        expect((await store.listThreadMessages(seed.firm.id, seed.thread)).map((m) => m.id)).toEqual([b?.id]);
        expect(await store.removeSightings(seed.firm.id, seed.mailbox.id, ["INBOX:1:1"], t0)).toEqual({
          orphaned: [],
          hidden: false,
        });
        expect(await store.eraseMessages(seed.firm.id, [a?.id ?? ""])).toBe(0);
        // The identity is free again: filing the same message again creates a new record.
        const [again] = await store.fileMessages(seed.firm.id, [message(seed, 1)], t0);
        expect(again?.created).toBe(true);
      });
    });

    describe("threads", () => {
      it("H3: keys map to threads, conflicts are reported, merges move messages, keys and mutes", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "threads");
        const other = await store.createThread(seed.firm.id);
        expect(await store.attachThreadKeys(seed.firm.id, seed.thread, ["k1", "k2", "k1"])).toEqual([]);
        expect(await store.attachThreadKeys(seed.firm.id, seed.thread, ["k1"])).toEqual([]);
        expect(await store.attachThreadKeys(seed.firm.id, other, ["k2", "k3"])).toEqual([
          { key: "k2", threadId: seed.thread },
        ]);
        expect(
          Object.fromEntries(await store.findThreadsByKeys(seed.firm.id, ["k1", "k2", "k3", "k4"])),
        ).toEqual({
          k1: seed.thread,
          k2: seed.thread,
          k3: other,
        });
        await store.fileMessages(seed.firm.id, [message(seed, 1), message(seed, 2, { threadId: other })], t0);
        await store.setThreadMuted(seed.firm.id, other, seed.member.id, true);
        await store.setThreadMuted(seed.firm.id, other, seed.member.id, true);
        expect(await store.listThreadMutes(seed.firm.id, other)).toEqual([seed.member.id]);

        await store.mergeThreads(seed.firm.id, seed.thread, [other]);
        await store.mergeThreads(seed.firm.id, seed.thread, [other]);
        expect((await store.listThreadMessages(seed.firm.id, seed.thread)).map((m) => m.subject)).toEqual([
          "Invoice 1",
          "Invoice 2",
        ]);
        expect(await store.listThreadMessages(seed.firm.id, other)).toEqual([]);
        expect((await store.findThreadsByKeys(seed.firm.id, ["k3"])).get("k3")).toBe(seed.thread);
        expect(await store.listThreadMutes(seed.firm.id, seed.thread)).toEqual([seed.member.id]);
        await store.setThreadMuted(seed.firm.id, seed.thread, seed.member.id, false);
        expect(await store.listThreadMutes(seed.firm.id, seed.thread)).toEqual([]);
        await expectCode(store.attachThreadKeys(seed.firm.id, other, ["k9"]), "not_found");
      });

      it("H1: the subject index finds threads by key within the window, open entries only for closed probes, and follows merges", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "subjects");
        const F = seed.firm.id;
        const day = 24 * 60 * 60 * 1000;
        const window = 30 * day;
        const other = await store.createThread(F);
        const third = await store.createThread(F);
        await store.addSubjectEntries(F, seed.thread, [{ key: "s:invoice:cleo", at: t0, open: true }]);
        await store.addSubjectEntries(F, other, [
          { key: "s:invoice:cleo", at: new Date(t0.getTime() + 20 * day), open: false },
        ]);
        await store.addSubjectEntries(F, third, [
          { key: "s:invoice:cleo", at: new Date(t0.getTime() + 60 * day), open: true },
        ]);
        const probe = (days: number, open: boolean, key = "s:invoice:cleo") => ({
          key,
          at: new Date(t0.getTime() + days * day),
          open,
        });
        const found = await store.findSubjectThreads(
          F,
          [
            probe(10, true),
            probe(10, false),
            probe(30, false),
            probe(45, true),
            probe(0, true, "s:other:cleo"),
          ],
          window,
        );
        expect(found[0]).toEqual([seed.thread, other].sort());
        // A probe that is not open links only to open entries.
        expect(found[1]).toEqual([seed.thread]);
        // The window is inclusive: 30 days from the first entry still links.
        expect(found[2]).toEqual([seed.thread, third].sort());
        expect(found[3]).toEqual([other, third].sort());
        expect(found[4]).toEqual([]);
        await store.mergeThreads(F, seed.thread, [other]);
        expect((await store.findSubjectThreads(F, [probe(10, true)], window))[0]).toEqual([seed.thread]);
        await expectCode(store.addSubjectEntries(F, other, [probe(1, true)]), "not_found");
        await store.lockThreads(F);
        await store.transaction(async (tx) => {
          await tx.lockThreads(F);
          await tx.lockThreads(F);
        });
      });

      it("H4, H5: an account lists its threads newest first, each with its messages in order", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "listing");
        const { firm, account, link } = seed;
        const family = await store.createAccount(firm.id, { name: "Bolt family", kind: "family" }, t0);
        const familyLink = await store.createLink(firm.id, { ...link, accountId: family.id });
        const older = await store.createThread(firm.id);
        const both = [
          { accountId: account.id, linkIds: [link.id] },
          { accountId: family.id, linkIds: [familyLink.id] },
        ];
        await store.fileMessages(
          firm.id,
          [
            message(seed, 30, { threadId: older }),
            message(seed, 10),
            message(seed, 50, { direction: "outbound", filings: both }),
            message(seed, 20, { threadId: older }),
          ],
          t0,
        );
        const inbox = await store.listAccountThreads(firm.id, account.id, { view: "inbox" });
        expect(inbox.map((t) => t.threadId)).toEqual([seed.thread, older]);
        expect(inbox[0]?.lastActivityAt).toEqual(minutes(50));
        expect(inbox[0]?.messages.map((m) => m.subject)).toEqual(["Invoice 10", "Invoice 50"]);
        expect(inbox[1]?.messages.map((m) => m.subject)).toEqual(["Invoice 20", "Invoice 30"]);
        expect(
          (await store.listAccountThreads(firm.id, account.id, { view: "inbox", limit: 1 })).map(
            (t) => t.threadId,
          ),
        ).toEqual([seed.thread]);
        const sent = await store.listAccountThreads(firm.id, account.id, { view: "sent" });
        expect(sent.map((t) => t.threadId)).toEqual([seed.thread]);
        // H4: the whole thread shows under the family account, through one of its messages.
        const familyInbox = await store.listAccountThreads(firm.id, family.id, { view: "inbox" });
        expect(familyInbox.map((t) => t.messages.length)).toEqual([2]);
        // F7: with email sync off, the account has no reason left to show the mail.
        await store.updateLink(firm.id, familyLink.id, { emailSync: false });
        expect(await store.listAccountThreads(firm.id, family.id, { view: "inbox" })).toEqual([]);
        await store.updateLink(firm.id, familyLink.id, { emailSync: true });
        expect(await store.listAccountThreads(firm.id, family.id, { view: "inbox" })).toHaveLength(1);
      });
    });

    describe("attachments, notifications, audit", () => {
      it("F9: a file is recorded as saved once per account, even under concurrent calls", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "attach");
        const hash = "cd".repeat(32);
        const results = await Promise.all(
          Array.from({ length: 6 }, () => store.claimAttachment(seed.firm.id, seed.account.id, hash)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.claimAttachment(seed.firm.id, seed.account.id, hash)).toBe(false);
        const family = await store.createAccount(seed.firm.id, { name: "Family", kind: "family" }, t0);
        expect(await store.isAttachmentSaved(seed.firm.id, family.id, hash)).toBe(false);
        expect(await store.claimAttachment(seed.firm.id, family.id, hash)).toBe(true);
        expect(await store.isAttachmentSaved(seed.firm.id, family.id, hash)).toBe(true);
        expect(await store.isAttachmentSaved(seed.firm.id, family.id, "ef".repeat(32))).toBe(false);
      });

      it("N3: notifications hide while snoozed and never come back once dismissed", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "notify");
        const { firm, member } = seed;
        const a = await store.createNotification(
          firm.id,
          {
            memberId: member.id,
            kind: "mailbox_sync_stopped",
            payload: { mailboxId: "m" },
            dedupeKey: "stop:m",
          },
          t0,
        );
        const again = await store.createNotification(
          firm.id,
          {
            memberId: member.id,
            kind: "mailbox_sync_stopped",
            payload: { mailboxId: "other" },
            dedupeKey: "stop:m",
          },
          minutes(1),
        );
        expect(again).toEqual(a);
        const b = await store.createNotification(
          firm.id,
          { memberId: member.id, kind: "new_mail", payload: { n: 1 } },
          minutes(2),
        );
        expect((await store.listNotifications(firm.id, member.id, minutes(3))).map((n) => n.id)).toEqual([
          b.id,
          a.id,
        ]);
        expect(await store.snoozeNotification(firm.id, a.id, minutes(60))).toBe(true);
        expect((await store.listNotifications(firm.id, member.id, minutes(59))).map((n) => n.id)).toEqual([
          b.id,
        ]);
        expect((await store.listNotifications(firm.id, member.id, minutes(60))).map((n) => n.id)).toEqual([
          b.id,
          a.id,
        ]);
        expect(await store.dismissNotification(firm.id, a.id, minutes(61))).toBe(true);
        expect(await store.dismissNotification(firm.id, a.id, minutes(62))).toBe(true);
        expect(await store.snoozeNotification(firm.id, a.id, minutes(70))).toBe(false);
        expect((await store.listNotifications(firm.id, member.id, minutes(10_000))).map((n) => n.id)).toEqual(
          [b.id],
        );
        expect(await store.dismissNotification(firm.id, "no-such-id", t0)).toBe(false);
        await expectCode(
          store.createNotification(firm.id, { memberId: "nobody", kind: "x", payload: {} }, t0),
          "not_found",
        );
      });

      it("keeps an audit trail, newest first", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "audit");
        await store.appendAudit(
          seed.firm.id,
          {
            actor: seed.member.id,
            action: "contact.erased",
            subject: `contact:${seed.contact.id}`,
            details: { messages: 3 },
          },
          t0,
        );
        await store.appendAudit(
          seed.firm.id,
          { actor: "system", action: "mailbox.stopped", subject: undefined, details: {} },
          minutes(1),
        );
        const entries = await store.listAudit(seed.firm.id);
        expect(entries.map((e) => e.action)).toEqual(["mailbox.stopped", "contact.erased"]);
        expect(entries[1]).toMatchObject({ actor: seed.member.id, details: { messages: 3 }, at: t0 });
        expect(await store.listAudit(seed.firm.id, 1)).toHaveLength(1);
      });
    });

    describe("outbox", () => {
      it("S4: a scheduled message is claimed exactly once and moves scheduled -> submitting -> sent", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "outbox");
        const { firm, mailbox, member, account } = seed;
        const input = {
          mailboxId: mailbox.id,
          actor: { kind: "member", memberId: member.id } as const,
          accountIds: [account.id],
          threadId: seed.thread,
          draft: { subject: "Your return", to: ["cleo@bolt.example"] },
          sendAt: minutes(30),
        };
        const o = await store.createOutbox(firm.id, input, t0);
        expect(o).toMatchObject({
          state: "scheduled",
          attempts: 0,
          claimedBy: undefined,
          draft: input.draft,
          sendAt: minutes(30),
        });
        const later = await store.createOutbox(firm.id, { ...input, sendAt: minutes(90) }, t0);
        expect(await store.listDueOutbox(firm.id, minutes(29), 10)).toEqual([]);
        expect((await store.listDueOutbox(firm.id, minutes(30), 10)).map((x) => x.id)).toEqual([o.id]);
        expect((await store.listOutbox(firm.id, { accountId: account.id })).map((x) => x.id)).toEqual([
          o.id,
          later.id,
        ]);

        const edited = await store.updateScheduledOutbox(firm.id, o.id, {
          draft: { subject: "Your 2025 return" },
        });
        expect(edited?.draft).toEqual({ subject: "Your 2025 return" });
        expect(await store.cancelOutbox(firm.id, later.id)).toBe(true);
        expect(await store.cancelOutbox(firm.id, later.id)).toBe(false);
        expect((await store.listOutbox(firm.id, { state: "cancelled" })).map((x) => x.id)).toEqual([
          later.id,
        ]);

        const claims = await Promise.all(
          ["w1", "w2", "w3", "w4"].map((w) => store.claimOutbox(firm.id, o.id, w)),
        );
        expect(claims.filter(Boolean)).toHaveLength(1);
        const winner = ["w1", "w2", "w3", "w4"][claims.indexOf(true)] ?? "";
        expect(await store.updateScheduledOutbox(firm.id, o.id, { draft: {} })).toBeUndefined();
        expect(await store.cancelOutbox(firm.id, o.id)).toBe(false);
        expect(
          await store.markOutboxSent(firm.id, o.id, "someone-else", { at: minutes(31), messageId: "<x@y>" }),
        ).toBe(false);
        expect(
          await store.markOutboxFailed(firm.id, o.id, winner, { error: "transient", retryAt: minutes(40) }),
        ).toBe(true);
        expect(await store.getOutbox(firm.id, o.id)).toMatchObject({
          state: "scheduled",
          sendAt: minutes(40),
          lastError: "transient",
          attempts: 1,
        });
        expect(await store.claimOutbox(firm.id, o.id, "w5")).toBe(true);
        expect(
          await store.markOutboxSent(firm.id, o.id, "w5", { at: minutes(41), messageId: "<sent@ann>" }),
        ).toBe(true);
        expect(await store.getOutbox(firm.id, o.id)).toMatchObject({
          state: "sent",
          sentAt: minutes(41),
          messageId: "<sent@ann>",
          attempts: 2,
        });
        expect(await store.claimOutbox(firm.id, o.id, "w6")).toBe(false);

        const doomed = await store.createOutbox(firm.id, input, t0);
        await store.claimOutbox(firm.id, doomed.id, "w7");
        expect(
          await store.markOutboxFailed(firm.id, doomed.id, "w7", {
            error: "permission_denied",
            retryAt: undefined,
          }),
        ).toBe(true);
        expect((await store.getOutbox(firm.id, doomed.id))?.state).toBe("failed");
      });
    });

    describe("leases and cursors", () => {
      it("Y6: only one of two racing workers gets the lease; the holder renews and releases", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "lease");
        const { firm, mailbox } = seed;
        const [a, b] = await Promise.all([
          store.acquireLease(firm.id, mailbox.id, "worker-a", 60_000),
          store.acquireLease(firm.id, mailbox.id, "worker-b", 60_000),
        ]);
        expect([a, b].filter((x) => x !== undefined)).toHaveLength(1);
        const [holder, token] = a !== undefined ? ["worker-a", a] : ["worker-b", b as number];
        expect(await store.acquireLease(firm.id, mailbox.id, holder, 60_000)).toBe(token);
        expect(await store.renewLease(firm.id, mailbox.id, token, 60_000)).toBe(true);
        await store.setCursor(firm.id, mailbox.id, token, "cursor-1");
        expect(await store.getCursor(firm.id, mailbox.id)).toBe("cursor-1");
        await store.releaseLease(firm.id, mailbox.id, token);
        expect(await store.renewLease(firm.id, mailbox.id, token, 60_000)).toBe(false);
        await expectCode(store.setCursor(firm.id, mailbox.id, token, "after-release"), "lease_lost");
        const next = await store.acquireLease(firm.id, mailbox.id, "worker-c", 60_000);
        expect(next).toBeGreaterThan(token);
        expect(await store.acquireLease(firm.id, "no-such-mailbox", "worker-c", 60_000)).toBeUndefined();
      });

      it("Y6: a stale worker's cursor write is fenced and its whole page rolls back", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "fence");
        const { firm, mailbox } = seed;
        const stale = await store.acquireLease(firm.id, mailbox.id, "worker-a", 200);
        expect(stale).toBeDefined();
        await store.setCursor(firm.id, mailbox.id, stale as number, "a-1");
        expect(await store.acquireLease(firm.id, mailbox.id, "worker-b", 60_000)).toBeUndefined();
        await advance(400);
        const fresh = await store.acquireLease(firm.id, mailbox.id, "worker-b", 60_000);
        expect(fresh).toBe((stale as number) + 1);
        await store.setCursor(firm.id, mailbox.id, fresh as number, "b-1");

        await expectCode(
          store.transaction(async (tx) => {
            await tx.fileMessages(firm.id, [message(seed, 1)], t0);
            await tx.setCursor(firm.id, mailbox.id, stale as number, "a-2");
          }),
          "lease_lost",
        );
        await expectCode(store.setCursor(firm.id, mailbox.id, stale as number, "a-3"), "lease_lost");
        expect(await store.renewLease(firm.id, mailbox.id, stale as number, 60_000)).toBe(false);
        await store.releaseLease(firm.id, mailbox.id, stale as number);
        expect(await store.getCursor(firm.id, mailbox.id)).toBe("b-1");
        expect(await raw.countMessages(firm.id)).toBe(0);
        await store.setCursor(firm.id, mailbox.id, fresh as number, "b-2");
        expect(await store.getCursor(firm.id, mailbox.id)).toBe("b-2");
      });
    });

    describe("transactions", () => {
      it("rolls back every write when the function throws", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "rollback");
        const token = (await store.acquireLease(seed.firm.id, seed.mailbox.id, "w", 60_000)) as number;
        const failure = new Error("boom");
        await expect(
          store.transaction(async (tx) => {
            await tx.createAccount(seed.firm.id, { name: "Ghost", kind: "person" }, t0);
            await tx.fileMessages(seed.firm.id, [message(seed, 1)], t0);
            await tx.setCursor(seed.firm.id, seed.mailbox.id, token, "c-1");
            await tx.updateLink(seed.firm.id, seed.link.id, { emailSync: false });
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect((await store.listAccounts(seed.firm.id)).map((a) => a.name)).toEqual(["Bolt Ltd"]);
        expect(await raw.countMessages(seed.firm.id)).toBe(0);
        expect(await raw.countSightings(seed.firm.id)).toBe(0);
        expect(await store.getCursor(seed.firm.id, seed.mailbox.id)).toBeUndefined();
        expect((await store.getLink(seed.firm.id, seed.link.id))?.emailSync).toBe(true);
      });

      it("commits together, and a nested transaction that throws rolls back only its own writes", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "nested");
        const result = await store.transaction(async (tx) => {
          await tx.createAccount(seed.firm.id, { name: "Kept", kind: "person" }, t0);
          await tx
            .transaction(async (inner) => {
              await inner.createAccount(seed.firm.id, { name: "Dropped", kind: "person" }, t0);
              throw new Error("inner");
            })
            .catch(() => undefined);
          await store.createContact(seed.firm.id, { firstName: "Joined", lastName: "Outer" });
          return (await tx.listAccounts(seed.firm.id)).length;
        });
        expect(result).toBe(2);
        expect((await store.listAccounts(seed.firm.id)).map((a) => a.name)).toEqual(["Bolt Ltd", "Kept"]);
        expect((await store.listContacts(seed.firm.id)).map((c) => c.firstName).sort()).toEqual([
          "Cleo",
          "Joined",
        ]);
      });
    });

    describe("tenant isolation", () => {
      it("every method called with another firm's ids finds nothing and changes nothing", async () => {
        const { store, raw } = await options.makeStore();
        const a = await seedFirm(store, "tenant-a");
        const b = await seedFirm(store, "tenant-b");
        // Give firm B state in every table.
        const bToken = (await store.acquireLease(b.firm.id, b.mailbox.id, "worker-b", 60_000)) as number;
        await store.setCursor(b.firm.id, b.mailbox.id, bToken, "b-cursor");
        await store.setMailboxCredentials(b.firm.id, b.mailbox.id, "cmk1.b-secret");
        await store.attachThreadKeys(b.firm.id, b.thread, ["k1"]);
        const [bMessage] = await store.fileMessages(b.firm.id, [message(b, 1)], t0);
        await store.setThreadMuted(b.firm.id, b.thread, b.member.id, true);
        const bNotification = await store.createNotification(
          b.firm.id,
          { memberId: b.member.id, kind: "new_mail", payload: {} },
          t0,
        );
        await store.appendAudit(
          b.firm.id,
          { actor: "system", action: "x", subject: undefined, details: {} },
          t0,
        );
        const bOutbox = await store.createOutbox(
          b.firm.id,
          {
            mailboxId: b.mailbox.id,
            actor: { kind: "member", memberId: b.member.id },
            accountIds: [b.account.id],
            threadId: b.thread,
            draft: {},
            sendAt: t0,
          },
          t0,
        );
        await store.setInvitation(b.firm.id, b.link.id, {
          token: "b-token",
          email: b.link.email,
          status: "pending",
          sentAt: t0,
          acceptedAt: undefined,
          customMessage: undefined,
        });
        await store.addSubjectEntries(b.firm.id, b.thread, [{ key: "s:b", at: t0, open: true }]);
        await store.putQuarantine(b.firm.id, [
          {
            mailboxId: b.mailbox.id,
            providerId: "INBOX:1:9",
            reason: "unparseable",
            detail: "x",
            attempts: 1,
            firstAttemptAt: t0,
            lastAttemptAt: t0,
            nextAttemptAt: t0,
          },
        ]);
        const bHash = "12".repeat(32);
        expect(await store.claimAttachment(b.firm.id, b.account.id, bHash)).toBe(true);
        const before = await snapshot(store, raw, b);

        const A = a.firm.id;
        const attempts: [
          string,
          () => Promise<unknown>,
          "absent" | "false" | "zero" | "empty" | "not_found" | "lease_lost" | "void",
        ][] = [
          ["getMember", () => store.getMember(A, b.member.id), "absent"],
          ["updateMember", () => store.updateMember(A, b.member.id, { name: "x" }), "not_found"],
          ["getMailbox", () => store.getMailbox(A, b.mailbox.id), "absent"],
          [
            "updateMailboxSettings",
            () => store.updateMailboxSettings(A, b.mailbox.id, { allowOthersToSend: true }),
            "not_found",
          ],
          [
            "setMailboxVerification",
            () =>
              store.setMailboxVerification(A, b.mailbox.id, {
                at: t0,
                complete: true,
                clientMessages: 0,
                missing: 0,
                repaired: 0,
                quarantined: 0,
              }),
            "not_found",
          ],
          [
            "setMailboxState",
            () => store.setMailboxState(A, b.mailbox.id, { status: "live" }, t0),
            "not_found",
          ],
          [
            "addMailboxConnection",
            () => store.addMailboxConnection(A, b.mailbox.id, a.member.id, t0),
            "not_found",
          ],
          [
            "addMailboxConnection(member)",
            () => store.addMailboxConnection(A, a.mailbox.id, b.member.id, t0),
            "not_found",
          ],
          [
            "removeMailboxConnection",
            () => store.removeMailboxConnection(A, b.mailbox.id, b.member.id),
            "false",
          ],
          [
            "setMailboxCredentials",
            () => store.setMailboxCredentials(A, b.mailbox.id, "cmk1.evil"),
            "not_found",
          ],
          ["getMailboxCredentials", () => store.getMailboxCredentials(A, b.mailbox.id), "absent"],
          [
            "createMailbox(owner)",
            () =>
              store.createMailbox(
                A,
                { ...a.mailbox, address: "new@tenant-a.example", ownerMemberId: b.member.id },
                t0,
              ),
            "not_found",
          ],
          ["acquireLease", () => store.acquireLease(A, b.mailbox.id, "intruder", 60_000), "absent"],
          ["renewLease", () => store.renewLease(A, b.mailbox.id, bToken, 60_000), "false"],
          ["releaseLease", () => store.releaseLease(A, b.mailbox.id, bToken), "void"],
          ["getCursor", () => store.getCursor(A, b.mailbox.id), "absent"],
          ["setCursor", () => store.setCursor(A, b.mailbox.id, bToken, "evil"), "lease_lost"],
          ["getAccount", () => store.getAccount(A, b.account.id), "absent"],
          ["updateAccount", () => store.updateAccount(A, b.account.id, { name: "x" }), "not_found"],
          ["deleteAccount", () => store.deleteAccount(A, b.account.id), "false"],
          ["getContact", () => store.getContact(A, b.contact.id), "absent"],
          ["updateContact", () => store.updateContact(A, b.contact.id, { firstName: "x" }), "not_found"],
          [
            "createLink(account)",
            () => store.createLink(A, { ...b.link, email: "new@x.example" }),
            "not_found",
          ],
          [
            "createLink(contact)",
            () => store.createLink(A, { ...b.link, accountId: a.account.id, email: "new@x.example" }),
            "not_found",
          ],
          ["getLink", () => store.getLink(A, b.link.id), "absent"],
          ["listLinks(account)", () => store.listLinks(A, { accountId: b.account.id }), "empty"],
          ["updateLink", () => store.updateLink(A, b.link.id, { emailSync: false }), "not_found"],
          ["deleteLink", () => store.deleteLink(A, b.link.id), "false"],
          ["setInvitation", () => store.setInvitation(A, b.link.id, undefined), "not_found"],
          ["findLinkByInvitationToken", () => store.findLinkByInvitationToken(A, "b-token"), "absent"],
          ["findThreadsByKeys", () => store.findThreadsByKeys(A, ["k1"]), "empty"],
          ["attachThreadKeys", () => store.attachThreadKeys(A, b.thread, ["k2"]), "not_found"],
          ["mergeThreads(survivor)", () => store.mergeThreads(A, b.thread, [a.thread]), "not_found"],
          ["mergeThreads(merged)", () => store.mergeThreads(A, a.thread, [b.thread]), "void"],
          ["listThreadMessages", () => store.listThreadMessages(A, b.thread), "empty"],
          ["listAccountThreads", () => store.listAccountThreads(A, b.account.id, { view: "inbox" }), "empty"],
          ["setThreadMuted", () => store.setThreadMuted(A, b.thread, b.member.id, false), "not_found"],
          ["listThreadMutes", () => store.listThreadMutes(A, b.thread), "empty"],
          [
            "fileMessages(thread)",
            () => store.fileMessages(A, [message(a, 1, { threadId: b.thread })], t0),
            "not_found",
          ],
          [
            "fileMessages(mailbox)",
            () =>
              store.fileMessages(
                A,
                [
                  message(a, 1, {
                    sightings: [{ mailboxId: b.mailbox.id, providerId: "x", folder: "INBOX" }],
                  }),
                ],
                t0,
              ),
            "not_found",
          ],
          [
            "fileMessages(account)",
            () =>
              store.fileMessages(
                A,
                [message(a, 1, { filings: [{ accountId: b.account.id, linkIds: [] }] })],
                t0,
              ),
            "not_found",
          ],
          [
            "fileMessages(link)",
            () =>
              store.fileMessages(
                A,
                [message(a, 1, { filings: [{ accountId: a.account.id, linkIds: [b.link.id] }] })],
                t0,
              ),
            "not_found",
          ],
          ["getMessage", () => store.getMessage(A, bMessage?.id ?? ""), "absent"],
          [
            "findMessagesByDedupeKeys",
            () => store.findMessagesByDedupeKeys(A, ["<m1@bolt.example>"]),
            "empty",
          ],
          ["listSightings", () => store.listSightings(A, b.mailbox.id), "empty"],
          [
            "findMessagesByMessageIds",
            () => store.findMessagesByMessageIds(A, ["<m1@bolt.example>"]),
            "empty",
          ],
          [
            "findSubjectThreads",
            async () =>
              (await store.findSubjectThreads(A, [{ key: "s:b", at: t0, open: true }], 1000)).flat(),
            "empty",
          ],
          [
            "addSubjectEntries",
            () => store.addSubjectEntries(A, b.thread, [{ key: "s:b", at: t0, open: true }]),
            "not_found",
          ],
          ["listQuarantine", () => store.listQuarantine(A), "empty"],
          ["listQuarantine(mailbox)", () => store.listQuarantine(A, { mailboxId: b.mailbox.id }), "empty"],
          ["removeQuarantine", () => store.removeQuarantine(A, b.mailbox.id, ["INBOX:1:9"]), "zero"],
          [
            "putQuarantine",
            () =>
              store.putQuarantine(A, [
                {
                  mailboxId: b.mailbox.id,
                  providerId: "INBOX:1:9",
                  reason: "unparseable",
                  detail: "evil",
                  attempts: 9,
                  firstAttemptAt: t0,
                  lastAttemptAt: t0,
                  nextAttemptAt: t0,
                },
              ]),
            "not_found",
          ],
          ["removeSightings", () => store.removeSightings(A, b.mailbox.id, ["INBOX:1:1"], t0), "void"],
          ["eraseMessages", () => store.eraseMessages(A, [bMessage?.id ?? ""]), "zero"],
          ["claimAttachment", () => store.claimAttachment(A, b.account.id, "ef".repeat(32)), "not_found"],
          ["isAttachmentSaved", () => store.isAttachmentSaved(A, b.account.id, bHash), "false"],
          [
            "createNotification",
            () => store.createNotification(A, { memberId: b.member.id, kind: "x", payload: {} }, t0),
            "not_found",
          ],
          ["listNotifications", () => store.listNotifications(A, b.member.id, t0), "empty"],
          ["snoozeNotification", () => store.snoozeNotification(A, bNotification.id, minutes(60)), "false"],
          ["dismissNotification", () => store.dismissNotification(A, bNotification.id, t0), "false"],
          [
            "createOutbox(mailbox)",
            () => store.createOutbox(A, { ...bOutbox, mailboxId: b.mailbox.id, accountIds: [] }, t0),
            "not_found",
          ],
          [
            "createOutbox(account)",
            () => store.createOutbox(A, { ...bOutbox, mailboxId: a.mailbox.id, threadId: undefined }, t0),
            "not_found",
          ],
          [
            "createOutbox(thread)",
            () =>
              store.createOutbox(
                A,
                { ...bOutbox, mailboxId: a.mailbox.id, accountIds: [], threadId: b.thread },
                t0,
              ),
            "not_found",
          ],
          ["getOutbox", () => store.getOutbox(A, bOutbox.id), "absent"],
          ["listOutbox(mailbox)", () => store.listOutbox(A, { mailboxId: b.mailbox.id }), "empty"],
          ["listDueOutbox", () => store.listDueOutbox(A, minutes(1), 10), "empty"],
          [
            "updateScheduledOutbox",
            () => store.updateScheduledOutbox(A, bOutbox.id, { draft: { evil: true } }),
            "absent",
          ],
          ["cancelOutbox", () => store.cancelOutbox(A, bOutbox.id), "false"],
          ["claimOutbox", () => store.claimOutbox(A, bOutbox.id, "intruder"), "false"],
          [
            "markOutboxSent",
            () => store.markOutboxSent(A, bOutbox.id, "intruder", { at: t0, messageId: "x" }),
            "false",
          ],
          [
            "markOutboxFailed",
            () => store.markOutboxFailed(A, bOutbox.id, "intruder", { error: "x", retryAt: undefined }),
            "false",
          ],
        ];
        for (const [name, call, expected] of attempts) {
          const outcome = await call().then(
            (value) => ({ value }),
            (error: unknown) => ({ error }),
          );
          const description = `${name} with firm A and firm B's ids`;
          if (expected === "not_found" || expected === "lease_lost") {
            expect("error" in outcome && ClientMailError.hasCode(outcome.error, expected), description).toBe(
              true,
            );
            continue;
          }
          expect("error" in outcome ? outcome.error : undefined, description).toBeUndefined();
          const value = "value" in outcome ? outcome.value : undefined;
          if (expected === "absent") expect(value, description).toBeUndefined();
          if (expected === "false") expect(value, description).toBe(false);
          if (expected === "zero") expect(value, description).toBe(0);
          if (expected === "empty") {
            const size = value instanceof Map ? value.size : (value as unknown[]).length;
            expect(size, description).toBe(0);
          }
        }
        // Removing sightings and dedupe keys of firm B through firm A reported nothing either.
        expect(await store.removeSightings(A, b.mailbox.id, ["INBOX:1:1"], t0)).toEqual({
          orphaned: [],
          hidden: false,
        });
        // Filing firm A's copy of the same Message-ID creates a separate record: dedupe never crosses firms.
        const [aCopy] = await store.fileMessages(A, [message(a, 1)], t0);
        expect(aCopy?.created).toBe(true);
        expect(aCopy?.id).not.toBe(bMessage?.id);

        expect(await snapshot(store, raw, b)).toEqual(before);
        // B's claim survived A's release.
        expect(await store.claimAttachment(b.firm.id, b.account.id, bHash)).toBe(false);

        // Firm A's listings hold none of firm B's records.
        const bIds = [
          b.firm.id,
          b.member.id,
          b.mailbox.id,
          b.account.id,
          b.contact.id,
          b.link.id,
          b.thread,
          bMessage?.id ?? "",
          bNotification.id,
          bOutbox.id,
        ];
        const listings: [string, unknown][] = [
          ["listMembers", await store.listMembers(A)],
          ["listMailboxes", await store.listMailboxes(A)],
          ["listMailboxCredentials", await store.listMailboxCredentials(A)],
          ["listAccounts", await store.listAccounts(A)],
          ["listContacts", await store.listContacts(A)],
          ["listLinks", await store.listLinks(A)],
          ["listThreadMessages", await store.listThreadMessages(A, a.thread)],
          ["listAccountThreads", await store.listAccountThreads(A, a.account.id, { view: "inbox" })],
          ["listNotifications", await store.listNotifications(A, a.member.id, minutes(10_000))],
          ["listAudit", await store.listAudit(A)],
          ["listOutbox", await store.listOutbox(A)],
          ["listDueOutbox", await store.listDueOutbox(A, minutes(10_000), 100)],
        ];
        for (const [name, listing] of listings) {
          const text = JSON.stringify(listing);
          for (const id of bIds)
            expect(text.includes(id), `${name} of firm A shows firm B's ${id}`).toBe(false);
        }
      });
    });
  });
}
