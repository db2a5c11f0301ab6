/**
 * The SMTP sender against a real SMTP server (`smtp-server` on loopback) that delivers every
 * accepted message into the recipients' Dovecot inboxes by IMAP APPEND, and a real Dovecot for
 * the sender's own Sent folder.
 */
import { ClientMailError, ConnectionError } from "@clientmail/core";
import type { MailProvider } from "@clientmail/core/ports";
import { buildRawMessage, type DovecotServer, type DovecotUser } from "@clientmail/testkit";
import { mailSenderConformance } from "@clientmail/testkit/vitest";
import { ImapFlow } from "imapflow";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { afterAll, describe, expect, it } from "vitest";
import {
  createImapProvider,
  createSmtpSender,
  testSmtpConnection,
  type SmtpSenderSettings,
} from "../src/index.js";
import { adminConnection, dovecotSkipReason, providerSettings, sharedDovecot } from "./dovecot-fixture.js";
import { selfSignedCertificate } from "./scripted-imap-server.js";

const skip = dovecotSkipReason();
let shared: Promise<DovecotServer> | undefined;
afterAll(async () => {
  if (!process.env.CLIENTMAIL_TEST_DOVECOT) await (await shared)?.stop();
});

/** An SMTP server on loopback that APPENDs what it accepts to each recipient's INBOX. */
async function startRelay(
  server: DovecotServer,
  users: Map<string, DovecotUser>,
  sender: DovecotUser,
  tls: { secure?: boolean; starttls?: boolean; key?: Buffer; cert?: Buffer } = {},
) {
  const accepted: { envelope: string[]; raw: Buffer }[] = [];
  const relay = new SMTPServer({
    secure: tls.secure ?? false,
    ...(tls.key ? { key: tls.key, cert: tls.cert } : {}),
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: tls.starttls ? [] : ["STARTTLS"],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === sender.user && auth.password === sender.password)
        callback(null, { user: auth.username });
      else callback(new Error("Invalid username or password"));
    },
    onRcptTo(address, _session, callback) {
      if (!users.has(address.address.toLowerCase())) {
        const error = new Error("5.1.1 No such user here") as Error & { responseCode: number };
        error.responseCode = 550;
        callback(error);
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks);
        const rcpt = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        accepted.push({ envelope: rcpt, raw });
        void (async () => {
          for (const address of rcpt) {
            const admin = await adminConnection(server, users.get(address)!);
            await admin.append("INBOX", raw);
            await admin.logout();
          }
        })().then(
          () => callback(),
          (error: Error) => callback(error),
        );
      });
    },
  });
  // A client that rejects the certificate drops the handshake; the server reports it as an error.
  relay.on("error", () => undefined);
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const port = (relay.server.address() as AddressInfo).port;
  return { relay, port, accepted, close: () => new Promise<void>((resolve) => relay.close(() => resolve())) };
}

