/**
 * The in-memory mailbox model behind the Graph fake: mailboxes, folders, messages (with their
 * immutable and move-dependent ids), a per-mailbox change log that delta queries read, and a
 * MIME rendering of every message for `$value`.
 */
import { createHash } from "node:crypto";

/** An address as Graph returns it inside `emailAddress`. */
export interface GraphAddress {
  name?: string | undefined;
  address: string;
}

/** An attachment of a fake message. */
export interface GraphFakeAttachment {
  filename: string;
  contentType: string;
  content: string | Uint8Array;
}

/** What a test gives to put a message into a fake mailbox. Every field but `from` has a default. */
export interface GraphFakeMessageInput {
  /** Well-known folder name (`inbox`, `sentitems`, `archive`, ...) or folder id. Defaults to `inbox`. */
  folder?: string;
  from: GraphAddress | string;
  sender?: GraphAddress | string;
  replyTo?: (GraphAddress | string)[];
  to?: (GraphAddress | string)[];
  cc?: (GraphAddress | string)[];
  /** Shown only on messages this mailbox sent, as in Exchange. */
  bcc?: (GraphAddress | string)[];
  subject?: string;
  /** The Message-ID header, with angle brackets. Generated when omitted; `null` for none. */
  messageId?: string | null;
  inReplyTo?: string;
  references?: string[];
  /** The Date header. Defaults to the fake clock. */
  date?: Date;
  /** When the mailbox received it. Defaults to `date`. */
  receivedAt?: Date;
  text?: string;
  html?: string;
  attachments?: GraphFakeAttachment[];
  /** Graph's conversationId. Defaults to one derived from the normalised subject, which, as in Exchange, collides across unrelated messages that share a subject. */
  conversationId?: string;
  isRead?: boolean;
  /**
   * Whether `internetMessageHeaders` is available. Exchange has none for items composed in the
   * mailbox itself (Sent Items), so the default is false there and true elsewhere.
   */
  hasInternetHeaders?: boolean;
}

/** A message stored in a fake mailbox. */
export interface StoredMessage {
  immutableId: string;
  /** Bumped on every move: the REST id changes, the immutable id does not. */
  moveGeneration: number;
  serial: number;
  folderId: string;
  from: GraphAddress;
  sender: GraphAddress;
  replyTo: GraphAddress[];
  to: GraphAddress[];
  cc: GraphAddress[];
  bcc: GraphAddress[];
  subject: string;
  internetMessageId: string | undefined;
  inReplyTo: string | undefined;
  references: string[];
  sentDateTime: Date;
  receivedDateTime: Date;
  lastModifiedDateTime: Date;
  text: string | undefined;
  html: string | undefined;
  attachments: GraphFakeAttachment[];
  conversationId: string;
  isRead: boolean;
  hasInternetHeaders: boolean;
  /** The RFC 5322 source; bytes when given as bytes (8-bit parts in any charset). */
  mime: string | Uint8Array;
  headers: { name: string; value: string }[];
  changeKey: number;
  /** Mailbox sequence number when the message arrived in its current folder. */
  arrivedSeq?: number;
}

/** One entry of a folder's change log. */
export interface ChangeEvent {
  seq: number;
  messageId: string;
}

/** A mail folder of a fake mailbox. */
export interface StoredFolder {
  id: string;
  wellKnownName: string | undefined;
  displayName: string;
  log: ChangeEvent[];
}

/** A fake mailbox: a user's own or a shared one. */
export interface StoredMailbox {
  address: string;
  userId: string;
  displayName: string;
  /** Users (addresses) with Full Access to this mailbox besides its owner. */
  delegates: Set<string>;
  folders: Map<string, StoredFolder>;
  messages: Map<string, StoredMessage>;
  seq: number;
  /** Delta tokens issued under an older generation are gone (SyncStateNotFound). */
  syncGeneration: number;
}

export const wellKnownFolders: Record<string, string> = {
  inbox: "Inbox",
  sentitems: "Sent Items",
  drafts: "Drafts",
  deleteditems: "Deleted Items",
  archive: "Archive",
  junkemail: "Junk Email",
  outbox: "Outbox",
};

function shortHash(value: string, length = 12): string {
  return createHash("sha256").update(value).digest("base64url").slice(0, length);
}

