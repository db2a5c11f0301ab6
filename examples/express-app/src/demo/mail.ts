/**
 * The demo mailbox's mail: a few weeks of a small accounting firm's inbox, with client threads,
 * a client's history that is filed only once its email sync is turned on, a hostile HTML email,
 * and personal and internal mail that must never be stored. Dates are relative to the start.
 */
import { imapDate, type SeedMessage } from "./mail-server.js";

/** The demo firm's people and clients. */
export const demoPeople = {
  domain: "ledger.example",
  ann: { name: "Ann Lee", email: "ann@ledger.example" },
  ben: { name: "Ben Ortiz", email: "ben@ledger.example" },
  cara: { name: "Cara Singh", email: "cara@ledger.example" },
  jo: { name: "Jo Jordan", email: "jo@jordans-bakery.example" },
  maria: { name: "Maria Rivera", email: "maria.rivera@rivera-home.example" },
  luis: { name: "Luis Rivera", email: "luis@rivera-home.example" },
  priya: { name: "Priya Nair", email: "priya@northwind.example" },
} as const;

type Person = { name: string; email: string };

interface DemoMail {
  folder: "inbox" | "sent";
  from: Person;
  to: Person;
  subject: string;
  id: string;
  inReplyTo?: string;
  daysAgo: number;
  text?: string;
  html?: string;
  attachment?: { filename: string; contentType: string; base64: string };
}

const { ann, ben, jo, maria, priya } = demoPeople;
const mum = { name: "Mum", email: "mum@family-mail.example" };
const runclub = { name: "Riverside Run Club", email: "news@runclub.example" };

/** A one-page PDF, small enough to read in the source. */
const receiptPdf = Buffer.from(
  "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
    "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n",
).toString("base64");

/** The hostile email: scripts, event handlers, a form and a tracking image, all of which must stay inert. */
export const hostileHtml = `<html><head><script>window.parent.__pwned = "script"; alert("pwned")</script></head>
<body onload="window.parent.__pwned='onload'">
<p>Dear Ann,</p><p>Please find our <b>October invoice</b> below. Total due: <b>£1,240.00</b>.</p>
<img src="https://tracker.northwind.example/open.gif?u=ann" alt="" width="1" height="1">
<img src="x" onerror="window.parent.__pwned='onerror'">
<a href="javascript:window.parent.__pwned='link'">View invoice</a>
<form action="https://phish.example/login"><input name="password"><button>Confirm</button></form>
<iframe src="https://phish.example/"></iframe>
<p>Kind regards,<br>Priya Nair<br>Northwind Traders</p></body></html>`;

const mail: DemoMail[] = [
  // Jordan's Bakery: a live thread with a receipt attached (email sync on).
  {
    folder: "inbox",
    from: jo,
    to: ann,
    subject: "Q3 VAT return: receipts attached",
    id: "jo-vat-1",
    daysAgo: 3,
    text: "Hi Ann,\n\nHere are the receipts for the third quarter. The big one is the new oven.\n\nThanks,\nJo",
    attachment: { filename: "oven-receipt.pdf", contentType: "application/pdf", base64: receiptPdf },
  },
  {
    folder: "sent",
    from: ann,
    to: jo,
    subject: "Re: Q3 VAT return: receipts attached",
    id: "ann-vat-2",
    inReplyTo: "jo-vat-1",
    daysAgo: 2,
    text: "Hi Jo,\n\nThanks, all received. The oven counts as a capital purchase, so we can reclaim the VAT this quarter.\n\nAnn",
  },
  {
    folder: "inbox",
    from: jo,
    to: ann,
    subject: "Re: Q3 VAT return: receipts attached",
    id: "jo-vat-3",
    inReplyTo: "ann-vat-2",
    daysAgo: 1,
    text: "Brilliant news, thank you! Do you need anything else from me?\n\nJo",
  },
  // The Rivera family: history that is filed only once email sync is turned on for Maria.
  {
    folder: "inbox",
    from: maria,
    to: ann,
    subject: "Mortgage interest certificate",
    id: "maria-1",
    daysAgo: 40,
    text: "Hello Ann,\n\nThe bank sent our mortgage interest certificate for last year. Is it useful for the return?\n\nMaria",
  },
  {
    folder: "sent",
    from: ann,
    to: maria,
    subject: "Re: Mortgage interest certificate",
    id: "ann-maria-2",
    inReplyTo: "maria-1",
    daysAgo: 39,
    text: "Hi Maria,\n\nYes, please send it over; the interest on the rented flat is deductible.\n\nAnn",
  },
  {
    folder: "inbox",
    from: maria,
    to: ann,
    subject: "Question about our 2025 tax return",
    id: "maria-3",
    daysAgo: 12,
    text: "Hi Ann,\n\nLuis started freelancing in March. Does that change what we need to send you?\n\nMaria",
  },
  // Northwind Traders: a hostile HTML email (email sync on).
  {
    folder: "inbox",
    from: priya,
    to: ann,
    subject: "Northwind invoice for October",
    id: "priya-1",
    daysAgo: 5,
    html: hostileHtml,
  },
  // Personal and internal mail: never stored.
  {
    folder: "inbox",
    from: mum,
    to: ann,
    subject: "Sunday lunch?",
    id: "mum-1",
    daysAgo: 2,
    text: "Are you coming on Sunday? Dad is making his lasagne.",
  },
  {
    folder: "inbox",
    from: runclub,
    to: ann,
    subject: "Your weekly run club digest",
    id: "run-1",
    daysAgo: 4,
    text: "Saturday's 10k starts at 9. New routes inside.",
  },
  {
    folder: "inbox",
    from: ben,
    to: ann,
    subject: "Team lunch on Friday",
    id: "ben-1",
    daysAgo: 1,
    text: "Shall we book the usual place for Friday?",
  },
];

