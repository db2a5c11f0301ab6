/**
 * R11: the same message gives the same text through every provider. One set of raw messages —
 * 8-bit ISO-8859-1, HTML only, an attachment without a file name — goes into a real Dovecot
 * (IMAP), the Gmail fake and the Graph fake; each provider fetches it through its own path, and
 * the parsed results must agree.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FetchedMessage } from "@clientmail/core";
import type { MailProvider } from "@clientmail/core/ports";
import { createGmailProvider } from "@clientmail/gmail";
import { createGraphProvider } from "@clientmail/graph";
import { createImapProvider } from "@clientmail/imap";
import {
  appendToDovecot,
  attachDovecot,
  createGmailFake,
  createGraphFake,
  dovecotAvailability,
  fetchedMessages,
  loopbackHostPolicy,
  startDovecot,
  type DovecotInfo,
  type DovecotServer,
} from "@clientmail/testkit";

const owner = "ann@firm.example";

function message(messageId: string, headers: string, body: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(
      `From: Jo <jo@client.example>\r\nTo: ${owner}\r\nSubject: Bilan\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n` +
        `Message-ID: ${messageId}\r\nMIME-Version: 1.0\r\n${headers}\r\n`,
      "latin1",
    ),
    body,
  ]);
}

const messages: Record<string, Buffer> = {
  latin1: message(
    "<latin1@client.example>",
    'Content-Type: text/plain; charset="iso-8859-1"\r\nContent-Transfer-Encoding: 8bit\r\n',
    Buffer.from("Le bilan de l'année est prêt. Grüße aus Köln.\r\n", "latin1"),
  ),
  htmlOnly: message(
    "<html@client.example>",
    "Content-Type: text/html; charset=utf-8\r\n",
    Buffer.from("<html><body><p>Dear Ann,</p><p>the <b>figures</b> are attached.</p></body></html>\r\n"),
  ),
  unnamedPart: message(
    "<unnamed@client.example>",
    'Content-Type: multipart/mixed; boundary="b1"\r\n',
    Buffer.from(
      "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the scan.\r\n" +
        "--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
        `${Buffer.from("%PDF-1.4 scan").toString("base64")}\r\n--b1--\r\n`,
    ),
  ),
};

/** What must be equal across providers. */
function comparable(fetched: FetchedMessage) {
  return {
    messageId: fetched.envelope.messageId,
    subject: fetched.envelope.subject,
    from: fetched.envelope.from,
    text: fetched.text,
    html: fetched.html,
    attachments: fetched.attachments.map(({ filename, contentType, size, contentHash }) => ({
      filename,
      contentType,
      size,
      contentHash,
    })),
  };
}

async function fetchAll(provider: MailProvider): Promise<Map<string, ReturnType<typeof comparable>>> {
  const ids: string[] = [];
  for await (const page of provider.changes(undefined)) ids.push(...page.added.map((e) => e.providerId));
  const fetched = await fetchedMessages(provider.fetch(ids));
  return new Map(fetched.map((m) => [m.envelope.messageId ?? "", comparable(m)]));
}

const skip = process.env.CLIENTMAIL_TEST_DOVECOT ? undefined : dovecotAvailability();

describe.skipIf(skip !== undefined && !skip.available)(
  "R11: the same message, the same text, through every provider",
  () => {
    let dovecot: DovecotServer;
    beforeAll(async () => {
      const info = process.env.CLIENTMAIL_TEST_DOVECOT;
      dovecot = info ? attachDovecot(JSON.parse(info) as DovecotInfo) : await startDovecot();
    });
    afterAll(async () => {
      if (!process.env.CLIENTMAIL_TEST_DOVECOT) await dovecot.stop();
    });

    async function viaImap() {
      const user = await dovecot.addUser();
      await appendToDovecot(dovecot, user, Object.values(messages));
      const provider = createImapProvider({
        ...dovecot,
        security: "none",
        hostPolicy: loopbackHostPolicy,
        user: user.user,
        password: user.password,
      });
      try {
        return await fetchAll(provider);
      } finally {
        await provider.close();
      }
    }

    async function viaGmail() {
      const fake = createGmailFake();
      const mailbox = fake.addUser(owner);
      for (const raw of Object.values(messages)) mailbox.addMessage({ raw });
      const provider = createGmailProvider({
        credentials: { ...fake.oauthClient, refreshToken: fake.refreshTokenOf(owner)! },
        fetch: fake.fetch,
      });
      try {
        return await fetchAll(provider);
      } finally {
        await provider.close();
      }
    }

    async function viaGraph() {
      const fake = createGraphFake();
      const mailbox = fake.addMailbox(owner);
      for (const raw of Object.values(messages)) mailbox.addRawMessage(new Uint8Array(raw));
      const token = fake.accessTokenFor(owner);
      const provider = createGraphProvider({
        mailbox: owner,
        getAccessToken: async () => token,
        fetch: fake.fetch,
      });
      try {
        return await fetchAll(provider);
      } finally {
        await provider.close();
      }
    }

    it("R11: IMAP, Gmail and Graph give the same text, HTML and attachments for 8-bit, HTML-only and unnamed-part mail", async () => {
      const [imap, gmail, graph] = await Promise.all([viaImap(), viaGmail(), viaGraph()]);
      expect(imap.size).toBe(3);
      expect(gmail).toEqual(imap);
      expect(graph).toEqual(imap);

      expect(imap.get("<latin1@client.example>")!.text).toContain(
        "Le bilan de l'année est prêt. Grüße aus Köln.",
      );
      // An HTML-only message has its text read from the HTML, the same way everywhere.
      expect(imap.get("<html@client.example>")!.text).toContain("the figures are attached.");
      expect(imap.get("<unnamed@client.example>")!.attachments).toEqual([
        expect.objectContaining({ filename: "attachment-1.pdf", contentType: "application/pdf" }),
      ]);
    });
  },
);
