/**
 * The demo on the embedded default: a firm ("Ledger & Partners") with three members who sign in
 * with the demo password, three client accounts, and Ann's mailbox served by the in-process IMAP
 * and SMTP servers of {@link startDemoMailServer}. The workers then sync it through the real IMAP
 * provider and the filing rules: the bakery's and Northwind's mail is filed, the Rivera family's
 * history waits until email sync is turned on for Maria, personal and internal mail never is.
 * A new client email arrives a little after the start.
 */
import type { AccountOverview, Firm, Mailbox, TeamMember } from "@clientmail/core";
import type { ImapCredentials } from "../providers.js";
import type { Services } from "../services.js";
import { arrivingMail, demoFolders, demoPeople } from "./mail.js";
import { startDemoMailServer, type DemoMailServer } from "./mail-server.js";

/** The password of every demo member. */
export const demoPassword = "clientmail-demo";

/** What the demo set up. */
export interface Demo {
  firm: Firm;
  members: { owner: TeamMember; admin: TeamMember; employee: TeamMember };
  accounts: { bakery: AccountOverview; rivera: AccountOverview; northwind: AccountOverview };
  mailbox: Mailbox;
  mailServer: DemoMailServer;
  close(): Promise<void>;
}

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Milliseconds after the start at which a new client email arrives; `false` for none. Default 20 s. */
  arrivalAfterMs?: number | false;
}

/** Starts the demo mail servers and creates the demo firm in `services`. */
export async function startDemo(services: Services, options: DemoOptions = {}): Promise<Demo> {
  const { cm, users } = services;
  const now = new Date();
  const { ann, ben, cara, jo, maria, luis, priya } = demoPeople;
  const mailServer = await startDemoMailServer({
    user: ann.email,
    password: demoPassword,
    ...demoFolders(now),
  });

  const firm = await cm.createFirm({ name: "Ledger & Partners", internalDomains: [demoPeople.domain] });
  const owner = await cm.addMember(firm.id, { ...ann, role: "owner", newMailNotifications: "all" });
  const admin = await cm.addMember(firm.id, { ...ben, role: "admin" });
  const employee = await cm.addMember(firm.id, { ...cara, role: "employee" });
  for (const member of [owner, admin, employee])
    await users.setPassword(member.email, { firmId: firm.id, memberId: member.id }, demoPassword);

  const split = (person: { name: string }) => {
    const [firstName, ...rest] = person.name.split(" ");
    return { firstName: firstName!, lastName: rest.join(" ") };
  };
  const bakery = await cm.createAccount(firm.id, {
    name: "Jordan's Bakery Ltd",
    kind: "business",
    contacts: [
      { ...split(jo), emails: [{ email: jo.email, emailSync: true, login: true, signatory: true }] },
    ],
  });
  const rivera = await cm.createAccount(firm.id, {
    name: "The Rivera family",
    kind: "family",
    contacts: [
      { ...split(maria), emails: [{ email: maria.email, emailSync: false, notify: true }] },
      { ...split(luis), emails: [{ email: luis.email, emailSync: false, notify: false }] },
    ],
  });
  const northwind = await cm.createAccount(firm.id, {
    name: "Northwind Traders",
    kind: "business",
    contacts: [{ ...split(priya), emails: [{ email: priya.email, emailSync: true }] }],
  });

  const credentials: ImapCredentials = {
    imap: { ...mailServer.imap, security: "none", user: ann.email, password: demoPassword },
    smtp: { ...mailServer.smtp, security: "none", user: ann.email, password: demoPassword },
  };
  const mailbox = await cm.connectMailbox(firm.id, owner.id, {
    provider: "imap",
    address: ann.email,
    displayName: ann.name,
    credentials: JSON.stringify(credentials),
    settings: { autoSaveAttachments: true, signatureHtml: "<p>Ann Lee<br>Ledger &amp; Partners</p>" },
  });

  const arrivalAfterMs = options.arrivalAfterMs ?? 20_000;
  const arrival =
    arrivalAfterMs === false
      ? undefined
      : setTimeout(() => mailServer.deliver(arrivingMail(new Date())), arrivalAfterMs);
  arrival?.unref();

  return {
    firm,
    members: { owner, admin, employee },
    accounts: { bakery, rivera, northwind },
    mailbox,
    mailServer,
    async close() {
      if (arrival) clearTimeout(arrival);
      await mailServer.close();
    },
  };
}
