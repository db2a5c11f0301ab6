/**
 * The one MIME builder of every sender (S4, S5, S6): an `OutgoingMessage` becomes RFC 5322
 * bytes through nodemailer's MailComposer, which encodes non-ASCII names and subjects as
 * encoded words, folds long headers and picks body encodings.
 *
 * Header safety does not rest on the library's folding: every one-line field that becomes a
 * header (subject, display names, addresses, Message-IDs, attachment names and types) is checked
 * first, and a CR, LF, NUL, any other control character or a lone surrogate is refused with
 * `validation_failed` naming the field, so nothing a client or a template typed can start a
 * header of its own. Message-IDs must be RFC 5322 `msg-id`s (`<left@right>`, visible ASCII).
 *
 * Every message also carries `X-Clientmail-Message-Id` with the composed Message-ID: Gmail
 * replaces the Message-ID of what the API sends, and that header is how the Gmail sender finds
 * its own message in Sent after a crash (see docs/decisions.md, "Sending").
 *
 * @module
 */
import { ValidationError } from "@clientmail/core";
import type { OutgoingAddress, OutgoingMessage } from "@clientmail/core/ports";
import type { ValidationIssue } from "@clientmail/core";
import addressparser from "nodemailer/lib/addressparser";
import MailComposer from "nodemailer/lib/mail-composer";

/** The header every sent message carries with its composed Message-ID. */
export const COMPOSED_ID_HEADER = "X-Clientmail-Message-Id";

/** How {@link buildMime} writes the message. */
export interface BuildMimeOptions {
  /**
   * Keep the Bcc header in the bytes. Gmail and Graph take their Bcc recipients from it and
   * leave it out of what they deliver; an SMTP sender passes Bcc in the envelope only, so the
   * header would show every Bcc recipient to everyone.
   */
  bccHeader: boolean;
}

/** A built message: the bytes and the SMTP envelope they go to. */
export interface BuiltMime {
  raw: Buffer;
  envelope: { from: string; to: string[] };
}

// C0 controls (tab included), DEL, C1 controls, and the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex
const UNSAFE_IN_HEADER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
const LONE_SURROGATE = /\p{Cs}/u;
// RFC 5322 msg-id, the dot-atom-text form on both sides (no-fold-literal on the right allowed).
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const DOT_ATOM = `${ATEXT}(?:\\.${ATEXT})*`;
const MSG_ID = `<${DOT_ATOM}@(?:${DOT_ATOM}|\\[[!-Z^-~]*\\])>`;
const MSG_ID_RE = new RegExp(`^${MSG_ID}$`);
const MSG_ID_LIST_RE = new RegExp(`^${MSG_ID}(?:[ \\t]+${MSG_ID})*$`);
// An addr-spec without quoting or comments: local@domain; the domain may be Unicode (IDN).
const ADDRESS_RE = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/u;

function oneLineIssue(field: string, value: unknown): ValidationIssue | undefined {
  if (typeof value !== "string") return { field, value, expected: "a string" };
  if (UNSAFE_IN_HEADER.test(value))
    return { field, value, expected: "one line of text without control characters (CR, LF, NUL, ...)" };
  if (LONE_SURROGATE.test(value.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, "")))
    return { field, value, expected: "text without lone surrogates" };
  return undefined;
}

function addressIssues(field: string, address: OutgoingAddress, issues: ValidationIssue[]): void {
  const unsafe = oneLineIssue(`${field}.address`, address.address);
  if (unsafe) issues.push(unsafe);
  else if (!ADDRESS_RE.test(address.address))
    issues.push({ field: `${field}.address`, value: address.address, expected: "an address local@domain" });
  if (address.name !== undefined) {
    const name = oneLineIssue(`${field}.name`, address.name);
    if (name) issues.push(name);
  }
}

function msgIdIssue(field: string, value: string, list: boolean): ValidationIssue | undefined {
  const unsafe = oneLineIssue(field, value);
  if (unsafe) return unsafe;
  if (!(list ? MSG_ID_LIST_RE : MSG_ID_RE).test(value.trim()))
    return {
      field,
      value,
      expected: list
        ? "RFC 5322 msg-ids separated by spaces, each <left@right>"
        : "an RFC 5322 msg-id <left@right>",
    };
  return undefined;
}

