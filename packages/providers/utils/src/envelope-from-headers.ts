/**
 * Builds a {@link ProviderEnvelope} from RFC 5322 header fields, one way for every provider that
 * sees raw headers: IMAP (`BODY.PEEK[HEADER.FIELDS (...)]` or the header block of the source),
 * Gmail (`format=metadata` headers or the header block of `raw`), Graph (the MIME source's
 * threading headers). The same message therefore gives the same envelope through each.
 */
import {
  decodeEncodedWords,
  parseAddressList,
  type EmailAddress,
  type ProviderEnvelope,
} from "@clientmail/core";

/** The header fields an envelope needs (lower-case, as imapflow's `headers` fetch option takes them). */
export const ENVELOPE_HEADER_FIELDS = [
  "from",
  "sender",
  "reply-to",
  "to",
  "cc",
  "bcc",
  "subject",
  "date",
  "message-id",
  "in-reply-to",
  "references",
] as const;

/** Header fields by lower-cased name, each with its values in order (a field may repeat). */
export type HeaderFields = Map<string, string[]>;

/**
 * The header block of a raw message: everything up to and including the first empty line (the
 * whole source when there is none).
 */
export function headerBlockOf(source: Buffer): Buffer {
  const crlf = source.indexOf("\r\n\r\n");
  // A bare-LF blank line counts only before the first CRLF one: searched no further than that,
  // as a CRLF message has none and the search would otherwise read the whole body.
  const lf = (crlf < 0 ? source : source.subarray(0, crlf + 2)).indexOf("\n\n");
  if (lf >= 0) return source.subarray(0, lf + 2);
  return crlf < 0 ? source : source.subarray(0, crlf + 4);
}

/** Header fields from name/value pairs as an API lists them (Gmail's `payload.headers`). */
export function headerFieldsOf(list: readonly { name: string; value: string }[]): HeaderFields {
  const fields: HeaderFields = new Map();
  for (const { name, value } of list) {
    const key = name.trim().toLowerCase();
    const values = fields.get(key);
    if (values) values.push(value.trim());
    else fields.set(key, [value.trim()]);
  }
  return fields;
}

/** The envelope's fields, for {@link parseHeaderBlock}'s `only`. */
const envelopeFields: ReadonlySet<string> = new Set(ENVELOPE_HEADER_FIELDS);

/**
 * Parses a raw header block into lower-cased field name -> values, unfolding continuation lines.
 * 8-bit header bytes are read as UTF-8 (RFC 6532). With `only`, the other fields are skipped
 * without their values being cut out (a source's header block is mostly trace and signature
 * fields an envelope does not read).
 */
export function parseHeaderBlock(block: Buffer | string, only?: ReadonlySet<string>): HeaderFields {
  let text = typeof block === "string" ? block : block.toString("utf8");
  // The unfolding pattern runs only over a block that has a folded line.
  if (text.includes("\n ") || text.includes("\n\t")) text = text.replace(/\r?\n[ \t]+/g, " ");
  const fields: HeaderFields = new Map();
  // Line by line on LF alone, with no pattern and no array of lines (several times faster over
  // every listed header): a CR left at the end of a line goes with the value's trim, and a line
  // without a colon (the empty line included) is skipped. A colon found past its line is kept for
  // the lines after it, so no byte is searched twice.
  let colon = -1;
  for (let start = 0; start < text.length;) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    if (colon < start) colon = text.indexOf(":", start);
    if (colon < 0) break;
    if (colon > start && colon < end) {
      const name = text.slice(start, colon).trim().toLowerCase();
      if (only === undefined || only.has(name)) {
        const value = text.slice(colon + 1, end).trim();
        const values = fields.get(name);
        if (values) values.push(value);
        else fields.set(name, [value]);
      }
    }
    start = end + 1;
  }
  return fields;
}

const messageIdToken = /<[^<>\s]+>/g;

/** Every `<id>` token of a Message-ID, In-Reply-To or References value, in order, without duplicates. */
export function messageIdTokens(value: string | undefined): string[] {
  const tokens = value ? value.match(messageIdToken) : null;
  if (tokens === null) return [];
  return tokens.length === 1 ? tokens : [...new Set(tokens)];
}

