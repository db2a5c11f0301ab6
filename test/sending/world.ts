/**
 * Test harness for sending end to end: the scenario's firm (`createEndToEndFirm`) on a PostgreSQL
 * store of its own, the facade, and a worker process (`createWorker` on the real job queue) that
 * opens each mailbox's provider and sender itself from keyring-encrypted credentials, over one
 * backend:
 *
 * - `imap`: Dovecot mailboxes, sent through a real SMTP server (`startSmtpRelay`) that delivers
 *   into Dovecot and counts every accepted DATA; the sender APPENDs its copy to Sent, which sync
 *   brings back.
 * - `gmail`: the Gmail fake (`messages.send` replaces the Message-ID, as Gmail does).
 * - `graph`: the Graph fake (`sendMail` with MIME; replies through createReply + send, which
 *   give the reply Exchange's own Message-ID).
 */
import {
  CREDENTIALS_FIELD,
  createAesGcmKeyring,
  createClientMail,
  createWorker,
  generateKeyringKey,
  type Mailbox,
  type ProviderKind,
  type SenderFactory,
  type SyncWorker,
} from "@clientmail/core";
import { silentLogger, type Clock, type MailProvider, type Pacing } from "@clientmail/core/ports";
import { createGmailProvider, createGmailSender } from "@clientmail/gmail";
import { createGraphProvider, createGraphSender } from "@clientmail/graph";
import { createImapProvider, createSmtpSender } from "@clientmail/imap";
import { createMemoryPacing } from "@clientmail/memory";
import {
  appendToDovecot,
  attachDovecot,
  createEndToEndFirm,
  createGmailFake,
  createGraphFake,
  loopbackHostPolicy,
  startDovecot,
  startSmtpRelay,
  type DovecotInfo,
  type DovecotServer,
  type DovecotUser,
  type SmtpRelay,
} from "@clientmail/testkit";
import { postgresWithQueue } from "../support/queue.js";

export const backends = ["imap", "gmail", "graph"] as const;

/** One message as the backend delivered it. */
export interface Delivery {
  /** The Message-ID it went out with (the provider's, where it rewrote it). */
  messageId: string | undefined;
  /** Every recipient (To, Cc and Bcc), lower-cased. */
  to: string[];
  /** The source as sent, or the body where the backend keeps no source. */
  raw: string;
}

/** The client addresses of the scenario. */
const clientAddresses = ["jo@home.example", "sam@home.example", "petra@acme.example"];

let dovecot: Promise<{ server: DovecotServer; stop: () => Promise<void> }> | undefined;
/** The run's Dovecot (the global setup's), or one of this file's. */
export function suiteDovecot() {
  dovecot ??= (async () => {
    const info = process.env.CLIENTMAIL_TEST_DOVECOT;
    if (info) return { server: attachDovecot(JSON.parse(info) as DovecotInfo), stop: async () => undefined };
    const server = await startDovecot();
    return { server, stop: () => server.stop() };
  })();
  return dovecot;
}

interface Backend {
  providerFor(mailbox: Mailbox, credentials: string | undefined, pacing: unknown): MailProvider;
  senderFactory: SenderFactory;
  /** The secret stored (encrypted) for a mailbox of the firm. */
  credentialsOf(address: string): string;
  /** Puts a client's message into a firm mailbox's inbox, as if it had arrived. */
  deliverInbound(address: string, raw: string): Promise<void>;
  /** Everything the firm's mailboxes sent, as the backend saw it go. */
  deliveries(): Delivery[];
  close(): Promise<void>;
  relay?: SmtpRelay;
}

function headerOf(raw: string, name: string): string | undefined {
  const end = raw.indexOf("\r\n\r\n");
  const head = (end < 0 ? raw : raw.slice(0, end)).replace(/\r\n[ \t]+/g, " ");
  const wanted = `${name.toLowerCase()}:`;
  return head
    .split("\r\n")
    .find((line) => line.toLowerCase().startsWith(wanted))
    ?.slice(wanted.length)
    .trim();
}

