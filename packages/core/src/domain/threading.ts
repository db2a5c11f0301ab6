/**
 * Threading (H1–H3). Threads are the connected components of three kinds of link:
 *
 * 1. the Message-ID / In-Reply-To / References chains (shared `mid:` keys);
 * 2. the provider's conversation id within one mailbox (shared `pt:` keys);
 * 3. the subject rule: two messages are linked when at least one of them has no header chain
 *    (no In-Reply-To, no References), their normalised subjects are equal and non-empty, they
 *    share an external participant, and they are at most {@link subjectWindowMs} apart. The
 *    pair itself must meet all of this; a thread's other messages do not count.
 *
 * Every link is a property of a pair of messages (or copies of one message), never of the order
 * they arrived in, so the partition depends only on the set of messages (H3).
 *
 * This module holds the pure rules (keys, subject normalisation, the window); the one threader
 * that applies them is `threadPage` (engine/store-threading.ts), over the store's thread tables.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

/**
 * Reply/forward prefixes, in the folded form {@link normalizeSubject} compares against (lower
 * case, dotted and dotless i as `i`, final sigma as `σ`). Single letters (Italian `R:`, `I:`) are
 * stripped only before a colon, like every prefix.
 */
const replyPrefixes = [
  // English / Latin, German, Dutch, Nordic, French, Spanish, Portuguese, Italian
  "re",
  "fwd",
  "fw",
  "aw",
  "wg",
  "antw",
  "doorst",
  "sv",
  "vs",
  "vb",
  "vl",
  "fs",
  "ref",
  "réf",
  "tr",
  "rv",
  "res",
  "enc",
  "rif",
  "r",
  "i",
  // Polish, Turkish, Hungarian, Greek, Russian, Hebrew, Arabic, Indonesian, Welsh
  "odp",
  "pd",
  "ynt",
  "ilt",
  "vá",
  "továbbítás",
  "απ",
  "σχετ",
  "πρθ",
  "отв",
  "ответ",
  "пересл",
  "השב",
  "תשובה",
  "העבר",
  "הועבר",
  "رد",
  "إعادة توجيه",
  "bls",
  "trs",
  "atb",
  "yml",
  // Chinese, Japanese, Korean
  "回复",
  "回覆",
  "答复",
  "转发",
  "轉寄",
  "返信",
  "転送",
  "답장",
  "회신",
  "전달",
];

