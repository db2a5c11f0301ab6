/**
 * A composed outgoing message as the outbox keeps it (S1–S6), and the checks every message passes
 * before it is queued: nothing that reaches a header may carry CR, LF, NUL or another control
 * character (no header injection, whatever a client's name, a shortcode value or a copied
 * Message-ID holds), and no message is larger or has more recipients than the limits allow.
 *
 * The draft is JSON (it travels through a database); attachments are references to the host's
 * documents, read when the message is sent.
 */
import { ValidationError, type ValidationIssue } from "../errors.js";

/** One address of a draft. The address is normalised (T12); the name is one line. */
export interface DraftAddress {
  address: string;
  name?: string | undefined;
}

/** An attachment of a draft: a document of the host, read through `DocumentSource` when sending. */
export interface DraftAttachment {
  documentId: string;
  filename: string;
  contentType: string;
  size: number;
}

/** What kind of message a draft is; system notifications carry their T5 category. */
export type DraftKind =
  | { kind: "email" }
  | { kind: "reply"; parentRecordId: string }
  | { kind: "client_notification"; category: string; activationBanner: boolean };

/** A composed message, fixed at compose time (S4: its Message-ID never changes). */
export interface OutboxDraft {
  version: 1;
  kind: DraftKind;
  /** Angle brackets included. */
  messageId: string;
  from: DraftAddress;
  to: DraftAddress[];
  cc: DraftAddress[];
  bcc: DraftAddress[];
  subject: string;
  text?: string | undefined;
  html?: string | undefined;
  /** S6 reply headers, e.g. `<a@x>` and `<r@x> <a@x>`. */
  inReplyTo?: string | undefined;
  references?: string | undefined;
  /** S6: the parent's id in the sending mailbox, so the provider threads the reply too. */
  replyToProvider?: { messageId?: string | undefined; threadId?: string | undefined } | undefined;
  attachments: DraftAttachment[];
}

/** Limits checked before anything is queued. */
export interface SendLimits {
  /** To + Cc + Bcc of one message. Default 100. */
  maxRecipientsPerMessage: number;
  /** Estimated size of one message (bodies, attachments base64-encoded, headers). Default 25 MB. */
  maxMessageBytes: number;
  /** Accounts of one send (S1 bulk). Default 1,000. */
  maxAccountsPerSend: number;
  /** Attachments of one message. Default 20. */
  maxAttachments: number;
}

/** The default {@link SendLimits}: Gmail's 25 MB and a conservative recipient count. */
export const defaultSendLimits: SendLimits = {
  maxRecipientsPerMessage: 100,
  maxMessageBytes: 25 * 1024 * 1024,
  maxAccountsPerSend: 1000,
  maxAttachments: 20,
};

// Every C0 control (CR, LF, NUL, TAB, ESC, ...), DEL, C1 controls and the Unicode line and
// paragraph separators: none of them belongs in a header value.
// eslint-disable-next-line no-control-regex
const headerUnsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// eslint-disable-next-line no-control-regex
const headerUnsafeAll = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const messageIdShape = /^<[^<>\s@]+@[^<>\s@]+>$/;
const addressShape = /^[^\s<>(),;:"[\]\\@]+@[^\s<>(),;:"[\]\\@]+$/;

/** Replaces every header-unsafe character with a space (for values made from stored data). */
export function flattenHeaderText(value: string): string {
  return value.replace(headerUnsafeAll, " ");
}

/** True when `value` may stand in a header as it is. */
export function isHeaderSafe(value: string): boolean {
  return !headerUnsafe.test(value);
}

function checkText(issues: ValidationIssue[], field: string, value: string | undefined, maxLength = 998) {
  if (value === undefined) return;
  if (!isHeaderSafe(value))
    issues.push({ field, value, expected: "one line without control characters (CR, LF, NUL, ...)" });
  else if (value.length > maxLength)
    issues.push({ field, value, expected: `at most ${maxLength} characters` });
}

function checkAddress(issues: ValidationIssue[], field: string, value: DraftAddress) {
  if (!isHeaderSafe(value.address) || !addressShape.test(value.address))
    issues.push({ field: `${field}.address`, value: value.address, expected: "a plain email address" });
  checkText(issues, `${field}.name`, value.name, 200);
}

function checkMessageIdList(issues: ValidationIssue[], field: string, value: string | undefined) {
  if (value === undefined) return;
  if (!isHeaderSafe(value) || !value.split(" ").every((id) => messageIdShape.test(id)))
    issues.push({ field, value, expected: "Message-IDs like <id@host> separated by single spaces" });
}

/** A rough size of the message on the wire: base64 grows attachments by a third. */
export function estimatedSize(draft: OutboxDraft): number {
  const encoder = new TextEncoder();
  let size = 2048 + encoder.encode(draft.subject).byteLength;
  size += encoder.encode(draft.text ?? "").byteLength * 1.05;
  size += encoder.encode(draft.html ?? "").byteLength * 1.05;
  for (const attachment of draft.attachments) size += Math.ceil(attachment.size / 3) * 4 + 512;
  return Math.ceil(size);
}