async function imapBackend(addresses: string[]): Promise<Backend> {
  const { server } = await suiteDovecot();
  const logins = new Map<string, DovecotUser>();
  const mailboxes = new Map<string, DovecotUser>();
  for (const address of [...addresses, ...clientAddresses]) {
    const user = await server.addUser();
    mailboxes.set(address, user);
    if (addresses.includes(address)) logins.set(address, user);
  }
  const relay = await startSmtpRelay({ dovecot: server, mailboxes, logins: [...logins.values()] });
  const login = (credentials: string | undefined) => JSON.parse(credentials!) as DovecotUser;
  const imapSettings = (user: DovecotUser) => ({
    host: server.host,
    port: server.port,
    security: "none" as const,
    hostPolicy: loopbackHostPolicy,
    user: user.user,
    password: user.password,
    folders: ["INBOX", "\\Sent"],
  });
  return {
    relay,
    providerFor: (_mailbox, credentials) => createImapProvider(imapSettings(login(credentials))),
    senderFactory: (_mailbox, credentials) =>
      createSmtpSender({
        imap: imapSettings(login(credentials)),
        smtp: { host: relay.host, port: relay.port, security: "none" },
      }),
    credentialsOf: (address) => JSON.stringify(logins.get(address)!),
    async deliverInbound(address, raw) {
      const user = mailboxes.get(address)!;
      await appendToDovecot(server, user, [raw]);
    },
    deliveries: () =>
      relay.accepted.map((m) => ({ messageId: m.messageId, to: m.to, raw: m.raw.toString("latin1") })),
    close: () => relay.close(),
  };
}

function gmailBackend(addresses: string[]): Backend {
  const fake = createGmailFake({ quota: { enforce: false } });
  for (const address of [...addresses, ...clientAddresses]) fake.addUser(address);
  const settings = (mailbox: Mailbox, credentials: string | undefined, pacing: unknown) => ({
    credentials: { ...fake.oauthClient, refreshToken: JSON.parse(credentials!) as string },
    emailAddress: mailbox.address,
    fetch: fake.fetch,
    quota: { shared: pacing as never },
  });
  return {
    providerFor: (mailbox, credentials, pacing) =>
      createGmailProvider(settings(mailbox, credentials, pacing)),
    senderFactory: (mailbox, credentials, context) =>
      createGmailSender(settings(mailbox, credentials, context?.pacing)),
    credentialsOf: (address) => JSON.stringify(fake.refreshTokenOf(address)),
    deliverInbound(address, raw) {
      fake.mailbox(address)!.addMessage({ raw: Buffer.from(raw), labelIds: ["INBOX", "UNREAD"] });
      return Promise.resolve();
    },
    deliveries: () =>
      addresses.flatMap((address) =>
        [...fake.mailbox(address)!.messages.values()]
          .filter((m) => m.labelIds.includes("SENT"))
          .map((m) => {
            const raw = m.raw.toString("latin1");
            const recipients = ["To", "Cc", "Bcc"].flatMap((name) =>
              [...(headerOf(raw, name) ?? "").matchAll(/[^\s<>,;:"]+@[^\s<>,;:"]+/g)].map((x) =>
                x[0].toLowerCase(),
              ),
            );
            return { messageId: headerOf(raw, "Message-ID"), to: recipients, raw };
          }),
      ),
    close: async () => undefined,
  };
}

function graphBackend(addresses: string[]): Backend {
  const fake = createGraphFake({ mailboxRequestLimit: false });
  for (const address of [...addresses, ...clientAddresses]) fake.addMailbox(address);
  const settings = (mailbox: Mailbox, pacing: unknown) => ({
    mailbox: mailbox.address,
    getAccessToken: async () => fake.accessTokenFor(mailbox.address),
    fetch: fake.fetch,
    sharedRequests: pacing as never,
    retry: { baseDelayMs: 20, maxDelayMs: 100 },
  });
  return {
    providerFor: (mailbox, _credentials, pacing) => createGraphProvider(settings(mailbox, pacing)),
    senderFactory: (mailbox, credentials, context) => {
      if (credentials === undefined) throw new Error("no credentials stored");
      return createGraphSender(settings(mailbox, context?.pacing));
    },
    credentialsOf: (address) => JSON.stringify({ mailbox: address }),
    deliverInbound(address, raw) {
      fake.mailbox(address).addRawMessage(raw, "inbox");
      return Promise.resolve();
    },
    deliveries: () =>
      addresses.flatMap((address) => {
        const box = fake.mailbox(address);
        return box.messageIds("sentitems").map((id) => {
          const m = box.message(id)!;
          return {
            messageId: m.internetMessageId,
            to: [...m.to, ...m.cc, ...m.bcc].map((a) => a.address.toLowerCase()),
            raw: typeof m.mime === "string" ? m.mime : Buffer.from(m.mime).toString("latin1"),
          };
        });
      }),
    close: async () => undefined,
  };
}

