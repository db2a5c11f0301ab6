/**
 * Envelopes of Gmail messages: labels become folder and flags; the header fields (from
 * `format=metadata`, or the header block of `raw`) go through the builder every provider shares,
 * so a message gives the same envelope through Gmail as through IMAP.
 */
import type { ProviderEnvelope } from "@clientmail/core";
import { envelopeFromHeaders, headerFieldsOf, type HeaderFields } from "@clientmail/provider-utils";

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

/**
 * Builds an envelope from a message resource and its header fields: `payload.headers` of
 * `format=metadata`, or the header block of the raw source.
 */
export function envelopeFrom(
  message: GmailMessageResource,
  headers: readonly GmailHeader[] | HeaderFields | Buffer,
): ProviderEnvelope {
  const labelIds = message.labelIds ?? [];
  const internalDate = message.internalDate === undefined ? Number.NaN : Number(message.internalDate);
  return envelopeFromHeaders({
    providerId: message.id,
    folder: folderOf(labelIds),
    headers: Array.isArray(headers) ? headerFieldsOf(headers) : (headers as HeaderFields | Buffer),
    size: message.sizeEstimate ?? 0,
    flags: flagsOf(labelIds),
    internalDate: Number.isNaN(internalDate) ? undefined : internalDate,
    threadId: message.threadId,
  });
}

/** Decodes a base64url `raw` field. */
export function decodeRaw(raw: string): Buffer {
  return Buffer.from(raw, "base64url");
}
