/**
 * The app with real mail in it, for the mail API's tests: the test app (harness.ts) allowed to
 * reach loopback mail servers (MAIL_HOSTS_ALLOW), the run's Dovecot (or one of this file's), an
 * SMTP relay that delivers into it, a client account with email sync on, and two IMAP mailboxes
 * connected through `cm.connectMailbox` with the app's ImapCredentials JSON and synced once
 * (`cm.sync.syncOnce`): the admin's, holding client mail (one hostile HTML message with an inline
 * image and a PDF, and more threads) and one personal message; and the owner's shared
 * support@ address, empty.
 */
import {
  appendToDovecot,
  attachDovecot,
  dovecotAvailability,
  startDovecot,
  startSmtpRelay,
  type DovecotInfo,
  type DovecotServer,
  type DovecotUser,
  type SmtpRelay,
} from "@clientmail/testkit";
import type { AccountOverview, Mailbox } from "@clientmail/core";
import supertest from "supertest";
import type { ImapCredentials } from "../src/providers.js";
import { origin, password, startTestApp, type TestApp } from "./harness.js";

/** Why the IMAP-backed suites cannot run here, or undefined when they can. */
export const noDovecot: string | undefined = process.env.CLIENTMAIL_TEST_DOVECOT
  ? undefined
  : (process.env.CLIENTMAIL_TEST_DOVECOT_SKIP ??
    (dovecotAvailability().available ? undefined : "Dovecot is not installed on this machine"));

/**
 * The run's Dovecot (`CLIENTMAIL_TEST_DOVECOT`, started by scripts/test.mjs), or one started for
 * this file; `stop` stops only the latter. Call only when {@link noDovecot} is undefined.
 */
export async function testDovecot(): Promise<{ server: DovecotServer; stop: () => Promise<void> }> {
  const info = process.env.CLIENTMAIL_TEST_DOVECOT;
  const server = info ? attachDovecot(JSON.parse(info) as DovecotInfo) : await startDovecot();
  return { server, stop: async () => (info ? undefined : server.stop()) };
}

/** A 1×1 PNG: the hostile message's inline (cid:) image. */
export const pngBase64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
/** The hostile message's PDF attachment. */
export const pdfText = "%PDF-1.4 client papers\n";

const crlf = (lines: string[]) => lines.join("\r\n");

/** Client mail with script, a tracking pixel, an inline image and a PDF (Message-ID <papers@home.example>). */
export const hostileMessage = crlf([
  "From: Jo Jordan <jo@home.example>",
  "To: Adam Admin <admin@ledger.example>",
  "Subject: Our papers",
  "Date: Mon, 30 Nov 2026 10:00:00 +0000",
  "Message-ID: <papers@home.example>",
  "MIME-Version: 1.0",
  'Content-Type: multipart/mixed; boundary="mixed"',
  "",
  "--mixed",
  'Content-Type: multipart/related; boundary="rel"',
  "",
  "--rel",
  "Content-Type: text/html; charset=utf-8",
  "",
  '<p>Hello Adam, here are our papers.</p><script>alert("x")</script><img src="https://tracker.example/p.gif"><img src="cid:logo@home">',
  "--rel",
  "Content-Type: image/png",
  "Content-ID: <logo@home>",
  "Content-Transfer-Encoding: base64",
  "",
  pngBase64,
  "--rel--",
  "--mixed",
  'Content-Type: application/pdf; name="w2.pdf"',
  'Content-Disposition: attachment; filename="w2.pdf"',
  "Content-Transfer-Encoding: base64",
  "",
  Buffer.from(pdfText).toString("base64"),
  "--mixed--",
  "",
]);

/** A plain client message in a thread of its own. */
export function clientMessage(n: number): string {
  return crlf([
    "From: Jo Jordan <jo@home.example>",
    "To: Adam Admin <admin@ledger.example>",
    `Subject: Question ${n}`,
    `Date: Tue, ${String(n).padStart(2, "0")} Nov 2026 09:00:00 +0000`,
    `Message-ID: <question-${n}@home.example>`,
    "Content-Type: text/plain; charset=utf-8",
    "",
    `Question number ${n} about our taxes.`,
    "",
  ]);
}

/** Personal mail: never filed (F1). */
export const personalMessage = crlf([
  "From: Pat Friend <pat@friends.example>",
  "To: Adam Admin <admin@ledger.example>",
  "Subject: Dinner on Friday",
  "Date: Sun, 29 Nov 2026 18:00:00 +0000",
  "Message-ID: <dinner@friends.example>",
  "Content-Type: text/plain; charset=utf-8",
  "",
  "See you at eight.",
  "",
]);