const address = (person: Person) => `"${person.name}" <${person.email}>`;
const messageId = (id: string) => `<${id}@demo.clientmail.example>`;

/** The RFC 5322 source of a demo message. */
export function demoSource(message: DemoMail, now: Date): string {
  const date = new Date(now.getTime() - message.daysAgo * 86_400_000);
  const headers = [
    `From: ${address(message.from)}`,
    `To: ${address(message.to)}`,
    `Subject: ${message.subject}`,
    `Message-ID: ${messageId(message.id)}`,
    `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
    "MIME-Version: 1.0",
    ...(message.inReplyTo
      ? [`In-Reply-To: ${messageId(message.inReplyTo)}`, `References: ${messageId(message.inReplyTo)}`]
      : []),
  ];
  const body = message.html ?? message.text ?? "";
  const type = message.html ? "text/html" : "text/plain";
  if (!message.attachment)
    return [...headers, `Content-Type: ${type}; charset=utf-8`, "", body.replace(/\r?\n/g, "\r\n"), ""].join(
      "\r\n",
    );
  const boundary = `demo-${message.id}`;
  const base64 = message.attachment.base64.replace(/.{76}/g, "$&\r\n");
  return [
    ...headers,
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    "",
    `--${boundary}`,
    `Content-Type: ${type}; charset=utf-8`,
    "",
    body.replace(/\r?\n/g, "\r\n"),
    `--${boundary}`,
    `Content-Type: ${message.attachment.contentType}; name="${message.attachment.filename}"`,
    `Content-Disposition: attachment; filename="${message.attachment.filename}"`,
    "Content-Transfer-Encoding: base64",
    "",
    base64,
    `--${boundary}--`,
    "",
  ].join("\r\n");
}

/** The demo mailbox's folders as the IMAP server starts with them, oldest first. */
export function demoFolders(now: Date): { inbox: SeedMessage[]; sent: SeedMessage[] } {
  const seed = (folder: DemoMail["folder"]) =>
    mail
      .filter((message) => message.folder === folder)
      .sort((a, b) => b.daysAgo - a.daysAgo)
      .map((message) => ({
        raw: demoSource(message, now),
        internaldate: imapDate(new Date(now.getTime() - message.daysAgo * 86_400_000)),
        flags: folder === "sent" || message.daysAgo > 2 ? ["\\Seen"] : [],
      }));
  return { inbox: seed("inbox"), sent: seed("sent") };
}

/** A client email that arrives while the demo runs, so a newcomer sees new mail being filed. */
export function arrivingMail(now: Date): string {
  return demoSource(
    {
      folder: "inbox",
      from: jo,
      to: ann,
      subject: "Payroll for November",
      id: `jo-payroll-${now.getTime()}`,
      daysAgo: 0,
      text: "Hi Ann,\n\nWe took on two part-time bakers this month. Can you add them to the November payroll?\n\nJo",
    },
    now,
  );
}
