/**
 * Test harness: the same raw messages delivered to a mailbox on each provider — a real Dovecot
 * (IMAP, by APPEND), the Gmail fake and the Graph fake — and synced by the production engine
 * (`MailboxSync`) into a memory store, with a memory BlobStore for sources and staged
 * attachments, the in-process job queue, and a document sink that hashes what it is given.
 */
import { createHash } from "node:crypto";
import { EventEmitter } from "eventemitter3";
import { defaultNotifyPreferences, type SyncEvents } from "@clientmail/core";
import { MailboxSync, saveAttachmentsHandler, saveAttachmentsJob } from "@clientmail/core/internal";
import {
  silentLogger,
  type DocumentSink,
  type DocumentToSave,
  type FiledMessage,
  type MailProvider,
  type Store,
} from "@clientmail/core/ports";
import { createGmailProvider } from "@clientmail/gmail";
import { createGraphProvider } from "@clientmail/graph";
import { createImapProvider } from "@clientmail/imap";
import {
  createMemoryBlobStore,
  createMemoryJobQueue,
  createMemoryStore,
  MemoryStore,
} from "@clientmail/memory";
import {
  appendToDovecot,
  attachDovecot,
  createGmailFake,
  createGraphFake,
  drainJobs,
  loopbackHostPolicy,
  startDovecot,
  type DovecotInfo,
  type DovecotServer,
} from "@clientmail/testkit";

export const providerKinds = ["imap", "gmail", "graph"] as const;
export type ProviderName = (typeof providerKinds)[number];

/** The mailbox owner (internal) and the client (email sync on) of every harness firm. */
export const ownerAddress = "ann@firm.example";
export const clientAddress = "jo@client.example";

/** The suite's Dovecot: the global setup's when it runs, else one of its own. */
export async function suiteDovecot(): Promise<{ server: DovecotServer; stop: () => Promise<void> }> {
  const info = process.env.CLIENTMAIL_TEST_DOVECOT;
  if (info) return { server: attachDovecot(JSON.parse(info) as DovecotInfo), stop: async () => undefined };
  const server = await startDovecot();
  return { server, stop: () => server.stop() };
}

/** Provider settings the harness passes through. */
export interface HarnessProviderSettings {
  maxMessageBytes?: number | undefined;
}

/** A provider over a mailbox holding `raws`, on the named backend. */
export async function providerWith(
  kind: ProviderName,
  raws: readonly Buffer[],
  dovecot: DovecotServer,
  settings: HarnessProviderSettings = {},
): Promise<MailProvider> {
  if (kind === "imap") {
    const user = await dovecot.addUser();
    await appendToDovecot(dovecot, user, raws);
    return createImapProvider({
      host: dovecot.host,
      port: dovecot.port,
      security: "none",
      hostPolicy: loopbackHostPolicy,
      user: user.user,
      password: user.password,
      ...settings,
    });
  }
  if (kind === "gmail") {
    const fake = createGmailFake();
    const mailbox = fake.addUser(ownerAddress);
    for (const raw of raws) mailbox.addMessage({ raw });
    return createGmailProvider({
      credentials: { ...fake.oauthClient, refreshToken: fake.refreshTokenOf(ownerAddress)! },
      emailAddress: ownerAddress,
      fetch: fake.fetch,
      ...settings,
    });
  }
  const fake = createGraphFake();
  const mailbox = fake.addMailbox(ownerAddress);
  for (const raw of raws) mailbox.addRawMessage(new Uint8Array(raw));
  const token = fake.accessTokenFor(ownerAddress);
  return createGraphProvider({
    mailbox: ownerAddress,
    getAccessToken: async () => token,
    fetch: fake.fetch,
    ...settings,
  });
}

/** A document sink that keeps, per (firm, account, content hash), one document and its real hash. */
export class HashingSink implements DocumentSink {
  readonly saved: Array<{
    accountId: string;
    filename: string;
    contentHash: string;
    writtenHash: string;
    size: number;
  }> = [];
  async save(document: DocumentToSave): Promise<{ documentId: string }> {
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of document.content) {
      hash.update(chunk);
      size += chunk.byteLength;
    }
    const key = `${document.accountId}:${document.contentHash}`;
    if (!this.saved.some((d) => `${d.accountId}:${d.contentHash}` === key))
      this.saved.push({
        accountId: document.accountId,
        filename: document.filename,
        contentHash: document.contentHash,
        writtenHash: hash.digest("hex"),
        size,
      });
    return { documentId: key };
  }
}

/**
 * A firm on the memory store with one auto-saving mailbox of `kind` (the owner's) and one client
 * account (Jo, email sync on); `sync()` runs one pass of the production engine over `provider`
 * and waits for the attachment jobs it enqueued.
 */
export async function syncedFirm(
  kind: ProviderName,
  provider: MailProvider,
  options: { store?: Store } = {},
) {
  const store: Store = options.store ?? createMemoryStore();
  const blobs = createMemoryBlobStore();
  const sink = new HashingSink();
  const events = new EventEmitter<SyncEvents>();
  const now = () => new Date();
  const firm = await store.createFirm({
    name: "Ledger",
    internalDomains: ["firm.example"],
    deletionMode: "mirror",
  });
  const owner = await store.createMember(firm.id, {
    name: "Ann",
    email: ownerAddress,
    role: "owner",
    newMailNotifications: "none",
    timeZone: "UTC",
  });
  const box = await store.createMailbox(
    firm.id,
    {
      provider: kind,
      address: ownerAddress,
      displayName: "Ann",
      ownerMemberId: owner.id,
      settings: { autoSaveAttachments: true, allowOthersToSend: false, signatureHtml: "" },
    },
    now(),
  );
  const account = await store.createAccount(firm.id, { name: "Jordan", kind: "person" }, now());
  const jo = await store.createContact(firm.id, { firstName: "Jo", lastName: "Jordan" });
  await store.createLink(firm.id, {
    accountId: account.id,
    contactId: jo.id,
    email: clientAddress,
    login: false,
    notify: false,
    emailSync: true,
    signatory: false,
    notifyPreferences: defaultNotifyPreferences(),
  });
  // Attachment saves are jobs (R8) on the memory store's in-process queue; on another store the
  // firm files without saving documents.
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
    { pollIntervalMs: 10 },
  );
  const engine = new MailboxSync(
    { store, clock: { now }, logger: silentLogger, documents: queue && sink, queue, blobs, events },
    { firmId: firm.id, mailboxId: box.id, provider, holder: `harness-${kind}` },
  );
  return {
    store,
    blobs,
    sink,
    firm,
    owner,
    box,
    account,
    async sync() {
      const result = await engine.syncOnce();
      if (queue) await drainJobs(queue);
      return result;
    },
    /** Every filed message, by Message-ID (normalised, without brackets). */
    async filed(): Promise<Map<string, FiledMessage>> {
      const threads = await store.listAccountThreads(firm.id, account.id, { view: "inbox", limit: 1000 });
      const ids = threads.flatMap((t) => t.messages.map((m) => m.messageId ?? ""));
      const records = await store.findMessagesByMessageIds(firm.id, ids);
      return new Map(records.map((m) => [m.messageId ?? "", m]));
    },
    async close() {
      await worker?.stop();
      await provider.close();
    },
  };
}