/** Creates an empty mailbox with the well-known folders. */
export function createMailbox(
  address: string,
  displayName: string,
  delegates: readonly string[],
): StoredMailbox {
  const lower = address.toLowerCase();
  const mailbox: StoredMailbox = {
    address: lower,
    userId: `${shortHash(`user:${lower}`, 8)}-0000-4000-8000-${shortHash(`u2:${lower}`, 12)}`,
    displayName,
    delegates: new Set(delegates.map((d) => d.toLowerCase())),
    folders: new Map(),
    messages: new Map(),
    seq: 0,
    syncGeneration: 1,
  };
  for (const [name, display] of Object.entries(wellKnownFolders)) addFolder(mailbox, display, name);
  return mailbox;
}

/** Adds a folder; returns it. */
export function addFolder(mailbox: StoredMailbox, displayName: string, wellKnownName?: string): StoredFolder {
  const id = `AAMkAGFolder${shortHash(`${mailbox.address}/${displayName}`, 16)}AAA=`;
  const folder: StoredFolder = { id, wellKnownName, displayName, log: [] };
  mailbox.folders.set(id, folder);
  return folder;
}

/** Resolves a well-known name, display name or id to a folder. */
export function findFolder(mailbox: StoredMailbox, idOrName: string): StoredFolder | undefined {
  const direct = mailbox.folders.get(idOrName);
  if (direct) return direct;
  const lower = idOrName.toLowerCase();
  for (const folder of mailbox.folders.values()) {
    if (folder.wellKnownName === lower || folder.displayName.toLowerCase() === lower) return folder;
  }
  return undefined;
}

/** The REST id: it changes when the message moves, unlike the immutable id. */
export function restId(message: StoredMessage): string {
  return `AAMkAD${shortHash(message.immutableId, 10)}-m${message.moveGeneration}AAA=`;
}

/** Finds a live message by its immutable or current REST id. A REST id from before a move is not found. */
export function findMessage(mailbox: StoredMailbox, id: string): StoredMessage | undefined {
  const byImmutable = mailbox.messages.get(id);
  if (byImmutable) return byImmutable;
  for (const message of mailbox.messages.values()) if (restId(message) === id) return message;
  return undefined;
}

export function toAddress(value: GraphAddress | string): GraphAddress {
  if (typeof value !== "string") return { name: value.name, address: value.address };
  const match = /^\s*(.*?)\s*<([^>]+)>\s*$/.exec(value);
  if (match) return { name: match[1]?.replace(/^"|"$/g, "") || undefined, address: match[2] ?? "" };
  return { address: value.trim() };
}

/** Records a change to `messageId` in `folder`'s log. */
export function logChange(mailbox: StoredMailbox, folder: StoredFolder, messageId: string): number {
  mailbox.seq += 1;
  folder.log.push({ seq: mailbox.seq, messageId });
  return mailbox.seq;
}

function encodeHeaderWord(value: string): string {
  return /^[\x20-\x7e]*$/.test(value)
    ? value
    : `=?UTF-8?B?${Buffer.from(value, "utf8").toString("base64")}?=`;
}

function formatAddress(address: GraphAddress): string {
  if (!address.name) return address.address;
  const name = encodeHeaderWord(address.name);
  return name === address.name
    ? `"${address.name.replace(/"/g, '\\"')}" <${address.address}>`
    : `${name} <${address.address}>`;
}

function base64Lines(content: string | Uint8Array): string {
  const encoded = Buffer.from(typeof content === "string" ? Buffer.from(content, "utf8") : content).toString(
    "base64",
  );
  return encoded.replace(/.{1,76}/g, (line) => `${line}\r\n`);
}

