/**
 * A firm for engine tests: members, mailboxes (one shared), accounts, contacts and links with
 * toggles, on the memory store, and in-memory mailboxes behind the MailProvider port.
 */
import { EventEmitter } from "eventemitter3";
import {
  createMemoryBlobStore,
  createMemoryJobQueue,
  createMemoryStore,
  MemoryStore,
} from "@clientmail/memory";
import { MemoryMailbox } from "@clientmail/testkit";
import { defaultNotifyPreferences, type EmailAddress, type SyncEvents } from "../../src/index.js";
import { saveAttachmentsHandler, saveAttachmentsJob } from "../../src/internal.js";
import { silentLogger, type Clock, type Store } from "../../src/ports/index.js";
import { MailboxSync, type MailboxSyncOptions } from "../../src/engine/mailbox-sync.js";
import type { DocumentSink, DocumentToSave } from "../../src/ports/document-sink.js";

export const at = (address: string, name?: string): EmailAddress => (name ? { name, address } : { address });

export class TestClock implements Clock {
  constructor(public current = new Date("2026-03-02T09:00:00Z")) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

/** A document sink that keeps, as the port asks, one document per (firm, account, content hash). */
export class RecordingSink implements DocumentSink {
  readonly saved: Array<Omit<DocumentToSave, "content"> & { bytes: number; documentId: string }> = [];
  /** Every call of `save`, repeats included. */
  calls = 0;
  async save(document: DocumentToSave): Promise<{ documentId: string }> {
    this.calls += 1;
    let bytes = 0;
    for await (const chunk of document.content) bytes += chunk.byteLength;
    const { content: _content, ...rest } = document;
    const existing = this.saved.find(
      (d) => d.firmId === rest.firmId && d.accountId === rest.accountId && d.contentHash === rest.contentHash,
    );
    if (existing) return { documentId: existing.documentId };
    const documentId = `doc-${this.saved.length + 1}`;
    this.saved.push({ ...rest, bytes, documentId });
    return { documentId };
  }
}

export async function makeFirm(
  options: {
    deletionMode?: "mirror" | "retain";
    store?: Store;
    makeStore?: (clock: Clock) => Promise<Store>;
    pageSize?: number;
  } = {},
) {
  const clock = new TestClock();
  const store = options.store ?? (await options.makeStore?.(clock)) ?? createMemoryStore({ clock });
  const firm = await store.createFirm({
    name: "Ledger & Partners",
    internalDomains: ["ledger.example"],
    deletionMode: options.deletionMode ?? "mirror",
  });
  const member = (name: string, email: string, pref: "all" | "my_mailboxes" | "none" = "my_mailboxes") =>
    store.createMember(firm.id, {
      name,
      email,
      role: "employee",
      newMailNotifications: pref,
      timeZone: "UTC",
    });
  const ann = await member("Ann Lee", "ann@ledger.example");
  const bob = await member("Bob Marsh", "bob@ledger.example");
  const carl = await member("Carl Ode", "carl@ledger-partners.net", "all");
  const settings = { autoSaveAttachments: true, allowOthersToSend: false, signatureHtml: "" };
  const mailbox = (address: string, ownerMemberId: string) =>
    store.createMailbox(
      firm.id,
      { provider: "imap", address, displayName: address, ownerMemberId, settings },
      clock.now(),
    );
  const annBox = await mailbox("ann@ledger.example", ann.id);
  const bobBox = await mailbox("bob@ledger.example", bob.id);
  const carlBox = await mailbox("carl@ledger-partners.net", carl.id);
  const supportBox = await mailbox("support@ledger.example", ann.id);
  await store.addMailboxConnection(firm.id, supportBox.id, bob.id, clock.now());

  const account = (name: string, kind: "person" | "family" | "business") =>
    store.createAccount(firm.id, { name, kind }, clock.now());
  const family = await account("Jordan family", "family");
  const bakery = await account("Jordan's Bakery", "business");
  const acme = await account("Acme Tools", "business");
  const jo = await store.createContact(firm.id, { firstName: "Jo", lastName: "Jordan" });
  const petra = await store.createContact(firm.id, { firstName: "Petra", lastName: "Klein" });
  const sam = await store.createContact(firm.id, { firstName: "Sam", lastName: "Jordan" });
  const link = (accountId: string, contactId: string, email: string, emailSync: boolean) =>
    store.createLink(firm.id, {
      accountId,
      contactId,
      email,
      login: false,
      notify: true,
      emailSync,
      signatory: false,
      notifyPreferences: defaultNotifyPreferences(),
    });
  const joFamily = await link(family.id, jo.id, "jo@home.example", true);
  const joBakery = await link(bakery.id, jo.id, "jo@home.example", true);
  const petraAcme = await link(acme.id, petra.id, "petra@acme.example", true);
  const samFamily = await link(family.id, sam.id, "sam@home.example", false);

  const events = new EventEmitter<SyncEvents>();
  const sink = new RecordingSink();
  const sleeps: number[] = [];
  const mailboxes = new Map<string, MemoryMailbox>([
    [annBox.id, new MemoryMailbox({ pageSize: options.pageSize ?? 3 })],
    [bobBox.id, new MemoryMailbox({ pageSize: options.pageSize ?? 3 })],
    [carlBox.id, new MemoryMailbox({ pageSize: options.pageSize ?? 3 })],
    [supportBox.id, new MemoryMailbox({ pageSize: options.pageSize ?? 3 })],
  ]);
  // R8: attachment saves are jobs. On the memory store they run on its in-process queue; stores
  // without a queue here run without documents.
  const blobs = createMemoryBlobStore();
  const queue =
    store instanceof MemoryStore ? createMemoryJobQueue({ store, retryDelayMs: () => 10 }) : undefined;
  const worker = await queue?.work(
    {
      [saveAttachmentsJob]: saveAttachmentsHandler({
        store,
        blobs,
        documents: sink,
        logger: silentLogger,
        events,
      }),
    },
    { pollIntervalMs: 20 },
  );
  /** Waits until every enqueued job has run. */
  const drain = async () => {
    if (!queue) return;
    for (;;) {
      const stats = await queue.stats();
      if (stats.waiting === 0 && stats.running === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const sync = (mailboxId: string, extra: Partial<MailboxSyncOptions> = {}) =>
    new MailboxSync(
      {
        store,
        clock,
        logger: silentLogger,
        documents: queue ? sink : undefined,
        queue,
        blobs,
        events,
        random: () => 0.5,
        sleep: async (ms) => void sleeps.push(ms),
      },
      {
        firmId: firm.id,
        mailboxId,
        provider: mailboxes.get(mailboxId)!.provider(),
        holder: "test-worker",
        ...extra,
      },
    );

  return {
    store,
    queue,
    worker,
    blobs,
    drain,
    clock,
    firm,
    members: { ann, bob, carl },
    boxes: { ann: annBox, bob: bobBox, carl: carlBox, support: supportBox },
    accounts: { family, bakery, acme },
    contacts: { jo, petra, sam },
    links: { joFamily, joBakery, petraAcme, samFamily },
    mailboxes,
    events,
    sink,
    sleeps,
    sync,
    box: (id: string) => mailboxes.get(id)!,
  };
}

export type Firm = Awaited<ReturnType<typeof makeFirm>>;

const base = new Date("2026-03-02T08:00:00Z").getTime();
export const minutes = (n: number) => new Date(base + n * 60_000);
