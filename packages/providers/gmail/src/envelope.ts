import { createHash } from "node:crypto";
import { decodeEncodedWords, parseAddressList } from "@clientmail/core";
import type { AttachmentContent, FetchedMessage, ProviderEnvelope } from "@clientmail/core";

/** A header as Gmail reports it. */
export interface GmailHeader {
  name: string;
  value: string;
}

/** The fields of a Gmail `Message` resource the provider reads. */
export interface GmailMessageResource {
  id: string;
  threadId?: string;
  labelIds?: string[];
  sizeEstimate?: number;
  internalDate?: string;
  historyId?: string;
  raw?: string;
  payload?: { headers?: GmailHeader[] };
}

/** The headers requested with `format=metadata`: exactly what filing and threading need. */
export const envelopeHeaders = [
  "From",
  "Sender",
  "Reply-To",
  "To",
  "Cc",
  "Bcc",
  "Subject",
  "Date",
  "Message-ID",
  "In-Reply-To",
  "References",
] as const;

function header(headers: readonly GmailHeader[], name: string): string | undefined {
  const lower = name.toLowerCase();
  const values = headers.filter((entry) => entry.name.toLowerCase() === lower).map((entry) => entry.value);
  return values.length === 0 ? undefined : values.join(", ");
}

function messageIds(value: string | undefined): string[] {
  return value ? [...value.matchAll(/<[^<>\s]+>/g)].map((match) => match[0]) : [];
}

/** Maps Gmail labels to the flags the engine understands (IMAP-style system flags plus labels). */
export function flagsOf(labelIds: readonly string[]): string[] {
  const flags: string[] = [];
  if (!labelIds.includes("UNREAD")) flags.push("\\Seen");
  if (labelIds.includes("STARRED")) flags.push("\\Flagged");
  if (labelIds.includes("DRAFT")) flags.push("\\Draft");
  return [...flags, ...labelIds];
}

/** The folder a Gmail message is reported in: Gmail has labels, so pick the one that matters for filing. */
export function folderOf(labelIds: readonly string[]): string {
  if (labelIds.includes("SENT")) return "SENT";
  if (labelIds.includes("INBOX")) return "INBOX";
  return "ALL_MAIL";
}

/** True for messages outside the synced folders (spam, trash, unsent drafts). */
export function isOutsideSyncedFolders(labelIds: readonly string[]): boolean {
  return labelIds.includes("SPAM") || labelIds.includes("TRASH") || labelIds.includes("DRAFT");
}

/** Builds an envelope from a message resource and its headers (from `format=metadata` or the raw source). */
export function envelopeFrom(
  message: GmailMessageResource,
  headers: readonly GmailHeader[],
): ProviderEnvelope {
  const addresses = (name: string) => parseAddressList(header(headers, name) ?? "");
  const dateHeader = header(headers, "Date");
  const parsedDate = dateHeader ? Date.parse(dateHeader.replace(/\s*\([^)]*\)\s*$/, "")) : Number.NaN;
  const internalDate = message.internalDate !== undefined ? Number(message.internalDate) : Number.NaN;
  const date = !Number.isNaN(parsedDate) ? parsedDate : !Number.isNaN(internalDate) ? internalDate : 0;
  const labelIds = message.labelIds ?? [];
  const messageId = messageIds(header(headers, "Message-ID"))[0] ?? header(headers, "Message-ID")?.trim();
  return {
    providerId: message.id,
    folder: folderOf(labelIds),
    providerThreadId: message.threadId,
    messageId: messageId === "" ? undefined : messageId,
    inReplyTo: messageIds(header(headers, "In-Reply-To")),
    references: messageIds(header(headers, "References")),
    from: addresses("From"),
    sender: addresses("Sender"),
    replyTo: addresses("Reply-To"),
    to: addresses("To"),
    cc: addresses("Cc"),
    bcc: addresses("Bcc"),
    subject: decodeEncodedWords(header(headers, "Subject") ?? ""),
    date: new Date(date),
    size: message.sizeEstimate ?? 0,
    flags: flagsOf(labelIds),
  };
}

/** Decodes a base64url `raw` field. */
export function decodeRaw(raw: string): Buffer {
  return Buffer.from(raw, "base64url");
}

/** The header block of an RFC 2822 source, unfolded. */
export function headersOfSource(source: Buffer): GmailHeader[] {
  const text = source.toString("latin1");
  const end = /\r?\n\r?\n/.exec(text);
  const block = end ? text.slice(0, end.index) : text;
  const headers: GmailHeader[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && headers.length > 0) {
      headers[headers.length - 1]!.value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon > 0) headers.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  // Header bytes are UTF-8 when 8-bit (RFC 6532); latin1 kept byte offsets, now decode values.
  return headers.map((entry) => ({
    name: entry.name,
    value: Buffer.from(entry.value, "latin1").toString("utf8"),
  }));
}

const chunkSize = 64 * 1024;

function attachmentOf(attachment: {
  filename?: string | undefined;
  contentType: string;
  content: Buffer;
  size: number;
}): AttachmentContent {
  const content = attachment.content;
  return {
    filename: attachment.filename ?? "attachment",
    contentType: attachment.contentType,
    size: content.length,
    contentHash: createHash("sha256").update(content).digest("hex"),
    content: async function* () {
      for (let offset = 0; offset < content.length; offset += chunkSize) {
        yield new Uint8Array(
          content.buffer,
          content.byteOffset + offset,
          Math.min(chunkSize, content.length - offset),
        );
      }
    },
  };
}

let parser: Promise<typeof import("mailparser")> | undefined;

/** Parses a raw message (mailparser) into a fetched message. */
export async function fetchedMessageFrom(
  message: GmailMessageResource,
  source: Buffer,
): Promise<FetchedMessage> {
  // Loaded on first use: most syncs fetch nothing, and mailparser is most of the start-up cost.
  parser ??= import("mailparser");
  const { simpleParser } = await parser;
  const parsed = await simpleParser(source, {
    skipImageLinks: true,
    skipTextToHtml: true,
    skipTextLinks: true,
  });
  return {
    envelope: envelopeFrom(message, headersOfSource(source)),
    text: parsed.text,
    html: parsed.html === false ? undefined : parsed.html,
    attachments: parsed.attachments.map(attachmentOf),
  };
}