function firstMessageId(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const [token] = messageIdTokens(value);
  if (token) return token;
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

/**
 * One simple mailbox: `Name <addr-spec>` (groups 1 and 2, the addr-spec's local part 3) or a bare
 * addr-spec (group 4, its local part 5). The addr-spec is captured whole, so that the address is one
 * lower-cased copy of it.
 */
const simpleMailbox =
  /^\s*(?:([^<>"(),;:\\@=]*?)\s*<(([A-Za-z0-9!#$%&'*+/?^_`{|}~.-]{1,64})@[A-Za-z0-9.-]{1,253})>|(([A-Za-z0-9!#$%&'*+/?^_`{|}~.-]{1,64})@[A-Za-z0-9.-]{1,253}))\s*$/;
const asciiHost = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
/** Whitespace in a display name that is not a single space: only then is it collapsed. */
const unevenSpace = /[^\S ]| {2}/;

/** One mailbox of {@link parseSimpleAddressList}, or undefined when it is not a simple one. */
function simpleMailboxOf(part: string): EmailAddress | undefined {
  const match = simpleMailbox.exec(part);
  if (!match) return undefined;
  const local = match[3] ?? match[5]!;
  // The local part holds no "@", so the first one is the addr-spec's own.
  const address = (match[2] ?? match[4]!).toLowerCase();
  const domain = address.slice(address.indexOf("@") + 1);
  // A last label that reads as a number makes the host an IPv4 literal to URL parsing: leave that to the full parser.
  const tld = domain.slice(domain.lastIndexOf(".") + 1);
  if (!asciiHost.test(domain) || /^(?:\d+|0x[0-9a-f]*)$/.test(tld)) return undefined;
  if (local.startsWith(".") || local.endsWith(".") || local.includes("..")) return undefined;
  let name = match[1]?.trim();
  if (name && unevenSpace.test(name)) name = name.replace(/\s+/g, " ");
  return name ? { name, address } : { address };
}

/**
 * The common case — `Name <local@ascii.domain>` or a bare address, comma separated, without
 * quotes, comments, groups or encoded words — parsed without the full RFC 5322 parser, which
 * costs far more than fetching the header. Returns undefined for anything else (the caller then
 * uses the full parser); the result equals what the full parser returns for these inputs.
 */
export function parseSimpleAddressList(value: string): EmailAddress[] | undefined {
  if (/["()\\;:=]/.test(value)) return undefined;
  // One mailbox (the usual case) is read without splitting.
  const parts = value.includes(",") ? value.split(",") : [value];
  const result: EmailAddress[] = [];
  for (const part of parts) {
    if (part.trim() === "") return undefined;
    const entry = simpleMailboxOf(part);
    if (!entry) return undefined;
    result.push(entry);
  }
  return result;
}

function addresses(fields: HeaderFields, name: string): EmailAddress[] {
  const values = fields.get(name);
  if (!values) return [];
  let seen: Set<string> | undefined;
  const result: EmailAddress[] = [];
  for (const value of values) {
    const list = parseSimpleAddressList(value) ?? parseAddressList(value, { field: name });
    // One value of one address (the usual case) has nothing to de-duplicate.
    if (values.length === 1 && list.length <= 1) return list;
    seen ??= new Set();
    for (const entry of list) {
      if (seen.has(entry.address)) continue;
      seen.add(entry.address);
      result.push(entry);
    }
  }
  return result;
}

function parseDate(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  // Drop a trailing comment such as "(UTC)", which Date.parse rejects.
  const time = Date.parse((value.includes(")") ? value.replace(/\([^)]*\)\s*$/, "") : value).trim());
  return Number.isNaN(time) ? undefined : new Date(time);
}

/** What a provider knows of a message besides its header fields. */
export interface EnvelopeParts {
  providerId: string;
  folder: string;
  /** A raw header block, or fields already split (see {@link headerFieldsOf}). */
  headers: Buffer | string | HeaderFields | undefined;
  size: number | undefined;
  flags: Iterable<string> | undefined;
  /** When the server received the message: the date when the Date header is missing or unreadable. */
  internalDate: Date | string | number | undefined;
  threadId: string | undefined;
}

/** Builds the envelope of one message from its header fields. Never throws on malformed headers. */
export function envelopeFromHeaders(parts: EnvelopeParts): ProviderEnvelope {
  const fields: HeaderFields =
    parts.headers === undefined
      ? new Map()
      : parts.headers instanceof Map
        ? parts.headers
        : parseHeaderBlock(parts.headers, envelopeFields);
  const first = (name: string) => fields.get(name)?.[0];
  const internal = parts.internalDate === undefined ? undefined : new Date(parts.internalDate);
  const date =
    parseDate(first("date")) ?? (internal && !Number.isNaN(internal.getTime()) ? internal : new Date(0));
  return {
    providerId: parts.providerId,
    folder: parts.folder,
    providerThreadId: parts.threadId,
    messageId: firstMessageId(first("message-id")),
    inReplyTo: messageIdTokens(first("in-reply-to")),
    references: messageIdTokens((fields.get("references") ?? []).join(" ")),
    from: addresses(fields, "from"),
    sender: addresses(fields, "sender"),
    replyTo: addresses(fields, "reply-to"),
    to: addresses(fields, "to"),
    cc: addresses(fields, "cc"),
    bcc: addresses(fields, "bcc"),
    subject: decodeEncodedWords(first("subject") ?? ""),
    date,
    size: parts.size ?? 0,
    flags: [...(parts.flags ?? [])],
  };
}
