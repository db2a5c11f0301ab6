/**
 * The front door against a real IMAP server: `createClientMail` with providers files a client's
 * mail from Dovecot and lets go on `close()`; a TLS/port mismatch is reported on the mailbox and
 * in the retry log with its code and hint, never with the password.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createAesGcmKeyring,
  createClientMail,
  generateKeyringKey,
  type ClientMail,
  type MailboxSyncState,
} from "@clientmail/core";
import type { Logger } from "@clientmail/core/ports";
import { createImapProvider } from "@clientmail/imap";
import { createMemoryStore } from "@clientmail/memory";
import {
  appendToDovecot,
  attachDovecot,
  dovecotAvailability,
  loopbackHostPolicy,
  startDovecot,
  type DovecotInfo,
  type DovecotServer,
  type DovecotUser,
} from "@clientmail/testkit";

const availability = dovecotAvailability();
const skipReason = process.env.CLIENTMAIL_TEST_DOVECOT
  ? undefined
  : availability.available
    ? undefined
    : availability.reason;
if (skipReason && process.env.CI) throw new Error(`Dovecot is required in CI: ${skipReason}`);

const deliver = (server: DovecotServer, user: DovecotUser, raw: string) =>
  appendToDovecot(server, user, [raw]);

function recordingLogger(lines: string[]): Logger {
  const record = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    void lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  return { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
}

describe.skipIf(skipReason !== undefined)(
  `front door on Dovecot${skipReason ? ` (skipped: ${skipReason})` : ""}`,
  () => {
    let server: DovecotServer;
    const open: ClientMail[] = [];

    beforeAll(async () => {
      const info = process.env.CLIENTMAIL_TEST_DOVECOT;
      server = info ? attachDovecot(JSON.parse(info) as DovecotInfo) : await startDovecot();
    });
    afterAll(async () => {
      await Promise.all(open.map((cm) => cm.close()));
      if (!process.env.CLIENTMAIL_TEST_DOVECOT) await server?.stop();
    });

    async function firmWithMailbox(
      security: "none" | "tls",
      lines: string[],
    ): Promise<{ cm: ClientMail; firmId: string; mailboxId: string; user: DovecotUser; accountId: string }> {
      const store = createMemoryStore();
      const keyring = createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" });
      const cm = createClientMail({
        store,
        keyring,
        logger: recordingLogger(lines),
        // Loopback is refused by default (R9); the test server is allowed explicitly.
        providers: {
          imap: (_mailbox, secret) =>
            createImapProvider({ ...JSON.parse(secret!), hostPolicy: loopbackHostPolicy }),
        },
        sync: { maxConsecutiveFailures: 2 },
      });
      open.push(cm);
      const user = await server.addUser();
      const firm = await cm.createFirm({ name: "Ledger", internalDomains: ["ledger.example"] });
      const ann = await cm.addMember(firm.id, { name: "Ann Lee", email: "ann@ledger.example" });
      const account = await cm.createAccount(firm.id, {
        name: "Jordan's Bakery",
        kind: "business",
        contacts: [{ firstName: "Jo", emails: [{ email: "jo@bakery.example", emailSync: true }] }],
      });
      const mailbox = await cm.connectMailbox(firm.id, ann.id, {
        provider: "imap",
        address: "ann@ledger.example",
        credentials: JSON.stringify({
          host: server.host,
          port: server.port,
          security,
          user: user.user,
          password: user.password,
        }),
      });
      return { cm, firmId: firm.id, mailboxId: mailbox.id, user, accountId: account.account.id };
    }

    it("Y1 Y2 F1: through the front door a client's mail on Dovecot is filed, personal mail is not, and close() lets go", async () => {
      const lines: string[] = [];
      const { cm, firmId, mailboxId, user, accountId } = await firmWithMailbox("none", lines);
      await deliver(
        server,
        user,
        "From: Jo <jo@bakery.example>\r\nTo: ann@ledger.example\r\nSubject: Invoices\r\nMessage-ID: <inv@bakery.example>\r\n\r\nAttached.\r\n",
      );
      await deliver(
        server,
        user,
        "From: Shop <news@shop.example>\r\nTo: ann@ledger.example\r\nSubject: Sale\r\nMessage-ID: <sale@shop.example>\r\n\r\nBuy.\r\n",
      );
      expect(await cm.sync.syncMailbox(firmId, mailboxId)).toBe("ok");
      const threads = await cm.accountThreads(firmId, accountId);
      expect(threads.map((thread) => thread.messages.map((m) => m.subject))).toEqual([["Invoices"]]);
      expect(cm.sync.openProvider(firmId, mailboxId)).toBeDefined();
      await cm.close();
      expect(cm.sync.openProvider(firmId, mailboxId)).toBeUndefined();
    });

    it("R9 Y7 N5: TLS to the plain-text port: the mailbox's retry state and the retry log carry the code and the hint, never the password", async () => {
      const lines: string[] = [];
      const { cm, firmId, mailboxId, user } = await firmWithMailbox("tls", lines);
      const states: MailboxSyncState[] = [];
      cm.on("sync.state", ({ state }) => states.push(state));
      expect(await cm.sync.syncMailbox(firmId, mailboxId)).toBe("stopped");
      const retrying = states.find((state) => state.status === "retrying");
      expect(retrying).toMatchObject({
        lastError: "mailbox_unavailable",
        lastErrorMessage: expect.stringMatching(/answered without TLS.*STARTTLS/),
      });
      const retryLog = lines.find((line) => line.startsWith("warn sync pass failed; retrying"));
      expect(retryLog).toMatch(/"code":"mailbox_unavailable"/);
      expect(retryLog).toMatch(/"hint":"tls_to_plaintext_port"/);
      expect(retryLog).toMatch(/"cause":"A secure connection to the mail server could not be established/);
      expect(lines.find((line) => line.startsWith("warn sync stopped"))).toMatch(/repeated_failures/);
      expect(lines.join("\n")).not.toContain(user.password);
      await cm.close();
    });
  },
);
