/**
 * The fault suite's mail: a deterministic corpus (same seed, same bytes) for the testkit's
 * end-to-end firm — Ann's, Bob's and the shared support mailbox; Jo, linked to the Jordan family
 * and Jordan's Bakery; Petra of Acme; Sam, whose email sync is off — with the answer key of
 * every message: which accounts it must be filed in and which attachments saved there.
 *
 * Every message carries a unique tag (`cm-0042`) in its subject. The digest identifies filed
 * messages by it, so a message whose subject had to be made storable, or whose Message-ID is
 * shared with another message (R5), is still told apart.
 *
 * Variants: `base` (client threads with replies and References, copies in two mailboxes, mail
 * without a Message-ID, attachments with repeated content, a few large ones, personal, internal
 * and newsletter mail); `hostile` (R4: NUL bytes and lone surrogates in subject, body, display
 * name and attachment name, and a message no store can hold as is) and its clean twin; `collision`
 * (R5: a reused and a squatted Message-ID) and its twin with unique ids.
 */
import { createHash } from "node:crypto";

/** The firm's mailboxes, by the label the suite uses for them. */
export type StaffLabel = "ann" | "bob" | "support";
export const staffLabels: readonly StaffLabel[] = ["ann", "bob", "support"];

export const firmDomain = "ledger.example";

/** The mailbox addresses of the end-to-end firm (constant: firms are isolated from each other). */
export const staffAddresses: Record<StaffLabel, string> = {
  ann: `ann@${firmDomain}`,
  bob: `bob@${firmDomain}`,
  support: `support@${firmDomain}`,
};

/** Mailboxes whose owner turned on "automatically save attachments" in the end-to-end firm (F9). */
export const autoSaving: ReadonlySet<StaffLabel> = new Set(["ann", "support"]);

interface Person {
  name: string;
  address: string;
  /** The accounts a link with email sync on files this address into (empty: not synced). */
  accounts: readonly string[];
}

/** The end-to-end firm's client addresses and where their mail is filed (F4). */
export const people = {
  jo: { name: "Jo Jordan", address: "jo@home.example", accounts: ["Jordan family", "Jordan's Bakery"] },
  petra: { name: "Petra Novak", address: "petra@acme.example", accounts: ["Acme"] },
  sam: { name: "Sam Jordan", address: "sam@home.example", accounts: [] },
  friend: { name: "Alex Friend", address: "alex@personal.example", accounts: [] },
  news: { name: "Shop News", address: "news@shop.example", accounts: [] },
} satisfies Record<string, Person>;

type PersonKey = keyof typeof people;

/** Where one copy of a message lies. */
export interface Copy {
  mailbox: StaffLabel;
  folder: "INBOX" | "Sent";
}

export type MessageKind = "client" | "unsynced" | "personal" | "internal" | "newsletter" | "hostile";

/** One message of a corpus, with its answer key. */
export interface CorpusMessage {
  /** Unique within the corpus; appears in the subject. */
  tag: string;
  /** The Message-ID header with angle brackets, when the message has one. */
  messageId: string | undefined;
  raw: Buffer;
  date: Date;
  /** In arrival order: the suite appends copies in the order of {@link Corpus.messages}. */
  copies: Copy[];
  kind: MessageKind;
  /** External participants (normalised addresses). */
  externals: string[];
  /** The accounts it must be filed in, sorted (empty: never stored, F1). */
  accounts: string[];
  /** SHA-256 of each attachment's content. */
  attachments: string[];
  /** For hostile messages: what is hostile about it. */
  hostility?: string | undefined;
}

export interface Corpus {
  name: string;
  messages: CorpusMessage[];
  /** Bytes of every copy together: what a full backfill downloads, roughly. */
  totalBytes: number;
}

/** The tag in a subject, or undefined. */
export function tagOf(subject: string): string | undefined {
  return /\bcm[a-z]*-\d{4}\b/.exec(subject)?.[0];
}