/**
 * Every reason `draft` may not be queued: header-unsafe text in any field that becomes a header
 * (subject, names, addresses, Message-IDs, attachment names), too many recipients, too large,
 * no body. Returns all issues at once; empty when the draft is fine.
 */
export function draftIssues(draft: OutboxDraft, limits: SendLimits, prefix = ""): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const at = (field: string) => `${prefix}${field}`;
  checkText(issues, at("subject"), draft.subject);
  checkAddress(issues, at("from"), draft.from);
  for (const list of ["to", "cc", "bcc"] as const)
    draft[list].forEach((address, index) => checkAddress(issues, at(`${list}.${index}`), address));
  if (!isHeaderSafe(draft.messageId) || !messageIdShape.test(draft.messageId))
    issues.push({ field: at("messageId"), value: draft.messageId, expected: "a Message-ID like <id@host>" });
  checkMessageIdList(issues, at("inReplyTo"), draft.inReplyTo);
  checkMessageIdList(issues, at("references"), draft.references);
  checkText(issues, at("replyToProvider.messageId"), draft.replyToProvider?.messageId, 500);
  checkText(issues, at("replyToProvider.threadId"), draft.replyToProvider?.threadId, 500);
  draft.attachments.forEach((attachment, index) => {
    checkText(issues, at(`attachments.${index}.filename`), attachment.filename, 255);
    checkText(issues, at(`attachments.${index}.contentType`), attachment.contentType, 255);
  });
  const recipients = draft.to.length + draft.cc.length + draft.bcc.length;
  if (draft.to.length === 0) issues.push({ field: at("to"), value: [], expected: "at least one recipient" });
  if (recipients > limits.maxRecipientsPerMessage)
    issues.push({
      field: at("to"),
      value: `${recipients} recipients`,
      expected: `at most ${limits.maxRecipientsPerMessage} recipients (To, Cc and Bcc) per message`,
    });
  if (draft.attachments.length > limits.maxAttachments)
    issues.push({
      field: at("attachments"),
      value: `${draft.attachments.length} attachments`,
      expected: `at most ${limits.maxAttachments} attachments`,
    });
  if (draft.text === undefined && draft.html === undefined)
    issues.push({ field: at("text"), value: undefined, expected: "a text or an HTML body" });
  const size = estimatedSize(draft);
  if (size > limits.maxMessageBytes)
    issues.push({
      field: at("size"),
      value: `about ${size} bytes`,
      expected: `a message of at most ${limits.maxMessageBytes} bytes with its attachments`,
    });
  return issues;
}

/** Throws a {@link ValidationError} listing every issue of the drafts; nothing is queued then. */
export function assertDraftsQueueable(drafts: readonly OutboxDraft[], limits: SendLimits): void {
  const issues = drafts.flatMap((draft, index) =>
    draftIssues(draft, limits, drafts.length > 1 ? `messages.${index}.` : ""),
  );
  if (issues.length > 0) throw new ValidationError(issues);
}

/** Reads a draft back from the outbox's JSON. */
export function draftOf(json: Record<string, unknown>): OutboxDraft {
  if (json.version !== 1 || typeof json.messageId !== "string")
    throw new ValidationError([
      { field: "draft", value: json.version, expected: "a draft composed by clientmail (version 1)" },
    ]);
  return json as unknown as OutboxDraft;
}

function zoneOffsetMs(instant: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(instant));
  const part = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  const local = Date.UTC(
    part("year"),
    part("month") - 1,
    part("day"),
    part("hour"),
    part("minute"),
    part("second"),
  );
  return local - Math.floor(instant / 1000) * 1000;
}

/**
 * T5: when the weekly transactions digest goes out: the next Monday at 09:00 in `timeZone` (an
 * IANA name, e.g. `Europe/Berlin`), strictly after `now`. Daylight-saving changes are followed.
 */
export function nextWeeklyDigestAt(now: Date, timeZone: string): Date {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
  } catch {
    throw new ValidationError([{ field: "timeZone", value: timeZone, expected: "an IANA time zone" }]);
  }
  const start = now.getTime();
  for (let day = 0; day <= 8; day++) {
    const probe = start + day * 24 * 60 * 60_000;
    const local = new Date(probe + zoneOffsetMs(probe, timeZone));
    if (local.getUTCDay() !== 1) continue;
    const nineLocal = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate(), 9, 0, 0);
    let instant = nineLocal - zoneOffsetMs(nineLocal, timeZone);
    instant = nineLocal - zoneOffsetMs(instant, timeZone);
    if (instant > start) return new Date(instant);
  }
  throw new ValidationError([{ field: "timeZone", value: timeZone, expected: "an IANA time zone" }]);
}
