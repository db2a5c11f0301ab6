/**
 * F5 and R5: when two copies are the same message.
 *
 * A Message-ID is chosen by the sender, so it is a claim, not an identity: a broken mailer reuses
 * one, a forger copies one, and a message can arrive before the real one to squat its id. Copies
 * are therefore merged only when they carry the same normalised Message-ID **and** the same
 * fingerprint of the headers every copy of one message shares:
 *
 * - From, Sender (when it differs from From), Reply-To, To and Cc addresses (sorted; display
 *   names left out, since clients and gateways rewrite them);
 * - the normalised subject (H2), which drops prefixes and `[EXTERNAL]`-style tags that gateways
 *   add to the received copy;
 * - the Date header to the second.
 *
 * Left out on purpose: Bcc (only the sender's copy shows it), sizes and Received headers (each
 * hop adds its own, so a sent copy and a received copy differ), and provider ids. Gmail and Graph
 * keep the sender's Date, addresses and subject, so their copies match IMAP's. Since the
 * fingerprint covers every participant field that filing reads except Bcc, a copy can never give
 * a message an account that the message's own participants do not (R5).
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import type { EmailAddress } from "./envelope.js";
import { dedupeKey, normalizeMessageId, type IdentityContent } from "./filing.js";
import { normalizeSubject } from "./threading.js";

/** The header fields the fingerprint reads. Addresses must be normalised. */
export interface FingerprintFields {
  from: readonly EmailAddress[];
  sender: readonly EmailAddress[];
  replyTo: readonly EmailAddress[];
  to: readonly EmailAddress[];
  cc: readonly EmailAddress[];
  subject: string;
  date: Date;
}

const addresses = (list: readonly EmailAddress[]): string[] => [...new Set(list.map((a) => a.address))];

/** R5: a short hash of the headers every copy of one message shares (see the module comment). */
export function messageFingerprint(fields: FingerprintFields): string {
  const from = addresses(fields.from);
  // Graph reports Sender = From when the header is absent; IMAP and Gmail report nothing.
  const sender = addresses(fields.sender).filter((address) => !from.includes(address));
  const canonical = [
    from.join(","),
    sender.sort().join(","),
    addresses(fields.replyTo).sort().join(","),
    addresses(fields.to).sort().join(","),
    addresses(fields.cc).sort().join(","),
    normalizeSubject(fields.subject),
    Math.floor(fields.date.getTime() / 1000).toString(),
  ].join("\u0000");
  return bytesToHex(sha256(utf8ToBytes(canonical))).slice(0, 24);
}

/** What identifies a message: its fingerprint fields, its raw Message-ID and, for the fallback, its body. */
export interface IdentitySource extends FingerprintFields {
  messageId: string | undefined;
}

/**
 * The key a new message is filed under (F5, R5): `mid:<normalised Message-ID>#<fingerprint>`, or,
 * without a Message-ID, the content hash of {@link dedupeKey} (which needs the body). A caller
 * that already holds the source's {@link messageFingerprint} passes it, to save hashing it again.
 */
export function identityKey(source: IdentitySource, body: string | undefined, fingerprint?: string): string {
  const id = normalizeMessageId(source.messageId);
  if (id) return `mid:${id}#${fingerprint ?? messageFingerprint(source)}`;
  const content: IdentityContent = { ...source, body: body ?? "" };
  return dedupeKey(undefined, content);
}

/**
 * True when a filed record and a copy are the same message: same normalised Message-ID and same
 * fingerprint. Records filed before fingerprints existed (key `mid:<id>`) are compared the same way,
 * from their stored fields.
 */
export function sameMessage(
  record: IdentitySource,
  copy: IdentitySource,
  copyFingerprint = messageFingerprint(copy),
): boolean {
  const id = normalizeMessageId(copy.messageId);
  return (
    id !== undefined &&
    normalizeMessageId(record.messageId) === id &&
    messageFingerprint(record) === copyFingerprint
  );
}
