/**
 * The suites' shared fixture: a seeded firm, a message to file, fixed times, and the check that
 * a call failed with a given code.
 */
import { expect } from "vitest";
import { ClientMailError, notifyCategories } from "@clientmail/core";
import type { Firm, NotifyPreferences } from "@clientmail/core";
import type { DirectoryStore, MessageToFile, ThreadStore } from "@clientmail/core/ports";

/** What seeding a firm needs: every suite's store has at least these roles. */
export type SeedingStore = DirectoryStore & ThreadStore;

export const allOn: NotifyPreferences = Object.fromEntries(
  notifyCategories.map((c) => [c, true]),
) as NotifyPreferences;
export const t0 = new Date("2026-03-02T09:00:00.000Z");
export const minutes = (n: number): Date => new Date(t0.getTime() + n * 60_000);

export async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ClientMailError.isInstance(error), `expected a ClientMailError with code ${code}`).toBe(true);
  expect((error as ClientMailError).code).toBe(code);
}

/** A firm with one member, mailbox, account, contact and synced link, and a thread. */
export async function seedFirm(
  store: SeedingStore,
  name: string,
  deletionMode: Firm["deletionMode"] = "mirror",
) {
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

export type Seed = Awaited<ReturnType<typeof seedFirm>>;

export function message(seed: Seed, n: number, overrides: Partial<MessageToFile> = {}): MessageToFile {
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