async function rawsIn(server: DovecotServer, user: DovecotUser, folder: string): Promise<Buffer[]> {
  const admin: ImapFlow = await adminConnection(server, user);
  try {
    const lock = await admin.getMailboxLock(folder);
    try {
      const out: Buffer[] = [];
      if (admin.mailbox && admin.mailbox.exists > 0)
        for await (const message of admin.fetch("1:*", { source: true }))
          if (message.source) out.push(message.source);
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await admin.logout().catch(() => admin.close());
  }
}

async function world(tls: Parameters<typeof startRelay>[3] = {}) {
  shared ??= sharedDovecot();
  const server = await shared;
  const sender = await server.addUser();
  const client = await server.addUser();
  const assistant = await server.addUser();
  const users = new Map([sender, client, assistant].map((u) => [u.user.toLowerCase(), u]));
  const relay = await startRelay(server, users, sender, tls);
  const settings: SmtpSenderSettings = {
    imap: providerSettings(server, sender),
    smtp: { host: "127.0.0.1", port: relay.port, security: "none" },
  };
  return { server, sender, client, assistant, relay, settings };
}

mailSenderConformance({
  name: "smtp (smtp-server into Dovecot)",
  skip,
  async setup() {
    const w = await world();
    return {
      sender: createSmtpSender(w.settings),
      from: w.sender.user,
      recipient: w.client.user,
      bccRecipient: w.assistant.user,
      delivered: async (address) =>
        rawsIn(w.server, address === w.client.user ? w.client : w.assistant, "INBOX"),
      sentCopies: async () => rawsIn(w.server, w.sender, "Sent"),
      async parent() {
        const messageId = `<parent-${Math.random().toString(36).slice(2)}@client.example>`;
        const admin = await adminConnection(w.server, w.sender);
        await admin.append(
          "INBOX",
          buildRawMessage({ from: w.client.user, to: w.sender.user, subject: "Engagement", messageId }),
        );
        await admin.logout();
        return { messageId, subject: "Engagement" };
      },
      close: () => w.relay.close(),
    };
  },
});

describe.skipIf(skip !== undefined)("SMTP sender", () => {
  it("S5: the sent copy APPENDed to \\Sent comes back through sync with the composed Message-ID", async () => {
    const w = await world();
    const sender = createSmtpSender(w.settings);
    const provider: MailProvider = createImapProvider({
      ...providerSettings(w.server, w.sender),
      folders: ["\\Sent"],
    });
    try {
      const receipt = await sender.send({
        messageId: "<s5-sync@firm.example>",
        from: { address: w.sender.user },
        to: [{ address: w.client.user }],
        cc: [],
        bcc: [],
        subject: "Engagement letter",
        text: "Hello",
        attachments: [],
        date: new Date(),
      });
      expect(receipt.providerId).toBeDefined();
      const seen: string[] = [];
      for await (const page of provider.changes(undefined))
        for (const envelope of page.added) if (envelope.messageId) seen.push(envelope.messageId);
      expect(seen).toEqual(["<s5-sync@firm.example>"]);
      expect(w.relay.accepted).toHaveLength(1);
    } finally {
      await sender.close();
      await provider.close();
      await w.relay.close();
    }
  });

  it("S4: a recipient the server refuses (550) is validation_failed and nothing is saved to Sent", async () => {
    const w = await world();
    const sender = createSmtpSender(w.settings);
    try {
      const error = await sender
        .send({
          messageId: "<refused@firm.example>",
          from: { address: w.sender.user },
          to: [{ address: "nobody@example.test" }],
          cc: [],
          bcc: [],
          subject: "x",
          text: "x",
          attachments: [],
          date: new Date(),
        })
        .catch((e: unknown) => e);
      expect(ClientMailError.hasCode(error, "validation_failed")).toBe(true);
      expect(await rawsIn(w.server, w.sender, "Sent")).toHaveLength(0);
      expect(await sender.findSent("<refused@firm.example>")).toEqual({ found: false });
    } finally {
      await sender.close();
      await w.relay.close();
    }
  });

  it("R9: an SMTP host the policy refuses is never dialled", async () => {
    const w = await world();
    const dialled: string[] = [];
    const sender = createSmtpSender({
      ...w.settings,
      imap: {
        ...w.settings.imap,
        hostPolicy: { allow: [] },
        socketFactory: (options) => {
          dialled.push(options.address);
          throw new Error("dialled");
        },
      },
      smtp: { host: "127.0.0.1", port: w.relay.port, security: "none" },
    });
    try {
      const error = await sender
        .send({
          messageId: "<r9@firm.example>",
          from: { address: w.sender.user },
          to: [{ address: w.client.user }],
          cc: [],
          bcc: [],
          subject: "x",
          text: "x",
          attachments: [],
          date: new Date(),
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as ConnectionError).reason).toBe("host_refused");
      expect(dialled).toEqual([]);
      expect(w.relay.accepted).toHaveLength(0);
    } finally {
      await sender.close();
      await w.relay.close();
    }
  });
});

describe.skipIf(skip !== undefined)("SMTP connection test", () => {
  it("Y1: logs in to the SMTP server and sends nothing", async () => {
    const w = await world();
    try {
      await testSmtpConnection(w.settings);
      expect(w.relay.accepted).toHaveLength(0);
    } finally {
      await w.relay.close();
    }
  });

  it("Y1 R9: a refused login is auth_failed and a closed port connection_refused, both from smtp, with no server text", async () => {
    const w = await world();
    try {
      const refused = await testSmtpConnection({
        ...w.settings,
        smtp: { ...w.settings.smtp, password: "not-the-password" },
      }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ConnectionError);
      expect((refused as ConnectionError).reason).toBe("auth_failed");
      expect((refused as ConnectionError).code).toBe("auth_revoked");
      expect((refused as ConnectionError).details).toMatchObject({ provider: "smtp" });
      expect((refused as ConnectionError).message).not.toMatch(/Invalid username/);

      await w.relay.close();
      const closed = await testSmtpConnection(w.settings).catch((e: unknown) => e);
      expect(closed).toBeInstanceOf(ConnectionError);
      expect((closed as ConnectionError).reason).toBe("connection_refused");
      expect((closed as ConnectionError).details).toMatchObject({ provider: "smtp" });
      expect(w.relay.accepted).toHaveLength(0);
    } finally {
      await w.relay.close().catch(() => undefined);
    }
  });

  it("R9: an SMTP host the policy refuses is refused before any connection", async () => {
    const w = await world();
    const dialled: string[] = [];
    try {
      const error = await testSmtpConnection({
        ...w.settings,
        imap: {
          ...w.settings.imap,
          hostPolicy: { allow: [], resolve: async () => [{ address: "169.254.169.254", family: 4 }] },
          socketFactory: (options) => {
            dialled.push(options.address);
            throw new Error("dialled");
          },
        },
        smtp: { host: "smtp.firm.example", port: 587, security: "starttls" },
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as ConnectionError).reason).toBe("host_refused");
      expect(dialled).toEqual([]);
    } finally {
      await w.relay.close();
    }
  });
});

function composed(from: string, to: string, messageId: string) {
  return {
    messageId,
    from: { address: from },
    to: [{ address: to }],
    cc: [],
    bcc: [],
    subject: "TLS",
    text: "x",
    attachments: [],
    date: new Date(),
  };
}

/** A resolver answering every name with loopback: the certificate, not the address, tells names apart. */
const loopbackDns = async () => [{ address: "127.0.0.1", family: 4 as const }];

describe.skipIf(skip !== undefined)("SMTP sender: transport security (R9)", () => {
  it("R9: implicit TLS to the vetted address, the certificate checked against the host name", async () => {
    const certificate = await selfSignedCertificate("smtp.example.test");
    const w = await world({ secure: true, ...certificate });
    const settings = (host: string): SmtpSenderSettings => ({
      imap: w.settings.imap,
      smtp: { host, port: w.relay.port, security: "tls", tls: { ca: certificate.cert } },
    });
    const policy = { allow: ["127.0.0.1/32"], resolve: loopbackDns };
    const good = createSmtpSender({
      ...settings("smtp.example.test"),
      imap: { ...w.settings.imap, hostPolicy: policy },
    });
    const wrong = createSmtpSender({
      ...settings("other.example.test"),
      imap: { ...w.settings.imap, hostPolicy: policy },
    });
    try {
      await good.send(composed(w.sender.user, w.client.user, "<tls-ok@firm.example>"));
      expect(w.relay.accepted).toHaveLength(1);
      const error = await wrong
        .send(composed(w.sender.user, w.client.user, "<tls-mismatch@firm.example>"))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as ConnectionError).reason).toBe("tls_failed");
      expect(w.relay.accepted).toHaveLength(1);
    } finally {
      await good.close();
      await wrong.close();
      await w.relay.close();
    }
  });

  it("R9: required STARTTLS upgrades, and fails closed (tls_failed, nothing sent) when the server does not offer it", async () => {
    const certificate = await selfSignedCertificate("smtp.example.test");
    const offering = await world({ starttls: true, ...certificate });
    const policy = { allow: ["127.0.0.1/32"], resolve: loopbackDns };
    const upgraded = createSmtpSender({
      imap: { ...offering.settings.imap, hostPolicy: policy },
      smtp: {
        host: "smtp.example.test",
        port: offering.relay.port,
        security: "starttls",
        tls: { ca: certificate.cert },
      },
    });
    const plain = await world();
    const refused = createSmtpSender({
      imap: { ...plain.settings.imap, hostPolicy: policy },
      smtp: {
        host: "smtp.example.test",
        port: plain.relay.port,
        security: "starttls",
        tls: { ca: certificate.cert },
      },
    });
    try {
      await upgraded.send(composed(offering.sender.user, offering.client.user, "<starttls-ok@firm.example>"));
      expect(offering.relay.accepted).toHaveLength(1);
      const error = await refused
        .send(composed(plain.sender.user, plain.client.user, "<starttls-missing@firm.example>"))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as ConnectionError).reason).toBe("tls_failed");
      expect(plain.relay.accepted).toHaveLength(0);
    } finally {
      await upgraded.close();
      await refused.close();
      await offering.relay.close();
      await plain.relay.close();
    }
  });
});
