/**
 * The sync benchmark's mailbox: a Dovecot user with N realistic messages (default 20,000, about
 * 1 GB): thread chains with In-Reply-To/References, a quarter with attachments, HTML
 * alternatives, 90% inbox / 10% sent, and 10% exchanged with a client address. Written as
 * Maildir files directly (IMAP APPEND is ~30x slower), then given to the mail user and indexed.
 *
 * Size: `createSyncFixture({ messages })`, or `BENCH_MESSAGES=2000` in the environment.
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDovecot, type DovecotServer, type DovecotUser } from "../packages/testkit/src/dovecot.js";
import { primeMailbox } from "../packages/providers/imap/bench/baselines.js";

/** Options of {@link createSyncFixture}. */
export interface SyncFixtureOptions {
  /** Number of messages. Default: `BENCH_MESSAGES` from the environment, else 20,000. */
  messages?: number;
  /** Share of messages with a client participant. Default 0.1. */
  clientShare?: number;
  /** Seed of the pseudo-random generator (same seed, same mailbox). Default 1. */
  seed?: number;
  /** Use this running server instead of starting one (the fixture then does not stop it). */
  server?: DovecotServer;
}

/** The generated mailbox. */
export interface SyncFixture {
  server: DovecotServer;
  user: DovecotUser;
  /** The mailbox owner's address. */
  ownerAddress: string;
  /** The team's domain (internal mail). */
  firmDomain: string;
  /** The client addresses (sync on) that 10% of the messages are exchanged with. */
  clientAddresses: string[];
  /** Message-IDs (with angle brackets) of the messages with a client participant. */
  clientMessageIds: Set<string>;
  /** Messages written, and their total size in bytes. */
  messageCount: number;
  totalBytes: number;
  /** Folders written: INBOX and Sent. */
  folders: string[];
  /** Seconds spent writing and indexing. */
  generationSeconds: number;
  /** Stops the server when the fixture started it. */
  stop(): Promise<void>;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const words = (
  "invoice payment quarter tax return balance sheet meeting agenda please find attached regards thanks " +
  "deadline review draft contract audit figures ledger account statement annual report payroll vat " +
  "question follow up schedule call tomorrow next week receipt expenses deduction filing approval signed"
).split(" ");

const firstNames = [
  "Anna",
  "Jürgen",
  "Marie",
  "Paul",
  "Sofia",
  "Lukas",
  "Emma",
  "Noah",
  "Léa",
  "Ömer",
  "Chen",
  "Ivan",
];

function sentence(rand: () => number, length: number): string {
  const parts: string[] = [];
  for (let i = 0; i < length; i++) parts.push(words[Math.floor(rand() * words.length)]!);
  const text = parts.join(" ");
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function paragraphs(rand: () => number, targetChars: number): string {
  const lines: string[] = [];
  let size = 0;
  while (size < targetChars) {
    const paragraph = Array.from({ length: 3 + Math.floor(rand() * 5) }, () =>
      sentence(rand, 6 + Math.floor(rand() * 12)),
    ).join(" ");
    lines.push(paragraph.replace(/(.{1,72})(\s|$)/g, "$1\r\n").trimEnd());
    size += paragraph.length;
  }
  return lines.join("\r\n\r\n");
}

function base64Lines(content: Buffer): string {
  const encoded = content.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += 76) lines.push(encoded.slice(i, i + 76));
  return lines.join("\r\n");
}

function rfc2822Date(date: Date): string {
  return date.toUTCString().replace("GMT", "+0000");
}

function encodeWord(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : `=?UTF-8?B?${Buffer.from(text, "utf8").toString("base64")}?=`;
}

/**
 * Generates the benchmark mailbox for a fresh user (on `options.server` or a new Dovecot) and
 * indexes it, so that every measurement starts from the same warm server state.
 */
export async function createSyncFixture(options: SyncFixtureOptions = {}): Promise<SyncFixture> {
  const started = Date.now();
  const count = options.messages ?? (Number(process.env.BENCH_MESSAGES) || 20_000);
  const clientShare = options.clientShare ?? 0.1;
  const rand = mulberry32(options.seed ?? 1);
  const server = options.server ?? (await startDovecot());
  const ownsServer = options.server === undefined;
  const user = await server.addUser();
  const firmDomain = "firm.example";
  const ownerAddress = `owner@${firmDomain}`;
  const clientAddresses = Array.from({ length: 40 }, (_, i) => `contact${i}@client${i % 25}.example`);
  const clientMessageIds = new Set<string>();

  const maildir = server.maildir(user.user);
  const folderDirs = { INBOX: maildir, Sent: join(maildir, ".Sent") };
  for (const dir of Object.values(folderDirs)) {
    for (const sub of ["cur", "new", "tmp"]) await mkdir(join(dir, sub), { recursive: true });
  }

  const pool = randomBytes(8 * 1024 * 1024);
  const attachmentBytes = (size: number) => {
    const offset = Math.floor(rand() * (pool.length - size));
    return pool.subarray(offset, offset + size);
  };
  const personName = () => firstNames[Math.floor(rand() * firstNames.length)]!;
  const personal = () => {
    const kind = rand();
    if (kind < 0.35)
      return `${personName()} <friend${Math.floor(rand() * 500)}@mail${Math.floor(rand() * 30)}.example>`;
    if (kind < 0.65) return `News <news@shop${Math.floor(rand() * 200)}.example>`;
    return `${personName()} <colleague${Math.floor(rand() * 15)}@${firmDomain}>`;
  };

  const baseTime = Date.UTC(2023, 0, 1);
  let totalBytes = 0;
  let written = 0;
  let thread = 0;
  const pendingWrites: Promise<void>[] = [];
  const flush = async () => {
    await Promise.all(pendingWrites.splice(0));
  };

  while (written < count) {
    thread++;
    const isClient = rand() < clientShare;
    const length = Math.min(count - written, 1 + Math.floor(rand() * rand() * 6));
    const counterpart = isClient ? clientAddresses[Math.floor(rand() * clientAddresses.length)]! : personal();
    const subject = isClient
      ? `${sentence(rand, 3).replace(/\.$/, "")} ${personName()}`
      : sentence(rand, 4).replace(/\.$/, "");
    const chain: string[] = [];
    for (let i = 0; i < length; i++) {
      const n = written++;
      const sent = rand() < 0.1;
      const messageId = `<t${thread}.${i}.${n}@${sent ? firmDomain : "mail.example"}>`;
      const date = new Date(baseTime + n * 60_000 + Math.floor(rand() * 30_000));
      const cc =
        rand() < 0.2 ? `Cc: ${personName()} <colleague${Math.floor(rand() * 15)}@${firmDomain}>\r\n` : "";
      const headers =
        `Return-Path: <${sent ? ownerAddress : "bounce@mail.example"}>\r\n` +
        `Received: from mx.example (mx.example [192.0.2.1]) by mail.${firmDomain} with ESMTPS id ${n}; ${rfc2822Date(date)}\r\n` +
        `From: ${sent ? `Owner <${ownerAddress}>` : counterpart}\r\n` +
        `To: ${sent ? counterpart : `Owner <${ownerAddress}>`}\r\n` +
        cc +
        `Subject: ${encodeWord(i === 0 ? subject : `Re: ${subject}`)}\r\n` +
        `Date: ${rfc2822Date(date)}\r\n` +
        `Message-ID: ${messageId}\r\n` +
        (chain.length > 0
          ? `In-Reply-To: ${chain[chain.length - 1]}\r\nReferences: ${chain.join("\r\n ")}\r\n`
          : "") +
        "MIME-Version: 1.0\r\n";
      const text = paragraphs(rand, 400 + Math.floor(rand() * rand() * 6000));
      const withHtml = rand() < 0.3;
      const attachment = rand() < 0.25 ? Math.floor(10_000 + rand() * rand() * 560_000) : 0;
      const boundary = `=_b${n}`;
      let body: string;
      const textPart = `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}\r\n`;
      const htmlPart = `Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<html><body>${text
        .split("\r\n\r\n")
        .map((p) => `<p>${p}</p>`)
        .join("\r\n")}</body></html>\r\n`;
      const alternative = withHtml
        ? `Content-Type: multipart/alternative; boundary="${boundary}a"\r\n\r\n--${boundary}a\r\n${textPart}--${boundary}a\r\n${htmlPart}--${boundary}a--\r\n`
        : textPart;
      if (attachment > 0) {
        const name = `${words[Math.floor(rand() * words.length)]}-${n}.pdf`;
        body =
          `Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n--${boundary}\r\n${alternative}` +
          `--${boundary}\r\nContent-Type: application/pdf; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\n` +
          `Content-Transfer-Encoding: base64\r\n\r\n${base64Lines(attachmentBytes(attachment))}\r\n--${boundary}--\r\n`;
      } else {
        body = alternative;
      }
      const raw = Buffer.from(headers + body, "utf8");
      totalBytes += raw.length;
      if (isClient) clientMessageIds.add(messageId);
      chain.push(messageId);
      const dir = sent ? folderDirs.Sent : folderDirs.INBOX;
      const file = join(dir, "cur", `${Math.floor(date.getTime() / 1000)}.M${n}P1.bench,S=${raw.length}:2,S`);
      pendingWrites.push(writeFile(file, raw));
      if (pendingWrites.length >= 32) await flush();
    }
  }
  await flush();
  await server.fixOwnership();
  await primeMailbox(server, user, ["INBOX", "Sent"]);

  return {
    server,
    user,
    ownerAddress,
    firmDomain,
    clientAddresses,
    clientMessageIds,
    messageCount: count,
    totalBytes,
    folders: ["INBOX", "Sent"],
    generationSeconds: (Date.now() - started) / 1000,
    async stop() {
      if (ownsServer) await server.stop();
    },
  };
}
