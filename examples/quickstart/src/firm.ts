/** A small accounting firm with clients, contacts and toggles, and a day of realistic mail. */
import { parseAddressList, parseInput, accountInputSchema, type ProviderEnvelope } from "@clientmail/core";

export const firm = {
  name: "Ledger & Partners",
  internalDomains: ["ledger-partners.com"],
  members: [
    { id: "ann", name: "Ann Lee", email: "ann@ledger-partners.com" },
    { id: "bob", name: "Bob Marsh", email: "bob@ledger-partners.com" },
  ],
  mailboxes: [
    { id: "mb-ann", address: "ann@ledger-partners.com" },
    { id: "mb-bob", address: "bob@ledger-partners.com" },
    { id: "mb-support", address: "support@ledger-partners.com" },
  ],
};

/** Accounts as the CRM would submit them: validated and normalised on entry (T11, T12). */
export const accounts = [
  {
    id: "acct-jo-family",
    input: {
      name: "The Jordan family",
      kind: "family",
      contacts: [
        {
          firstName: "Jo",
          lastName: "Jordan",
          emails: [{ email: "Jo.Jordan@Home-Mail.net", emailSync: true, login: true }],
        },
        {
          firstName: "Sam",
          lastName: "Jordan",
          emails: [{ email: "sam@home-mail.net", emailSync: false, notify: true }],
        },
      ],
    },
  },
  {
    id: "acct-jo-bakery",
    input: {
      name: "Jordan's Bakery Ltd",
      kind: "business",
      contacts: [
        {
          firstName: "Jo",
          lastName: "Jordan",
          emails: [{ email: "jo.jordan@home-mail.net", emailSync: true, signatory: true }],
        },
      ],
    },
  },
  {
    id: "acct-acme",
    input: {
      name: "Acme Tools GmbH",
      kind: "business",
      contacts: [
        {
          firstName: "Petra",
          lastName: "Klein",
          emails: [{ email: "petra@acme-tools.de", emailSync: true }],
        },
      ],
    },
  },
].map((account) => ({ id: account.id, ...parseInput(accountInputSchema, account.input) }));

/** One message as it sits in a mailbox. */
export interface RawMail {
  mailbox: string;
  id: string;
  threadId?: string;
  headers: Record<string, string>;
}

const day = (h: number, m = 0) =>
  `Mon, 5 Jan 2026 ${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:00 +0000`;

/** What three mailboxes contain after one morning: client mail, personal mail, internal mail. */
export const rawMail: RawMail[] = [
  {
    mailbox: "mb-ann",
    id: "a1",
    headers: {
      From: '"Jo Jordan" <jo.jordan@home-mail.net>',
      To: "ann@ledger-partners.com",
      Subject: "Receipts for 2025",
      "Message-ID": "<r1@home-mail.net>",
      Date: day(8),
    },
  },
  {
    mailbox: "mb-ann",
    id: "a2",
    headers: {
      From: "Ann Lee <ann@ledger-partners.com>",
      To: "jo.jordan@home-mail.net",
      Cc: "bob@ledger-partners.com",
      Subject: "RE: Receipts for 2025",
      "Message-ID": "<r2@ledger-partners.com>",
      "In-Reply-To": "<r1@home-mail.net>",
      References: "<r1@home-mail.net>",
      Date: day(9),
    },
  },
  {
    mailbox: "mb-bob",
    id: "b1",
    headers: {
      From: "Ann Lee <ann@ledger-partners.com>",
      To: "jo.jordan@home-mail.net",
      Cc: "bob@ledger-partners.com",
      Subject: "RE: Receipts for 2025",
      "Message-ID": "<r2@ledger-partners.com>",
      "In-Reply-To": "<r1@home-mail.net>",
      References: "<r1@home-mail.net>",
      Date: day(9),
    },
  },
  {
    mailbox: "mb-ann",
    id: "a3",
    headers: {
      From: "Newsletter <news@shop.example>",
      To: "ann@ledger-partners.com",
      Subject: "50% off today",
      "Message-ID": "<promo@shop.example>",
      Date: day(9, 30),
    },
  },
  {
    mailbox: "mb-bob",
    id: "b2",
    headers: {
      From: "bob@ledger-partners.com",
      To: "ann@ledger-partners.com",
      Subject: "Lunch?",
      "Message-ID": "<lunch@ledger-partners.com>",
      Date: day(10),
    },
  },
  {
    mailbox: "mb-support",
    id: "s1",
    headers: {
      From: "=?UTF-8?Q?Petra_Klein?= <Petra@ACME-tools.de>",
      To: "support@ledger-partners.com",
      Subject: "AW: VAT return Q4",
      "Message-ID": "<v2@acme-tools.de>",
      References: "<v1@ledger-partners.com>",
      Date: day(10, 15),
    },
  },
  {
    mailbox: "mb-ann",
    id: "a4",
    headers: {
      From: "Ann Lee <ann@ledger-partners.com>",
      To: "petra@acme-tools.de",
      Subject: "VAT return Q4",
      "Message-ID": "<v1@ledger-partners.com>",
      Date: day(7),
    },
  },
  {
    mailbox: "mb-bob",
    id: "b3",
    headers: {
      From: "Jo Jordan <jo.jordan@home-mail.net>",
      To: "bob@ledger-partners.com",
      Subject: "Receipts for 2025 (second batch)",
      Date: day(11),
    },
  },
  {
    mailbox: "mb-bob",
    id: "b4",
    headers: {
      From: "Sam Jordan <sam@home-mail.net>",
      To: "bob@ledger-partners.com",
      Subject: "Birthday party",
      "Message-ID": "<party@home-mail.net>",
      Date: day(12),
    },
  },
];

/** The message as RFC 822 text, as a mail server stores it. */
export function rfc822(mail: RawMail): string {
  const headers = Object.entries(mail.headers).map(([name, value]) => `${name}: ${value}`);
  return [
    ...headers,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    `(${mail.headers.Subject})`,
    "",
  ].join("\r\n");
}

function ids(value: string | undefined): string[] {
  return value ? (value.match(/<[^>]+>/g) ?? []) : [];
}

/** The envelopes a provider would report for the mail above. */
export const envelopes: Array<ProviderEnvelope & { mailboxId: string }> = rawMail.map((mail) => ({
  mailboxId: mail.mailbox,
  providerId: mail.id,
  folder: "INBOX",
  providerThreadId: mail.threadId,
  messageId: mail.headers["Message-ID"],
  inReplyTo: ids(mail.headers["In-Reply-To"]),
  references: ids(mail.headers.References),
  from: parseAddressList(mail.headers.From ?? ""),
  sender: [],
  replyTo: [],
  to: parseAddressList(mail.headers.To ?? ""),
  cc: parseAddressList(mail.headers.Cc ?? ""),
  bcc: [],
  subject: mail.headers.Subject ?? "",
  date: new Date(mail.headers.Date ?? 0),
  size: 2048,
  flags: [],
}));