export interface MailWorld {
  t: TestApp;
  server: DovecotServer;
  relay: SmtpRelay;
  /** The client account (Jordan family, jo@home.example with email sync on). */
  account: AccountOverview;
  /** admin@ledger.example, connected by the admin, synced. */
  adminBox: Mailbox;
  /** support@ledger.example, connected by the owner, synced (empty). */
  supportBox: Mailbox;
  /** Dovecot logins by address (team mailboxes and the client's). */
  logins: Map<string, DovecotUser>;
  /**
   * Connects another mailbox of the firm for a member: a new Dovecot login holding `messages`,
   * with extra IMAP settings (e.g. `maxMessageBytes`), not synced yet.
   */
  addMailbox(
    memberId: string,
    address: string,
    messages: string[],
    imap?: Partial<ImapCredentials["imap"]>,
  ): Promise<Mailbox>;
  /** Runs a sync pass of a mailbox now. */
  sync(mailbox: Mailbox): Promise<void>;
  /** A signed-in agent of the owner of another firm. */
  outsider(): Promise<supertest.Agent>;
  close(): Promise<void>;
}

/** Builds the world; call only when {@link noDovecot} is undefined. */
export async function startMailWorld(): Promise<MailWorld> {
  const dovecot = await testDovecot();
  const { server } = dovecot;
  const logins = new Map<string, DovecotUser>();
  for (const address of ["admin@ledger.example", "support@ledger.example", "jo@home.example"])
    logins.set(address, await server.addUser());
  const relay = await startSmtpRelay({ dovecot: server, mailboxes: logins });
  const t = await startTestApp({ MAIL_HOSTS_ALLOW: "127.0.0.1/32,::1/128" });
  const { cm } = t.services;
  const account = await cm.createAccount(t.firm.id, {
    name: "Jordan family",
    kind: "family",
    contacts: [
      { firstName: "Jo", lastName: "Jordan", emails: [{ email: "jo@home.example", emailSync: true }] },
    ],
  });
  await appendToDovecot(server, logins.get("admin@ledger.example")!, [
    hostileMessage,
    personalMessage,
    ...[1, 2, 3].map(clientMessage),
  ]);
  const credentials = (address: string, imap: Partial<ImapCredentials["imap"]> = {}): string => {
    const login = logins.get(address)!;
    const stored: ImapCredentials = {
      imap: {
        host: server.host,
        port: server.port,
        security: "none",
        user: login.user,
        password: login.password,
        folders: ["INBOX", "\\Sent"],
        ...imap,
      },
      smtp: { host: relay.host, port: relay.port, security: "none" },
    };
    return JSON.stringify(stored);
  };
  const connect = (memberId: string, address: string, imap?: Partial<ImapCredentials["imap"]>) =>
    cm.connectMailbox(t.firm.id, memberId, {
      provider: "imap",
      address,
      credentials: credentials(address, imap),
    });
  const adminBox = await connect(t.members.admin.id, "admin@ledger.example");
  const supportBox = await connect(t.members.owner.id, "support@ledger.example");
  const sync = async (mailbox: Mailbox) => {
    await cm.sync.syncOnce(t.firm.id, mailbox.id);
  };
  await sync(adminBox);
  await sync(supportBox);
  let outsiders = 0;
  return {
    t,
    server,
    relay,
    account,
    adminBox,
    supportBox,
    logins,
    sync,
    async addMailbox(memberId, address, messages, imap) {
      const login = await server.addUser();
      logins.set(address, login);
      await appendToDovecot(server, login, messages);
      return connect(memberId, address, imap);
    },
    async outsider() {
      const n = ++outsiders;
      const firm = await cm.createFirm({ name: `Other Books ${n}`, internalDomains: [] });
      const owner = await cm.addMember(firm.id, {
        name: "Oscar Outsider",
        email: `oscar${n}@other.example`,
        role: "owner",
      });
      await t.services.users.setPassword(owner.email, { firmId: firm.id, memberId: owner.id }, password);
      const agent = supertest.agent(t.app);
      await agent
        .post("/api/session")
        .set("origin", origin)
        .send({ email: owner.email, password })
        .expect(200);
      return agent;
    },
    async close() {
      await t.close();
      await relay.close();
      await dovecot.stop();
    },
  };
}