const escaped = [...new Set(replyPrefixes)]
  .sort((a, b) => b.length - a.length)
  .map((prefix) => prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
  .join("|");

/**
 * One leading prefix: a bracketed tag (`[EXTERNAL]`, `【外部】`), or a reply/forward word with an
 * optional counter (`Re[2]:`, `RE (3):`, `Re^2:`) and a colon. Full-width colons and brackets are
 * already ASCII after NFKC.
 */
const leadingPrefix = new RegExp(
  `^\\s*(?:\\[[^\\]]*\\]|【[^】]*】|(?:${escaped})\\s*(?:\\[\\d+\\]|\\(\\d+\\)|\\^\\d+)?\\s*:)\\s*`,
  "u",
);
const trailingFwd = /\s*\((?:fwd|fw)\)\s*$/u;
/** Every prefix or tag the loop strips contains one of these; a subject without any skips the loop. */
const mayHavePrefix = /[:[【(]/;
const printableAscii = /^[\x20-\x7e]*$/;

/**
 * Case-folds for comparison. `toLowerCase` alone maps Turkish `İ` to `i` + U+0307 and leaves
 * dotless `ı` apart from `i`, so `İLT:` would match neither `ilt` nor `ILT` typed elsewhere; and
 * it keeps the word-final `ς` apart from `σ`. Both are folded here.
 */
function fold(text: string): string {
  // Most subjects are plain ASCII, for which NFKC and the special folds change nothing.
  if (printableAscii.test(text)) return text.toLowerCase();
  return text
    .normalize("NFKC")
    .toLowerCase()
    .replace(/i\u0307/g, "i")
    .replace(/ı/g, "i")
    .replace(/ς/g, "σ");
}

/**
 * H2: the comparison key of a subject. Strips any number of reply/forward prefixes (any case,
 * with or without counters, in the common languages of SPEC H2), bracketed list tags such as
 * `[EXTERNAL]`, and a trailing `(fwd)`; applies NFKC (full-width colons and letters become
 * ASCII), collapses whitespace and case-folds (dotted/dotless I included). The result is only a
 * comparison key, never shown; `""` means the subject cannot link anything.
 */
export function normalizeSubject(subject: string): string {
  let current = fold(subject).replace(/\s+/g, " ");
  for (let guard = 0; guard < 100 && mayHavePrefix.test(current); guard++) {
    const next = current.replace(leadingPrefix, "").replace(trailingFwd, "");
    if (next === current) break;
    current = next;
  }
  return current.trim();
}

/** What threading needs to know of a message. Ids and addresses must be normalised. */
export interface ThreadingMessage {
  /** A stable, unique id of the message in the firm (its dedupe key). */
  id: string;
  /** Normalised Message-ID, when it has one. */
  messageId: string | undefined;
  inReplyTo: readonly string[];
  references: readonly string[];
  /** Provider conversation ids, each scoped to the mailbox it was seen in. */
  providerThreads: ReadonlyArray<{ mailboxId: string; threadId: string }>;
  subject: string;
  date: Date;
  /** External participants (not the firm's own addresses). */
  externalParticipants: readonly string[];
}

/** H1: the subject rule links two messages at most this far apart: 30 days, in milliseconds. */
export const subjectWindowMs = 30 * 24 * 60 * 60 * 1000;

/**
 * H1 (rules 1 and 2): the link keys of a message: `mid:<id>` for its own Message-ID and every id
 * it refers to (In-Reply-To, References), and `pt:<mailbox>:<thread>` for its provider
 * conversations. Two messages (or copies) sharing a key are in one thread.
 */
export function threadKeys(message: ThreadingMessage): string[] {
  const count =
    (message.messageId ? 1 : 0) +
    message.inReplyTo.length +
    message.references.length +
    message.providerThreads.length;
  // Most messages have a handful of keys, for which a linear check beats building a set; a long
  // References header gets the set.
  const keys: string[] = [];
  const seen = count > 16 ? new Set<string>() : undefined;
  const add = (key: string) => {
    if (seen ? seen.has(key) : keys.includes(key)) return;
    seen?.add(key);
    keys.push(key);
  };
  if (message.messageId) add(`mid:${message.messageId}`);
  for (const id of message.inReplyTo) add(`mid:${id}`);
  for (const id of message.references) add(`mid:${id}`);
  for (const thread of message.providerThreads) add(`pt:${thread.mailboxId}:${thread.threadId}`);
  return keys;
}

/**
 * H1 (rule 3): true when the message's headers carry no In-Reply-To and no References: only
 * then may the subject link it to a message that does have a chain. Its own Message-ID and its
 * provider conversation ids do not count: a conversation id differs per copy and mailbox, so a
 * rule depending on it would have to split a thread when a later copy arrives.
 */
export function usesSubjectFallback(message: ThreadingMessage): boolean {
  return message.inReplyTo.length === 0 && message.references.length === 0;
}

/** Subjects longer than this are hashed in {@link subjectKeys}, so a key stays short enough to index. */
const maxKeySubjectLength = 200;

/**
 * H1 (rule 3): one key per (normalised subject, external participant) of a message:
 * `subj:<subject>:<participant>`, or `subj#:<sha-256 of the subject>:<participant>` when the
 * subject is longer than 200 characters. Two messages can be subject-linked only when they share
 * one of these keys; the rule's other conditions (at least one of the two without a header
 * chain, at most {@link subjectWindowMs} apart) are then checked on the pair. Empty when the
 * subject normalises to `""` or there is no external participant.
 */
export function subjectKeys(message: ThreadingMessage): string[] {
  const subject = normalizeSubject(message.subject);
  if (subject === "") return [];
  const head =
    subject.length > maxKeySubjectLength
      ? `subj#:${bytesToHex(sha256(utf8ToBytes(subject)))}`
      : `subj:${subject}`;
  return [...new Set(message.externalParticipants)].map((participant) => `${head}:${participant}`);
}

/**
 * H4: a thread is shown under every account any of its filed messages is filed in (the union),
 * sorted for stable output.
 */
export function threadAccountIds(messages: ReadonlyArray<{ accountIds: readonly string[] }>): string[] {
  const accounts = new Set<string>();
  for (const message of messages) for (const accountId of message.accountIds) accounts.add(accountId);
  return [...accounts].sort();
}
