/**
 * clientmail quickstart, through the front door: a firm's three IMAP mailboxes (on a Dovecot this
 * script starts on this machine) hold a morning of client, personal and internal mail.
 * `createClientMail` with an IMAP provider syncs them, files the client mail into the accounts,
 * then a contact's email sync is turned on and its history is backfilled. The script prints what
 * happened and why, closes everything and exits.
 */
import { ImapFlow } from "imapflow";
import {
  createAesGcmKeyring,
  createClientMail,
  generateKeyringKey,
  portalStatus,
  type AccountOverview,
  type ClientMail,
} from "@clientmail/core";
import { createImapProvider, type ImapProviderSettings } from "@clientmail/imap";
import { createMemoryStore } from "@clientmail/memory";
// The test kit's Dovecot launcher (its root entry loads without vitest).
import { dovecotAvailability, startDovecot, type DovecotServer } from "@clientmail/testkit";
import { accounts, firm, rawMail, rfc822 } from "./firm.js";

/** Puts each message into its mailbox, as the firm's mail server would have. */
async function deliver(server: DovecotServer, logins: Map<string, { user: string; password: string }>) {
  for (const mail of rawMail) {
    const login = logins.get(mail.mailbox)!;
    const client = new ImapFlow({
      host: server.host,
      port: server.port,
      secure: false,
      doSTARTTLS: false,
      auth: { user: login.user, pass: login.password },
      logger: false,
    });
    client.on("error", () => undefined);
    await client.connect();
    await client.append("INBOX", rfc822(mail));
    await client.logout();
  }
}

async function printAccounts(cm: ClientMail, firmId: string, overviews: AccountOverview[]): Promise<void> {
  for (const { account } of overviews) {
    const overview = await cm.accountOverview(firmId, account.id);
    console.log(
      `  ${account.name} [portal: ${portalStatus(overview.links)}, Email tab: ${overview.showsEmailTab ? "yes" : "no"}]`,
    );
    const threads = await cm.accountThreads(firmId, account.id);
    for (const thread of threads) {
      const messages = [...thread.messages].sort((a, b) => a.date.getTime() - b.date.getTime());
      console.log(`    thread "${messages[0]!.subject}"`);
      for (const message of messages)
        console.log(
          `      ${message.date.toISOString().slice(11, 16)} ${message.direction.padEnd(8)} ${message.subject}`,
        );
    }
    if (threads.length === 0) console.log("    (no mail)");
  }
}

async function main(): Promise<void> {
  const availability = dovecotAvailability();
  if (!availability.available) {
    console.error(
      `This quickstart starts a local Dovecot IMAP server, which is not possible here: ${availability.reason}`,
    );
    process.exitCode = 1;
    return;
  }
  const server = await startDovecot();
  const cm = createClientMail({
    store: createMemoryStore(),
    keyring: createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" }),
    // Each mailbox's credentials (encrypted at rest) are the IMAP settings of its provider. The
    // local server is on loopback, which providers refuse unless allowed (R9).
    providers: {
      imap: (_mailbox, credentials) =>
        createImapProvider({
          ...(JSON.parse(credentials!) as ImapProviderSettings),
          hostPolicy: { allow: ["127.0.0.1/32", "::1/128"] },
        }),
    },
  });
  let firmId = "";
  let family: AccountOverview | undefined;
  try {
    const logins = new Map<string, { user: string; password: string }>();
    for (const mailbox of firm.mailboxes) logins.set(mailbox.id, await server.addUser(mailbox.address));
    await deliver(server, logins);
    console.log(
      `${firm.name}: ${rawMail.length} messages are waiting in ${firm.mailboxes.length} IMAP mailboxes on ${server.host}:${server.port}\n`,
    );

    firmId = (await cm.createFirm({ name: firm.name, internalDomains: firm.internalDomains })).id;
    const members = new Map<string, string>();
    for (const member of firm.members)
      members.set(member.id, (await cm.addMember(firmId, { name: member.name, email: member.email })).id);
    const overviews: AccountOverview[] = [];
    for (const { id: _id, ...input } of accounts) overviews.push(await cm.createAccount(firmId, input));
    console.log(
      `The CRM has ${overviews.length} accounts. Only mail with an address whose email sync is on is filed (T7): Sam's is off for now.`,
    );

    // Connecting a mailbox stores its credentials as ciphertext only (Y1).
    const mailboxIds: string[] = [];
    for (const mailbox of firm.mailboxes) {
      const login = logins.get(mailbox.id)!;
      const owner = members.get(mailbox.id === "mb-bob" ? "bob" : "ann")!;
      const connected = await cm.connectMailbox(firmId, owner, {
        provider: "imap",
        address: mailbox.address,
        credentials: JSON.stringify({
          host: server.host,
          port: server.port,
          security: "none",
          user: login.user,
          password: login.password,
        }),
      });
      mailboxIds.push(connected.id);
    }

    let examined = 0;
    let filed = 0;
    for (const mailboxId of mailboxIds) {
      const pass = await cm.sync.syncOnce(firmId, mailboxId);
      examined += pass.examined;
      filed += pass.filed;
    }
    console.log(
      `\nSynced ${mailboxIds.length} mailboxes: ${examined} messages examined, ${filed} filed as client mail.\n` +
        "Personal and internal mail was skipped (F1), a message seen in two mailboxes was filed once (F4),\n" +
        "replies joined their thread (H1), and Jo's mail went to both of Jo's accounts (F5):",
    );
    await printAccounts(cm, firmId, overviews);

    // T7/Y5: turning email sync on for Sam backfills Sam's history from every mailbox, inside
    // the facade: there is no event to wire.
    family = overviews.find((o) => o.account.name === "The Jordan family")!;
    const samLink = family.links.find((link) => link.email === "sam@home-mail.net")!;
    await cm.updateLink(firmId, samLink.id, { emailSync: true });
  } finally {
    // Waits for the backfill and closes every IMAP connection: nothing keeps the process alive.
    await cm.close();
  }
  try {
    console.log("\nEmail sync turned on for sam@home-mail.net: the backfill filed Sam's history too (Y5):");
    await printAccounts(cm, firmId, [family]);
  } finally {
    await server.stop();
  }
  console.log("\nDone: sync closed and the server stopped, so the process exits.");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