/** Renders the RFC 5322 source of a message, as `$value` returns it; also returns its header list. */
export function renderMime(message: Omit<StoredMessage, "mime" | "headers">): {
  mime: string;
  headers: { name: string; value: string }[];
} {
  const headers: { name: string; value: string }[] = [];
  const add = (name: string, value: string | undefined): void => {
    if (value !== undefined && value !== "") headers.push({ name, value });
  };
  add(
    "Received",
    `from mail-eopbgr.outbound.protection.outlook.com by fake.prod.outlook.com; ${message.receivedDateTime.toUTCString()}`,
  );
  add("From", formatAddress(message.from));
  if (message.sender.address.toLowerCase() !== message.from.address.toLowerCase())
    add("Sender", formatAddress(message.sender));
  add("Reply-To", message.replyTo.map(formatAddress).join(", "));
  add("To", message.to.map(formatAddress).join(", "));
  add("Cc", message.cc.map(formatAddress).join(", "));
  add("Bcc", message.bcc.map(formatAddress).join(", "));
  add("Subject", encodeHeaderWord(message.subject));
  add("Date", message.sentDateTime.toUTCString().replace("GMT", "+0000"));
  add("Message-ID", message.internetMessageId);
  add("In-Reply-To", message.inReplyTo);
  add("References", message.references.join(" "));
  add("MIME-Version", "1.0");

  const boundary = `_boundary_${shortHash(message.immutableId, 10)}_`;
  const altBoundary = `_alt_${shortHash(message.immutableId, 10)}_`;
  const textPart = (contentType: string, content: string): string =>
    `Content-Type: ${contentType}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(content)}`;
  let bodyHeaders: string;
  let body: string;
  const alternative = (): { type: string; content: string } => {
    if (message.html !== undefined && message.text !== undefined) {
      return {
        type: `multipart/alternative; boundary="${altBoundary}"`,
        content:
          `--${altBoundary}\r\n${textPart("text/plain", message.text)}--${altBoundary}\r\n` +
          `${textPart("text/html", message.html)}--${altBoundary}--\r\n`,
      };
    }
    if (message.html !== undefined)
      return { type: 'text/html; charset="utf-8"', content: base64Lines(message.html) };
    return { type: 'text/plain; charset="utf-8"', content: base64Lines(message.text ?? "") };
  };
  if (message.attachments.length > 0) {
    const inner = alternative();
    const innerHeaders = inner.type.startsWith("multipart/")
      ? `Content-Type: ${inner.type}\r\n\r\n`
      : `Content-Type: ${inner.type}\r\nContent-Transfer-Encoding: base64\r\n\r\n`;
    bodyHeaders = `Content-Type: multipart/mixed; boundary="${boundary}"`;
    body = `--${boundary}\r\n${innerHeaders}${inner.content}`;
    for (const attachment of message.attachments) {
      body +=
        `--${boundary}\r\nContent-Type: ${attachment.contentType}; name="${attachment.filename}"\r\n` +
        `Content-Disposition: attachment; filename="${attachment.filename}"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
        base64Lines(attachment.content);
    }
    body += `--${boundary}--\r\n`;
  } else {
    const inner = alternative();
    bodyHeaders = inner.type.startsWith("multipart/")
      ? `Content-Type: ${inner.type}`
      : `Content-Type: ${inner.type}\r\nContent-Transfer-Encoding: base64`;
    body = inner.content;
  }
  const mime = `${headers.map((h) => `${h.name}: ${h.value}`).join("\r\n")}\r\n${bodyHeaders}\r\n\r\n${body}`;
  headers.push({
    name: "Content-Type",
    value: bodyHeaders.split("\r\n")[0]?.slice("Content-Type: ".length) ?? "",
  });
  return { mime, headers };
}

/** Graph derives conversationId from the conversation topic, so equal subjects collide. */
export function conversationIdFor(subject: string): string {
  const topic = subject
    .replace(/^((re|fw|fwd|aw|wg|sv|vs|tr|rv)\s*:\s*)+/i, "")
    .trim()
    .toLowerCase();
  return `AAQkAGConv${shortHash(`topic:${topic}`, 16)}=`;
}

/** Header fields of raw RFC 5322 text, unfolded, in order. */
export function parseHeaderBlock(raw: string): { name: string; value: string }[] {
  const end = raw.search(/\r?\n\r?\n/);
  const block = end < 0 ? raw : raw.slice(0, end);
  const unfolded = block.replace(/\r?\n[ \t]+/g, " ");
  return unfolded
    .split(/\r?\n/)
    .map((line) => /^([^:\s]+):\s*(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1] ?? "", value: (m[2] ?? "").trim() }));
}

/** Splits an address-list header into addresses as Graph reports them (address as written, name decoded). */
export function parseAddressHeader(
  value: string | undefined,
  decode: (text: string) => string,
): GraphAddress[] {
  if (value === undefined || value.trim() === "") return [];
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  let angle = false;
  for (const char of value) {
    if (char === '"') quoted = !quoted;
    if (!quoted && char === "<") angle = true;
    if (!quoted && char === ">") angle = false;
    if (char === "," && !quoted && !angle) {
      parts.push(current);
      current = "";
    } else current += char;
  }
  parts.push(current);
  return parts
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => {
      const address = toAddress(part);
      return { address: address.address, ...(address.name ? { name: decode(address.name) } : {}) };
    });
}
