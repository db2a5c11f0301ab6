/**
 * The pure part of sending (S1, S4–S6): one message per account in a bulk send, Message-IDs
 * fixed when a message is composed, and reply headers that thread in the client's mail program.
 */
import { ValidationError } from "../errors.js";
import { normalizeMessageId } from "./filing.js";
import type { AccountId, Link } from "./model.js";
import { recipientsFor, type Audience, type Recipient } from "./settings.js";

/** One message of a send: exactly one account, its recipients by T5. */
export interface PlannedMessage {
  accountId: AccountId;
  recipients: Recipient[];
}

/**
 * S1: a send to many accounts is one separate message per account — never one message with
 * every client in To or Cc. Accounts without a recipient are listed in `skipped`.
 */
export function planBulkSend(
  accounts: ReadonlyArray<{ accountId: AccountId; links: readonly Link[] }>,
  audience: Audience,
): { messages: PlannedMessage[]; skipped: AccountId[] } {
  const messages: PlannedMessage[] = [];
  const skipped: AccountId[] = [];
  const seen = new Set<AccountId>();
  for (const { accountId, links } of accounts) {
    if (seen.has(accountId)) continue;
    seen.add(accountId);
    const recipients = recipientsFor(links, audience);
    if (recipients.length === 0) skipped.push(accountId);
    else messages.push({ accountId, recipients });
  }
  return { messages, skipped };
}

/**
 * S4/S5: a Message-ID chosen when the message is composed or scheduled, so a retried send and
 * the provider's copy that comes back through sync are recognised as the same message.
 */
export function composeMessageId(domain: string, randomHex: string): string {
  if (!/^[0-9a-f]{16,}$/.test(randomHex)) {
    throw new ValidationError([
      { field: "randomHex", value: randomHex, expected: "at least 16 lower-case hex digits" },
    ]);
  }
  if (!/^[a-z0-9.-]+$/i.test(domain)) {
    throw new ValidationError([{ field: "domain", value: domain, expected: "an ASCII domain name" }]);
  }
  return `<${randomHex}@${domain.toLowerCase()}>`;
}

/** The parent's threading headers, as they were filed. */
export interface ReplyParent {
  messageId: string | undefined;
  inReplyTo: readonly string[];
  references: readonly string[];
}

const safeId = /^[^\s<>\r\n\0]+$/;

/**
 * S6: In-Reply-To and References of a reply (RFC 5322 §3.6.4): References is the parent's
 * References (or, without them, its single In-Reply-To) followed by the parent's Message-ID.
 * Ids copied from synced mail are checked so that none can inject a header. Long chains keep
 * their first id and the most recent ones.
 */
export function replyHeaders(
  parent: ReplyParent,
  maxReferences = 20,
): { inReplyTo: string | undefined; references: string | undefined } {
  const parentId = normalizeMessageId(parent.messageId);
  if (!parentId) return { inReplyTo: undefined, references: undefined };
  const ancestry =
    parent.references.length > 0 ? parent.references : parent.inReplyTo.length === 1 ? parent.inReplyTo : [];
  let chain = [
    ...ancestry.map((id) => normalizeMessageId(id)).filter((id): id is string => Boolean(id)),
    parentId,
  ]
    .filter((id, index, all) => all.indexOf(id) === index)
    .filter((id) => safeId.test(id));
  if (chain.length > maxReferences) chain = [chain[0]!, ...chain.slice(chain.length - (maxReferences - 1))];
  return { inReplyTo: `<${parentId}>`, references: chain.map((id) => `<${id}>`).join(" ") };
}

/** S6: a reply's subject: one `Re: ` in front of the parent's subject without its prefixes. */
export function replySubject(subject: string): string {
  const stripped = subject.replace(/^\s*((re|aw|sv|antw|odp|ynt)\s*(\[\d+\]|\(\d+\))?\s*[:：]\s*)+/iu, "");
  return `Re: ${stripped}`.replace(/[\r\n\0]+/g, " ");
}
