/**
 * Maps Graph message resources onto clientmail envelopes.
 */
import { normalizeAddress } from "@clientmail/core";
import type { EmailAddress, ProviderEnvelope } from "@clientmail/core";
import { headerBlockOf, messageIdTokens, parseHeaderBlock } from "@clientmail/provider-utils";

/** The message properties listed in delta and search: exactly what an envelope needs, no bodies. */
export const envelopeSelect = [
  "id",
  "parentFolderId",
  "conversationId",
  "internetMessageId",
  "subject",
  "from",
  "sender",
  "replyTo",
  "toRecipients",
  "ccRecipients",
  "bccRecipients",
  "receivedDateTime",
  "sentDateTime",
  "isRead",
  "isDraft",
  "flag",
] as const;

/** PR_MESSAGE_SIZE, the only way Graph v1.0 tells a message's size. */
export const sizeExpand = "singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')";

interface GraphRecipient {
  emailAddress?: { name?: string | null; address?: string | null } | null;
}

/** A Graph message resource as far as the adapter reads it. */
export interface GraphMessage {
  id: string;
  parentFolderId?: string;
  conversationId?: string | null;
  internetMessageId?: string | null;
  subject?: string | null;
  from?: GraphRecipient | null;
  sender?: GraphRecipient | null;
  replyTo?: GraphRecipient[] | null;
  toRecipients?: GraphRecipient[] | null;
  ccRecipients?: GraphRecipient[] | null;
  bccRecipients?: GraphRecipient[] | null;
  receivedDateTime?: string | null;
  sentDateTime?: string | null;
  isRead?: boolean | null;
  isDraft?: boolean | null;
  flag?: { flagStatus?: string | null } | null;
  internetMessageHeaders?: { name: string; value: string }[] | null;
  singleValueExtendedProperties?: { id: string; value: string }[] | null;
  "@removed"?: { reason?: string };
}

/** Normalises an address (T12); an address Graph reports that does not parse is kept trimmed and lower-cased rather than dropped. */
export function normalizeLoosely(address: string): string {
  try {
    return normalizeAddress(address);
  } catch {
    return address.trim().toLowerCase();
  }
}

function toAddress(recipient: GraphRecipient | null | undefined): EmailAddress[] {
  const address = recipient?.emailAddress?.address;
  if (typeof address !== "string" || address.trim() === "") return [];
  const name = recipient?.emailAddress?.name;
  const normalized = normalizeLoosely(address);
  return [{ address: normalized, ...(name && name.toLowerCase() !== normalized ? { name } : {}) }];
}

function toAddresses(recipients: GraphRecipient[] | null | undefined): EmailAddress[] {
  return (recipients ?? []).flatMap(toAddress);
}

function header(message: GraphMessage, name: string): string | undefined {
  return message.internetMessageHeaders?.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;
}

/** True when an item is a partial update lacking the envelope (Graph may send only changed properties). */
export function isPartial(message: GraphMessage): boolean {
  return !("receivedDateTime" in message) && !("from" in message) && !("subject" in message);
}

/**
 * Builds the envelope of a Graph message. In-Reply-To and References are only known when
 * `internetMessageHeaders` was selected (never in delta, which stays cheap); the adapter's
 * `fetch` fills them from the MIME source.
 */
export function toEnvelope(message: GraphMessage, folder: string): ProviderEnvelope {
  const flags: string[] = [];
  if (message.isRead) flags.push("\\Seen");
  if (message.flag?.flagStatus === "flagged") flags.push("\\Flagged");
  if (message.isDraft) flags.push("\\Draft");
  const size = message.singleValueExtendedProperties?.find((p) => /^integer 0x0?e08$/i.test(p.id))?.value;
  const date = message.sentDateTime ?? message.receivedDateTime;
  return {
    providerId: message.id,
    folder,
    providerThreadId: message.conversationId ?? undefined,
    messageId: message.internetMessageId ?? undefined,
    inReplyTo: messageIdTokens(header(message, "In-Reply-To")),
    references: messageIdTokens(header(message, "References")),
    from: toAddress(message.from),
    sender: toAddress(message.sender),
    replyTo: toAddresses(message.replyTo),
    to: toAddresses(message.toRecipients),
    cc: toAddresses(message.ccRecipients),
    bcc: toAddresses(message.bccRecipients),
    subject: message.subject ?? "",
    date: date ? new Date(date) : new Date(0),
    size: size === undefined ? 0 : Number(size) || 0,
    flags,
  };
}

/** The fields {@link completeFromSource} reads. */
const threadingFields: ReadonlySet<string> = new Set(["in-reply-to", "references", "message-id"]);

/**
 * Fills what Graph's properties may lack from the MIME source's own header block: Sent Items
 * carry no `internetMessageHeaders`, but the source always has the threading headers (H1).
 */
export function completeFromSource(envelope: ProviderEnvelope, source: Buffer): ProviderEnvelope {
  const fields = parseHeaderBlock(headerBlockOf(source), threadingFields);
  const first = (name: string) => fields.get(name)?.[0];
  const completed = { ...envelope };
  if (completed.inReplyTo.length === 0) completed.inReplyTo = messageIdTokens(first("in-reply-to"));
  if (completed.references.length === 0)
    completed.references = messageIdTokens((fields.get("references") ?? []).join(" "));
  completed.messageId ??= messageIdTokens(first("message-id"))[0];
  completed.size = completed.size || source.length;
  return completed;
}