/** Waits until `check` holds, polling. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The firm, facade, worker and backend of one test. */
export async function sendingWorld(kind: ProviderKind) {
  const token = globalThis.crypto.randomUUID().slice(0, 8);
  const domain = `ledger-${token}.example`;
  const addresses = { domain, ann: `ann@${domain}`, bob: `bob@${domain}`, support: `support@${domain}` };
  const firmAddresses = [addresses.ann, addresses.bob, addresses.support];
  const backend =
    kind === "imap"
      ? await imapBackend(firmAddresses)
      : kind === "gmail"
        ? gmailBackend(firmAddresses)
        : graphBackend(firmAddresses);
  const db = await postgresWithQueue("sending");
  const clock: Clock = { now: () => new Date() };
  const keyring = createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" });
  const cm = createClientMail({ store: db.store, queue: db.queue, clock, keyring });
  const firm = await createEndToEndFirm(cm, { provider: kind, token, addresses });
  const admin = await cm.addMember(firm.firm.id, { name: "Ada", email: `ada@${domain}`, role: "admin" });
  for (const box of [firm.annBox, firm.bobBox, firm.supportBox])
    await db.store.setMailboxCredentials(
      firm.firm.id,
      box.id,
      await keyring.encrypt(backend.credentialsOf(box.address), {
        firmId: firm.firm.id,
        recordId: box.id,
        field: CREDENTIALS_FIELD,
      }),
    );
  /** What the worker's shared pacing was asked for, by provider account: units taken, slots held. */
  const paced: { takes: { key: string; units: number }[]; acquires: { key: string; weight: number }[] } = {
    takes: [],
    acquires: [],
  };
  const inner = createMemoryPacing();
  const pacing: Pacing = {
    take: async (firmId, key, units, budget, signal) => {
      paced.takes.push({ key, units });
      await inner.take(firmId, key, units, budget, signal);
    },
    acquire: async (firmId, key, weight, options, signal) => {
      paced.acquires.push({ key, weight });
      return inner.acquire(firmId, key, weight, options, signal);
    },
    tryAcquire: (...args) => inner.tryAcquire(...args),
  };
  const workers: SyncWorker[] = [];
  const startWorker = async (extra: Partial<Parameters<typeof createWorker>[0]> = {}) => {
    const worker = createWorker({
      store: db.store,
      queue: db.queue,
      clock,
      keyring,
      logger: silentLogger,
      holder: `sending-${kind}`,
      pacing,
      providerFor: (mailbox, credentials, context) =>
        backend.providerFor(mailbox, credentials, context?.pacing),
      senderFactory: backend.senderFactory,
      queuePollIntervalMs: 20,
      pollIntervalMs: 60 * 60_000,
      auditIntervalMs: 365 * 86_400_000,
      followUpMs: 60 * 60_000,
      maxWatchers: 0,
      ...extra,
    });
    workers.push(worker);
    await worker.start();
    return worker;
  };
  const outbox = (id: string) => db.store.getOutbox(firm.firm.id, id);
  /** The filed records of a Message-ID (S5: exactly one per sent message). */
  const recordsOf = (messageId: string) =>
    db.store.findMessagesByMessageIds(firm.firm.id, [messageId.replace(/^<|>$/g, "").toLowerCase()]);
  const sentState = (id: string) => async () => (await outbox(id))?.state === "sent";
  return {
    kind,
    token,
    addresses,
    backend,
    db,
    clock,
    cm,
    admin,
    ...firm,
    startWorker,
    outbox,
    sentState,
    recordsOf,
    paced,
    ann: { kind: "member" as const, memberId: firm.annMember.id },
    bob: { kind: "member" as const, memberId: firm.bobMember.id },
    async close() {
      for (const worker of workers.splice(0)) await worker.stop({ timeoutMs: 2_000 });
      await db.close();
      await backend.close();
    },
  };
}

export type SendingWorld = Awaited<ReturnType<typeof sendingWorld>>;

export { headerOf };