/** Mulberry32: a small seeded PRNG, so a corpus is the same bytes on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pseudoRandomBytes(size: number, seed: number): Buffer {
  const random = prng(seed);
  const bytes = Buffer.alloc(size + 4);
  for (let i = 0; i < size; i += 4) bytes.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
  return bytes.subarray(0, size);
}

function sha256(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

function b64(value: string | Buffer): string {
  return Buffer.from(value).toString("base64");
}

/** RFC 5322 date, always +0000. */
function mailDate(date: Date): string {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const pad = (n: number) => String(n).padStart(2, "0");
  return (
    `${days[date.getUTCDay()]}, ${date.getUTCDate()} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

function wrap76(base64: string): string {
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 76) lines.push(base64.slice(i, i + 76));
  return lines.join("\r\n");
}

interface AttachmentSpec {
  filename: string;
  contentType: string;
  content: Buffer;
  /** Raw header lines replacing the generated Content-Type/Content-Disposition (hostile names). */
  headers?: string[] | undefined;
}

interface MailSpec {
  from: string;
  to: string[];
  cc?: string[] | undefined;
  subject: string;
  date: Date;
  messageId?: string | undefined;
  inReplyTo?: string | undefined;
  references?: string[] | undefined;
  text: string;
  attachments?: AttachmentSpec[] | undefined;
  /** Raw header values that replace the generated ones (hostile input). */
  rawSubject?: string | undefined;
  rawFrom?: string | undefined;
  /** Raw MIME part (header lines and body) that replaces the text part. */
  rawTextPart?: { headers: string[]; body: Buffer } | undefined;
}

/** Builds the message as bytes (CRLF, base64 wrapped at 76). Only ASCII unless a raw part says otherwise. */
function buildMessage(spec: MailSpec): Buffer {
  const headers = [
    `From: ${spec.rawFrom ?? spec.from}`,
    `To: ${spec.to.join(", ")}`,
    ...(spec.cc && spec.cc.length > 0 ? [`Cc: ${spec.cc.join(", ")}`] : []),
    `Subject: ${spec.rawSubject ?? spec.subject}`,
    `Date: ${mailDate(spec.date)}`,
    ...(spec.messageId ? [`Message-ID: ${spec.messageId}`] : []),
    ...(spec.inReplyTo ? [`In-Reply-To: ${spec.inReplyTo}`] : []),
    ...(spec.references && spec.references.length > 0 ? [`References: ${spec.references.join(" ")}`] : []),
    "MIME-Version: 1.0",
  ];
  const textPart = spec.rawTextPart ?? {
    headers: ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 7bit"],
    body: Buffer.from(spec.text),
  };
  const attachments = spec.attachments ?? [];
  const crlf = Buffer.from("\r\n");
  if (attachments.length === 0) {
    return Buffer.concat([
      Buffer.from([...headers, ...textPart.headers, "", ""].join("\r\n")),
      textPart.body,
      crlf,
    ]);
  }
  const boundary = `=_cm_${sha256(Buffer.from(spec.subject + spec.date.toISOString())).slice(0, 16)}`;
  const parts: Buffer[] = [
    Buffer.from([...headers, `Content-Type: multipart/mixed; boundary="${boundary}"`, "", ""].join("\r\n")),
    Buffer.from(`--${boundary}\r\n${textPart.headers.join("\r\n")}\r\n\r\n`),
    textPart.body,
    crlf,
  ];
  for (const attachment of attachments) {
    const partHeaders = attachment.headers ?? [
      `Content-Type: ${attachment.contentType}; name="${attachment.filename}"`,
      `Content-Disposition: attachment; filename="${attachment.filename}"`,
    ];
    parts.push(
      Buffer.from(
        `--${boundary}\r\n${[...partHeaders, "Content-Transfer-Encoding: base64"].join("\r\n")}\r\n\r\n` +
          `${wrap76(b64(attachment.content))}\r\n`,
      ),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(parts);
}

function named(person: Person): string {
  return `${person.name} <${person.address}>`;
}

function expectedAccounts(externals: readonly string[]): string[] {
  const accounts = new Set<string>();
  for (const person of Object.values(people) as Person[])
    if (externals.includes(person.address)) for (const account of person.accounts) accounts.add(account);
  return [...accounts].sort();
}

/** Collects messages in arrival order and derives each one's answer key. */
class CorpusWriter {
  readonly messages: CorpusMessage[] = [];
  private seq = 0;

  constructor(
    private readonly prefix: string,
    private readonly idDomainSalt: string,
  ) {}

  nextTag(): string {
    this.seq += 1;
    return `${this.prefix}-${String(this.seq).padStart(4, "0")}`;
  }

  /** A Message-ID unique to this corpus and tag. */
  idFor(tag: string, domain: string): string {
    return `<${tag}.${this.idDomainSalt}@${domain}>`;
  }

  add(
    tag: string,
    spec: MailSpec,
    options: {
      copies: Copy[];
      kind: MessageKind;
      externals: string[];
      hostility?: string | undefined;
    },
  ): CorpusMessage {
    const accounts = expectedAccounts(options.externals);
    const kind = options.kind === "client" && accounts.length === 0 ? "unsynced" : options.kind;
    const message: CorpusMessage = {
      tag,
      messageId: spec.messageId,
      raw: buildMessage(spec),
      date: spec.date,
      copies: options.copies,
      kind,
      externals: options.externals,
      accounts,
      attachments: (spec.attachments ?? []).map((a) => sha256(a.content)),
      hostility: options.hostility,
    };
    this.messages.push(message);
    return message;
  }

  corpus(name: string): Corpus {
    const totalBytes = this.messages.reduce((sum, m) => sum + m.raw.length * m.copies.length, 0);
    return { name, messages: this.messages, totalBytes };
  }
}

const topics = [
  "Receipts",
  "VAT return",
  "Payroll question",
  "Annual accounts",
  "Bank statements",
  "Invoice",
  "Pension contribution",
  "Company car",
  "Dividend",
  "Tax code",
  "Expenses",
  "Quarterly figures",
];

/** Options of {@link generateCorpus}. */
export interface CorpusOptions {
  /** Seed of everything random. */
  seed?: number;
  /** Client conversations (each a root and 0–3 replies). Default 28. */
  threads?: number;
  /** Messages with a large attachment. Default 3. */
  large?: number;
  /** Size range of the large attachments. Default 1–2 MiB. */
  largeBytes?: readonly [number, number];
  /** Tag prefix (`cm`, `cmh`, ...). */
  prefix?: string;
}

/** The `base` corpus: realistic client mail with the noise around it. */
export function generateCorpus(options: CorpusOptions = {}): Corpus {
  const writer = new CorpusWriter(options.prefix ?? "cm", `s${options.seed ?? 1}`);
  writeBase(writer, options);
  return writer.corpus("base");
}

function writeBase(writer: CorpusWriter, options: CorpusOptions): void {
  const seed = options.seed ?? 1;
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const threads = options.threads ?? 28;
  const large = options.large ?? 3;
  const [largeMin, largeMax] = options.largeBytes ?? [1024 * 1024, 2 * 1024 * 1024];
  // Small attachments come from a pool, so the same file recurs (F9: saved once per account).
  const pool = Array.from({ length: 6 }, (_, i) => ({
    filename: `statement-${i + 1}.pdf`,
    contentType: "application/pdf",
    content: Buffer.concat([
      Buffer.from(`%PDF-1.4 statement ${i + 1}\n`),
      pseudoRandomBytes(3000 + i * 700, seed * 100 + i),
    ]),
  }));
  let clock = Date.UTC(2026, 0, 5, 8);
  const nextDate = () => {
    clock += Math.floor(1 + random() * 5) * 3_600_000 + Math.floor(random() * 60) * 60_000;
    return new Date(clock);
  };

  for (let t = 0; t < threads; t++) {
    const roll = random();
    const clientKeys: PersonKey[] =
      roll < 0.45 ? ["jo"] : roll < 0.8 ? ["petra"] : roll < 0.9 ? ["jo", "petra"] : ["sam"];
    const clientsOf = clientKeys.map((k) => people[k]);
    const staff = pick<StaffLabel>(["ann", "ann", "bob", "support"]);
    const colleague: StaffLabel = staff === "ann" ? "bob" : "ann";
    const ccColleague = random() < 0.25;
    const topic = `${pick(topics)} ${2024 + Math.floor(random() * 3)}`;
    const withoutMessageId = t % 17 === 5;
    const replies = Math.floor(random() * 4);
    const ancestors: string[] = [];
    let inbound = random() < 0.6;
    for (let r = 0; r <= replies; r++) {
      const tag = writer.nextTag();
      const domain = inbound ? clientsOf[0]!.address.split("@")[1]! : firmDomain;
      const messageId = r === 0 && withoutMessageId ? undefined : writer.idFor(tag, domain);
      const attachments: AttachmentSpec[] = [];
      if (r === 0 && t < large) {
        const size = Math.floor(largeMin + random() * (largeMax - largeMin));
        attachments.push({
          filename: `scan-${tag}.pdf`,
          contentType: "application/pdf",
          content: pseudoRandomBytes(size, seed * 1000 + t),
        });
      } else if (inbound && random() < 0.3) {
        attachments.push(pick(pool));
      }
      const subject = `${r === 0 ? "" : "Re: "}${topic} [${tag}]`;
      const externals = clientsOf.map((c) => c.address);
      const copies: Copy[] = [];
      let spec: MailSpec;
      if (inbound) {
        const sender = clientsOf[0]!;
        const to = [staffAddresses[staff], ...clientsOf.slice(1).map((c) => c.address)];
        const cc = ccColleague ? [staffAddresses[colleague]] : [];
        copies.push({ mailbox: staff, folder: "INBOX" });
        if (ccColleague) copies.push({ mailbox: colleague, folder: "INBOX" });
        spec = {
          from: named(sender),
          to,
          cc,
          subject,
          date: nextDate(),
          messageId,
          text: `Message ${tag} from ${sender.name}.\r\nBest, ${sender.name}`,
        };
      } else {
        const to = clientsOf.map(named);
        const cc = ccColleague ? [staffAddresses[colleague]] : [];
        copies.push({ mailbox: staff, folder: "Sent" });
        if (ccColleague) copies.push({ mailbox: colleague, folder: "INBOX" });
        spec = {
          from: `${staff === "support" ? "Ledger Support" : staff === "ann" ? "Ann" : "Bob"} <${staffAddresses[staff]}>`,
          to,
          cc,
          subject,
          date: nextDate(),
          messageId,
          text: `Reply ${tag} from the firm.`,
        };
      }
      if (ancestors.length > 0) {
        spec.inReplyTo = ancestors[ancestors.length - 1];
        spec.references = [...ancestors];
      }
      spec.attachments = attachments;
      writer.add(tag, spec, { copies, kind: "client", externals });
      if (messageId) ancestors.push(messageId);
      inbound = !inbound;
    }

    // Noise between conversations: none of it may ever be stored (F1, F3).
    if (t % 4 === 1) {
      const tag = writer.nextTag();
      writer.add(
        tag,
        {
          from: named(people.friend),
          to: [staffAddresses.ann],
          subject: `Holiday plans [${tag}]`,
          date: nextDate(),
          messageId: writer.idFor(tag, "personal.example"),
          text: `Personal ${tag}.`,
          attachments:
            t % 8 === 1
              ? [
                  {
                    filename: `photos-${tag}.jpg`,
                    contentType: "image/jpeg",
                    content: pseudoRandomBytes(4000, t),
                  },
                ]
              : [],
        },
        {
          copies: [{ mailbox: "ann", folder: "INBOX" }],
          kind: "personal",
          externals: [people.friend.address],
        },
      );
    }
    if (t % 5 === 2) {
      const tag = writer.nextTag();
      writer.add(
        tag,
        {
          from: `Ann <${staffAddresses.ann}>`,
          to: [staffAddresses.bob],
          cc: [staffAddresses.support],
          subject: `Lunch on Friday [${tag}]`,
          date: nextDate(),
          messageId: writer.idFor(tag, firmDomain),
          text: `Internal ${tag}.`,
        },
        {
          copies: [
            { mailbox: "ann", folder: "Sent" },
            { mailbox: "bob", folder: "INBOX" },
            { mailbox: "support", folder: "INBOX" },
          ],
          kind: "internal",
          externals: [],
        },
      );
    }
    if (t % 6 === 3) {
      const tag = writer.nextTag();
      writer.add(
        tag,
        {
          from: named(people.news),
          to: [staffAddresses.support],
          subject: `Newsletter [${tag}]`,
          date: nextDate(),
          text: `News ${tag}.`,
        },
        {
          copies: [{ mailbox: "support", folder: "INBOX" }],
          kind: "newsletter",
          externals: [people.news.address],
        },
      );
    }
  }

  // H1's third rule: two mails from Jo with the same subject and no references, days apart.
  for (let i = 0; i < 2; i++) {
    const tag = writer.nextTag();
    writer.add(
      tag,
      {
        from: named(people.jo),
        to: [staffAddresses.ann],
        subject: "Missing documents",
        date: nextDate(),
        messageId: writer.idFor(tag, "home.example"),
        text: `Still missing ${tag}.`,
      },
      { copies: [{ mailbox: "ann", folder: "INBOX" }], kind: "client", externals: [people.jo.address] },
    );
  }
}

/** The accounts' names of the end-to-end firm. */
export const accountNames = ["Acme", "Jordan family", "Jordan's Bakery"] as const;

// ---------------------------------------------------------------------------------------------
// R4: hostile content
// ---------------------------------------------------------------------------------------------

/** A UTF-16BE encoded word holding a lone high surrogate followed by `text`. */
function loneSurrogateWord(text: string): string {
  const bytes = Buffer.concat([Buffer.from([0xd8, 0x3d]), Buffer.from(text, "utf16le").swap16()]);
  return `=?utf-16be?B?${b64(bytes)}?=`;
}

function utf8Word(text: string): string {
  return `=?utf-8?B?${b64(text)}?=`;
}

interface Hostility {
  name: string;
  /** Changes the spec of a clean message from Jo to Ann into the hostile one. */
  apply(spec: MailSpec, tag: string): void;
}

const hostilities: Hostility[] = [
  {
    name: "NUL in the subject",
    apply: (s, tag) => void (s.rawSubject = `${utf8Word("Receipts\u0000scan")} [${tag}]`),
  },
  {
    name: "NUL in the body (base64)",
    apply: (s, tag) =>
      void (s.rawTextPart = {
        headers: ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64"],
        body: Buffer.from(wrap76(b64(`Dear Ann,\u0000 the figures ${tag}.`))),
      }),
  },
  {
    name: "NUL in the body (quoted-printable)",
    apply: (s, tag) =>
      void (s.rawTextPart = {
        headers: ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"],
        body: Buffer.from(`Hello=00world ${tag}`),
      }),
  },
  {
    name: "NUL in the display name",
    apply: (s) => void (s.rawFrom = `${utf8Word("Jo\u0000Jordan")} <${people.jo.address}>`),
  },
  {
    name: "NUL in the attachment name",
    apply: (s) => {
      const attachment = s.attachments![0]!;
      attachment.headers = [
        `Content-Type: application/pdf; name="${utf8Word("scan\u0000.pdf")}"`,
        "Content-Disposition: attachment; filename*=utf-8''scan%00.pdf",
      ];
    },
  },
  // Header decoders that follow the WHATWG Encoding standard never yield a lone surrogate, so over
  // IMAP these two reach the engine as undecoded words; they still must not break anything.
  {
    name: "a UTF-16 encoded word with a lone surrogate in the subject",
    apply: (s, tag) => void (s.rawSubject = `${loneSurrogateWord("Receipts")} [${tag}]`),
  },
  {
    name: "a UTF-16 encoded word with a lone surrogate in the display name",
    apply: (s) => void (s.rawFrom = `${loneSurrogateWord("Jo")} <${people.jo.address}>`),
  },
  {
    name: "lone surrogate in a UTF-16 body",
    apply: (s, tag) =>
      void (s.rawTextPart = {
        headers: ["Content-Type: text/plain; charset=utf-16be", "Content-Transfer-Encoding: base64"],
        body: Buffer.from(
          wrap76(
            b64(
              Buffer.concat([Buffer.from([0xd8, 0x3d]), Buffer.from(`Figures ${tag}`, "utf16le").swap16()]),
            ),
          ),
        ),
      }),
  },
  {
    name: "lone surrogate in the attachment name",
    apply: (s) => {
      const attachment = s.attachments![0]!;
      const word = loneSurrogateWord("scan.pdf");
      attachment.headers = [
        `Content-Type: application/pdf; name="${word}"`,
        `Content-Disposition: attachment; filename="${word}"`,
      ];
    },
  },
  {
    name: "raw NUL byte in an 8-bit body",
    apply: (s, tag) =>
      void (s.rawTextPart = {
        headers: ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
        body: Buffer.concat([Buffer.from("Raw "), Buffer.from([0]), Buffer.from(` byte ${tag}`)]),
      }),
  },
  {
    // Longer than any B-tree index entry can be (PostgreSQL: about 2.7 kB): a store that keys on
    // the id as given cannot hold this message at all.
    name: "a 4,000-character Message-ID",
    apply: (s, tag) => void (s.messageId = `<${tag}.${"x".repeat(4000)}@home.example>`),
  },
  {
    name: "a 3,000-character id in References",
    apply: (s, tag) => void (s.references = [`<parent-${tag}.${"y".repeat(3000)}@home.example>`]),
  },
];

/**
 * R4: a small base corpus plus one message from Jo to Ann per hostility, each with an attachment
 * of its own. With `clean: true`, the same messages without the hostile parts: the reference the
 * hostile run is compared with.
 */
export function generateHostileCorpus(options: { clean: boolean; seed?: number }): Corpus {
  const seed = options.seed ?? 4;
  const writer = new CorpusWriter("cmh", `s${seed}`);
  writeBase(writer, { seed, threads: 10, large: 0 });
  let clock = Date.UTC(2026, 3, 1, 9);
  for (const [index, hostility] of hostilities.entries()) {
    const tag = writer.nextTag();
    clock += 3_600_000;
    const spec: MailSpec = {
      from: named(people.jo),
      to: [staffAddresses.ann],
      subject: `Receipts scan [${tag}]`,
      date: new Date(clock),
      messageId: writer.idFor(tag, "home.example"),
      text: `Dear Ann, the figures ${tag}.`,
      attachments: [
        {
          filename: "scan.pdf",
          contentType: "application/pdf",
          content: pseudoRandomBytes(2048 + index, 7000 + index),
        },
      ],
    };
    if (!options.clean) hostility.apply(spec, tag);
    writer.add(tag, spec, {
      copies: [{ mailbox: "ann", folder: "INBOX" }],
      kind: "hostile",
      externals: [people.jo.address],
      hostility: hostility.name,
    });
    // A client message after each hostile one: it must be filed whatever happened to the hostile one.
    const after = writer.nextTag();
    clock += 3_600_000;
    writer.add(
      after,
      {
        from: named(people.petra),
        to: [staffAddresses.ann],
        subject: `Follow-up [${after}]`,
        date: new Date(clock),
        messageId: writer.idFor(after, "acme.example"),
        text: `Follow-up ${after}.`,
      },
      { copies: [{ mailbox: "ann", folder: "INBOX" }], kind: "client", externals: [people.petra.address] },
    );
  }
  return writer.corpus(options.clean ? "hostile-clean" : "hostile");
}

// ---------------------------------------------------------------------------------------------
// R5: Message-ID reuse and squatting
// ---------------------------------------------------------------------------------------------

/** The collisions {@link generateCollisionCorpus} plants, for assertions. */
export interface PlantedCollision {
  description: string;
  messageId: string;
  /** Tags of the messages sharing it, in arrival order. */
  tags: [string, string];
}

/**
 * R5: a small base corpus plus pairs of different client messages that share a Message-ID:
 * client B reusing client A's id (later, same mailbox, another page), the same in one page, and a
 * forgery that arrives before the real message (in a mailbox synced earlier). With
 * `uniqueIds: true`, each message keeps its own id: the reference run.
 */
export function generateCollisionCorpus(options: { uniqueIds: boolean; seed?: number }): {
  corpus: Corpus;
  collisions: PlantedCollision[];
} {
  const seed = options.seed ?? 5;
  const writer = new CorpusWriter("cmc", `s${seed}`);
  let clock = Date.UTC(2025, 10, 1, 9);
  const at = (hours: number) => new Date(clock + hours * 3_600_000);
  const collisions: PlantedCollision[] = [];
  const pair = (
    description: string,
    first: { who: "jo" | "petra"; copy: Copy; hours: number; subject: string },
    second: { who: "jo" | "petra"; copy: Copy; hours: number; subject: string },
    between: () => void,
  ) => {
    const firstTag = writer.nextTag();
    const shared = writer.idFor(firstTag, `${first.who === "jo" ? "home" : "acme"}.example`);
    const add = (tag: string, side: typeof first, messageId: string) =>
      writer.add(
        tag,
        {
          from: named(people[side.who]),
          to: [staffAddresses[side.copy.mailbox]],
          subject: `${side.subject} [${tag}]`,
          date: at(side.hours),
          messageId,
          text: `${side.subject} ${tag} from ${people[side.who].name}.`,
          attachments: [
            {
              filename: `${side.subject.toLowerCase().replace(/\W+/g, "-")}.pdf`,
              contentType: "application/pdf",
              content: Buffer.from(`%PDF ${tag}`),
            },
          ],
        },
        { copies: [side.copy], kind: "client", externals: [people[side.who].address] },
      );
    add(firstTag, first, shared);
    between();
    const secondTag = writer.nextTag();
    add(secondTag, second, options.uniqueIds ? writer.idFor(secondTag, "reused.example") : shared);
    collisions.push({ description, messageId: shared, tags: [firstTag, secondTag] });
  };
  const filler = (count: number, mailbox: StaffLabel) => () => {
    for (let i = 0; i < count; i++) {
      const tag = writer.nextTag();
      clock += 3_600_000;
      writer.add(
        tag,
        {
          from: named(people.jo),
          to: [staffAddresses[mailbox]],
          subject: `Bank statements [${tag}]`,
          date: at(0),
          messageId: writer.idFor(tag, "home.example"),
          text: `Statement ${tag}.`,
        },
        { copies: [{ mailbox, folder: "INBOX" }], kind: "client", externals: [people.jo.address] },
      );
    }
  };
  const inbox = (mailbox: StaffLabel): Copy => ({ mailbox, folder: "INBOX" });
  pair(
    "client B reuses client A's Message-ID, pages later in the same mailbox",
    { who: "jo", copy: inbox("ann"), hours: 0, subject: "Invoice" },
    { who: "petra", copy: inbox("ann"), hours: 400, subject: "Payroll run" },
    filler(24, "ann"),
  );
  pair(
    "client B reuses client A's Message-ID in the same page",
    { who: "petra", copy: inbox("ann"), hours: 1, subject: "Board minutes" },
    { who: "jo", copy: inbox("ann"), hours: 2, subject: "Family trust" },
    filler(2, "ann"),
  );
  pair(
    "a forgery squats a Message-ID before the real message arrives",
    { who: "petra", copy: inbox("ann"), hours: 3, subject: "Signed contract" },
    { who: "jo", copy: inbox("bob"), hours: 30, subject: "Signed contract" },
    filler(3, "bob"),
  );
  clock += 500 * 3_600_000;
  writeBase(writer, { seed, threads: 5, large: 0 });
  return { corpus: writer.corpus(options.uniqueIds ? "collision-unique" : "collision"), collisions };
}