/**
 * Lists every header-unsafe or malformed field of `message` (S6). Empty when the message can be
 * built. Exported so a caller can refuse a message before queueing it.
 */
export function outgoingHeaderIssues(message: OutgoingMessage): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const id = msgIdIssue("messageId", message.messageId, false);
  if (id) issues.push(id);
  addressIssues("from", message.from, issues);
  for (const kind of ["to", "cc", "bcc", "replyTo"] as const)
    (message[kind] ?? []).forEach((address, i) => addressIssues(`${kind}.${i}`, address, issues));
  if (message.to.length + message.cc.length + message.bcc.length === 0)
    issues.push({ field: "to", value: [], expected: "at least one recipient in to, cc or bcc" });
  const subject = oneLineIssue("subject", message.subject);
  if (subject) issues.push(subject);
  if (message.inReplyTo !== undefined) {
    const issue = msgIdIssue("inReplyTo", message.inReplyTo, true);
    if (issue) issues.push(issue);
  }
  if (message.references !== undefined) {
    const issue = msgIdIssue("references", message.references, true);
    if (issue) issues.push(issue);
  }
  if (message.text === undefined && message.html === undefined)
    issues.push({ field: "text", value: undefined, expected: "text or html" });
  message.attachments.forEach((attachment, i) => {
    const name = oneLineIssue(`attachments.${i}.filename`, attachment.filename);
    if (name) issues.push(name);
    else if (attachment.filename.trim() === "")
      issues.push({
        field: `attachments.${i}.filename`,
        value: attachment.filename,
        expected: "a file name",
      });
    if (!/^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/.test(attachment.contentType))
      issues.push({
        field: `attachments.${i}.contentType`,
        value: attachment.contentType,
        expected: "a media type type/subtype",
      });
  });
  if (Number.isNaN(message.date.getTime()))
    issues.push({ field: "date", value: String(message.date), expected: "a valid date" });
  return issues;
}

function addressOf(address: OutgoingAddress): { name: string; address: string } {
  return { name: address.name ?? "", address: address.address };
}

/**
 * Builds the RFC 5322 bytes of `message` (S6: Message-ID, In-Reply-To and References exactly as
 * composed). Throws `validation_failed` listing every unsafe field (see
 * {@link outgoingHeaderIssues}); never writes a header the message did not ask for beyond
 * MIME-Version, the content headers and {@link COMPOSED_ID_HEADER}.
 */
export async function buildMime(message: OutgoingMessage, options: BuildMimeOptions): Promise<BuiltMime> {
  const issues = outgoingHeaderIssues(message);
  if (issues.length > 0) throw new ValidationError(issues);
  const composer = new MailComposer({
    from: addressOf(message.from),
    to: message.to.map(addressOf),
    cc: message.cc.map(addressOf),
    bcc: message.bcc.map(addressOf),
    ...(message.replyTo && message.replyTo.length > 0 ? { replyTo: message.replyTo.map(addressOf) } : {}),
    subject: message.subject,
    messageId: message.messageId,
    date: message.date,
    ...(message.inReplyTo !== undefined ? { inReplyTo: message.inReplyTo.trim() } : {}),
    ...(message.references !== undefined ? { references: message.references.trim().split(/[ \t]+/) } : {}),
    ...(message.text !== undefined ? { text: message.text } : {}),
    ...(message.html !== undefined ? { html: message.html } : {}),
    attachments: message.attachments.map((attachment) => ({
      filename: attachment.filename,
      contentType: attachment.contentType,
      content: Buffer.from(attachment.content),
    })),
    headers: { [COMPOSED_ID_HEADER]: message.messageId },
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const node = composer.compile();
  node.keepBcc = options.bccHeader;
  const raw = await node.build();
  const envelope = node.getEnvelope();
  return {
    raw,
    envelope: { from: envelope.from === false ? message.from.address : envelope.from, to: envelope.to },
  };
}

/**
 * The first mailbox address of an address header (`From` of a sent copy), lower-cased; undefined
 * when the value holds none. Names, quoting and encoded words are handled by nodemailer's parser.
 */
export function firstAddressOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  for (const entry of addressparser(value, { flatten: true })) {
    if (entry.address) return entry.address.toLowerCase();
  }
  return undefined;
}
