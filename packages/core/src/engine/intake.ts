/**
 * The one place where what a provider reports becomes safe to decide on and to store (R4):
 * every text a store keeps is made storable (U+0000 removed, lone surrogates replaced), and
 * header values that could grow without bound are capped. Providers already normalise addresses
 * (T12); nothing here changes who a message is from or to.
 */
import type { EmailAddress, Envelope, FetchedMessage, ProviderEnvelope } from "../domain/envelope.js";
import type { MailboxId } from "../domain/model.js";
import { storableText } from "../domain/storable.js";
import { textFromHtml } from "../content/html-text.js";

/** Longest subject kept; RFC 5322 lines stop at 998 characters, folded ones rarely pass 4,000. */
const maxSubject = 4_000;
const maxDisplayName = 500;
/** References grow with every reply; the oldest and the newest ids are what thread a message. */
const maxReferences = 100;

function text(value: string, max = Number.POSITIVE_INFINITY): string {
  const storable = storableText(value);
  return storable.length > max ? storable.slice(0, max) : storable;
}

function address(entry: EmailAddress): EmailAddress {
  const name = entry.name === undefined ? undefined : text(entry.name, maxDisplayName);
  const value = text(entry.address);
  if (name === entry.name && value === entry.address && name !== "") return entry;
  return name === undefined || name === "" ? { address: value } : { name, address: value };
}

/**
 * `list` with `keep` applied to each item; the same array when `keep` returned every item as it
 * was (the common case: nothing had to be made storable), so no copy is made for it.
 */
function mapKept<T>(list: readonly T[], keep: (item: T) => T): T[] {
  let result: T[] | undefined;
  for (let i = 0; i < list.length; i++) {
    const kept = keep(list[i]!);
    if (kept !== list[i]) result ??= list.slice(0, i);
    result?.push(kept);
  }
  return result ?? (list as T[]);
}

function addresses(list: readonly EmailAddress[]): EmailAddress[] {
  return mapKept(list, address);
}

function texts(list: readonly string[]): string[] {
  return mapKept(list, (value) => text(value));
}

function ids(list: readonly string[]): string[] {
  return texts(list.length > maxReferences ? [list[0]!, ...list.slice(-(maxReferences - 1))] : list);
}

/** An envelope from a provider, seen in `mailboxId`, made storable. */
export function intakeEnvelope(envelope: ProviderEnvelope, mailboxId: MailboxId): Envelope {
  return {
    providerId: envelope.providerId,
    folder: text(envelope.folder),
    providerThreadId: envelope.providerThreadId === undefined ? undefined : text(envelope.providerThreadId),
    messageId: envelope.messageId === undefined ? undefined : text(envelope.messageId),
    inReplyTo: ids(envelope.inReplyTo),
    references: ids(envelope.references),
    from: addresses(envelope.from),
    sender: addresses(envelope.sender),
    replyTo: addresses(envelope.replyTo),
    to: addresses(envelope.to),
    cc: addresses(envelope.cc),
    bcc: addresses(envelope.bcc),
    subject: text(envelope.subject, maxSubject),
    date: Number.isNaN(envelope.date.getTime()) ? new Date(0) : envelope.date,
    size: envelope.size,
    flags: texts(envelope.flags),
    mailboxId,
  };
}

/**
 * The text to store for content already through {@link intakeContent}: the message's own, or for
 * HTML-only mail (a provider that hands over HTML alone) the text of its HTML, so search,
 * previews and notifications have words to read. Applied when the record is written, not before:
 * the fallback identity (F5) reads the content as the provider gave it, so it does not change
 * for mail filed before.
 */
export function storedText(content: Pick<FetchedMessage, "text" | "html"> | undefined): string | undefined {
  if (content === undefined) return undefined;
  if (content.text !== undefined && content.text.trim() !== "") return content.text;
  if (content.html !== undefined && content.html.trim() !== "") return text(textFromHtml(content.html));
  return content.text;
}

/** Fetched content made storable: bodies, attachment names and types. */
export function intakeContent(
  message: FetchedMessage,
  mailboxId: MailboxId,
): FetchedMessage & { envelope: Envelope } {
  return {
    envelope: intakeEnvelope(message.envelope, mailboxId),
    text: message.text === undefined ? undefined : text(message.text),
    html: message.html === undefined ? undefined : text(message.html),
    attachments: message.attachments.map((attachment) => ({
      ...attachment,
      filename: text(attachment.filename, 1_000),
      contentType: text(attachment.contentType, 255),
      ...(attachment.contentId === undefined ? {} : { contentId: text(attachment.contentId, 1_000) }),
    })),
    // The source stays byte for byte: it is the reference the text was read from (R11).
    source: message.source,
    degraded: message.degraded,
  };
}
