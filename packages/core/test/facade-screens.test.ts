/**
 * The facade's reads for a CRM's screens: mailboxes (all, or those a member connected), one
 * mailbox, one contact, one thread's messages and whether a member muted a thread — scoped by
 * firm, with ids validated.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "@clientmail/memory";
import { ClientMailError, createClientMail } from "../src/index.js";

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!ClientMailError.isInstance(error)) throw new Error(`expected a ClientMailError, got ${String(error)}`);
  return error.code;
}

async function setUp() {
  const store = createMemoryStore();
  const cm = createClientMail({ store });
  const firm = await cm.createFirm({ name: "Ledger & Partners", internalDomains: ["ledger.example"] });
  const other = await cm.createFirm({ name: "Other", internalDomains: [] });
  const ann = await cm.addMember(firm.id, { name: "Ann Lee", email: "ann@ledger.example" });
  const ben = await cm.addMember(firm.id, { name: "Ben Ortiz", email: "ben@ledger.example" });
  const annBox = await cm.connectMailbox(firm.id, ann.id, {
    provider: "imap",
    address: "ann@ledger.example",
  });
  const shared = await cm.connectMailbox(firm.id, ben.id, {
    provider: "imap",
    address: "support@ledger.example",
  });
  await cm.joinMailbox(firm.id, shared.id, ann.id);
  const benBox = await cm.connectMailbox(firm.id, ben.id, {
    provider: "imap",
    address: "ben@ledger.example",
  });
  return { store, cm, firm, other, ann, ben, annBox, shared, benBox };
}

describe("facade reads for the CRM's screens", () => {
  it("P1 N5: lists the firm's mailboxes, or those one member connected (shared ones included)", async () => {
    const { cm, firm, other, ann, ben, annBox, shared, benBox } = await setUp();
    const ids = async (memberId?: string) =>
      (await cm.listMailboxes(firm.id, memberId === undefined ? {} : { memberId })).map((m) => m.id).sort();
    expect(await ids()).toEqual([annBox.id, shared.id, benBox.id].sort());
    expect(await ids(ann.id)).toEqual([annBox.id, shared.id].sort());
    expect(await ids(ben.id)).toEqual([shared.id, benBox.id].sort());
    expect(await cm.listMailboxes(other.id)).toEqual([]);
    expect((await cm.getMailbox(firm.id, shared.id)).address).toBe("support@ledger.example");
    expect(await codeOf(cm.getMailbox(other.id, shared.id))).toBe("not_found");
    expect(await codeOf(cm.listMailboxes(firm.id, { memberId: "" }))).toBe("validation_failed");
  });

  it("reads one contact of the firm, and nobody else's", async () => {
    const { cm, firm, other } = await setUp();
    const account = await cm.createAccount(firm.id, {
      name: "Jordan's Bakery",
      kind: "business",
      contacts: [{ firstName: "Jo", lastName: "Jordan", emails: [{ email: "jo@bakery.example" }] }],
    });
    const contactId = account.links[0]!.contactId;
    expect(await cm.getContact(firm.id, contactId)).toMatchObject({ firstName: "Jo", lastName: "Jordan" });
    expect(await codeOf(cm.getContact(other.id, contactId))).toBe("not_found");
    expect(await codeOf(cm.getContact(firm.id, "\u0000"))).toBe("validation_failed");
  });

  it("H4 H5: a thread without visible messages is not found; muting is per member", async () => {
    const { store, cm, firm, ann, ben } = await setUp();
    expect(await codeOf(cm.threadMessages(firm.id, "no-such-thread"))).toBe("not_found");
    const empty = await store.createThread(firm.id);
    expect(await codeOf(cm.threadMessages(firm.id, empty))).toBe("not_found");
    expect(await codeOf(cm.threadMessages(firm.id, ""))).toBe("validation_failed");
    await cm.muteThread(firm.id, empty, ann.id);
    expect(await cm.isThreadMuted(firm.id, empty, ann.id)).toBe(true);
    expect(await cm.isThreadMuted(firm.id, empty, ben.id)).toBe(false);
    await cm.muteThread(firm.id, empty, ann.id, false);
    expect(await cm.isThreadMuted(firm.id, empty, ann.id)).toBe(false);
  });
});
