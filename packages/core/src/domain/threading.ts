/**
 * Threading (H1–H3). A message joins a thread through, in order of strength: the Message-ID /
 * In-Reply-To / References chains; the provider's conversation id within one mailbox; and, only
 * for a message with none of those links, its normalised subject plus a shared external
 * participant within 30 days. Threads are the connected components of these links, so the
 * result does not depend on arrival order (H3): a late message that links two threads merges them.
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
  "i̇lt",
  "ilt",
  "vá",
  "továbbítás",
  "απ",
  "σχετ",
  "πρθ",
  "отв",
  "fwd",
  "השב",
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

/** One leading prefix: a bracketed tag, or a reply/forward word with an optional counter and a colon. */
const leadingPrefix = new RegExp(
  `^\\s*(?:\\[[^\\]]*\\]|【[^】]*】|(?:${escaped})\\s*(?:\\[\\d+\\]|\\(\\d+\\)|\\^\\d+)?\\s*[:：])\\s*`,
  "iu",
);
const trailingFwd = /\s*\((?:fwd|fw)\)\s*$/iu;

/**
 * H2: strips any number of reply/forward prefixes (any case, with or without counters, in the
 * common languages), bracketed list tags such as `[EXTERNAL]`, and a trailing `(fwd)`; collapses
 * whitespace; lower-cases. The result is only a comparison key, never shown.
 */
export function normalizeSubject(subject: string): string {
  let current = subject.normalize("NFC").replace(/\s+/g, " ");
  for (let guard = 0; guard < 100; guard++) {
    const next = current.replace(leadingPrefix, "").replace(trailingFwd, "");
    if (next === current) break;
    current = next;
  }
  return current.trim().toLowerCase();
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

const subjectWindowMs = 30 * 24 * 60 * 60 * 1000;

/** H1: the link keys of a message: its own and referenced Message-IDs, its provider conversations. */
export function threadKeys(message: ThreadingMessage): string[] {
  const keys = new Set<string>();
  if (message.messageId) keys.add(`mid:${message.messageId}`);
  for (const id of message.inReplyTo) keys.add(`mid:${id}`);
  for (const id of message.references) keys.add(`mid:${id}`);
  for (const thread of message.providerThreads) keys.add(`pt:${thread.mailboxId}:${thread.threadId}`);
  return [...keys];
}

/** True when a message has no header chain and no provider conversation: only then may its subject thread it. */
export function usesSubjectFallback(message: ThreadingMessage): boolean {
  return (
    message.inReplyTo.length === 0 && message.references.length === 0 && message.providerThreads.length === 0
  );
}

/**
 * H1 (third rule): two messages are linked by subject when at least one of them has no other
 * link, their normalised subjects are equal and non-empty, they share an external participant,
 * and they are at most 30 days apart. The relation is symmetric, which H3 relies on.
 */
export function subjectLinked(
  a: ThreadingMessage,
  b: ThreadingMessage,
  normalizedA = normalizeSubject(a.subject),
  normalizedB = normalizeSubject(b.subject),
): boolean {
  if (!usesSubjectFallback(a) && !usesSubjectFallback(b)) return false;
  if (normalizedA === "" || normalizedA !== normalizedB) return false;
  if (Math.abs(a.date.getTime() - b.date.getTime()) > subjectWindowMs) return false;
  return a.externalParticipants.some((address) => b.externalParticipants.includes(address));
}

interface SubjectEntry {
  message: ThreadingMessage;
  fallback: boolean;
}

/** The result of adding a message to a {@link ThreadIndex}. */
export interface ThreadAssignment {
  threadId: string;
  /** Thread ids that existed before this message and are now merged into `threadId`. */
  merged: string[];
}

/**
 * An in-memory thread partition with union–find. `threadId` of a thread is the smallest message
 * id in it, so it is the same whatever order the messages arrived in (H3).
 */
export class ThreadIndex {
  private readonly parent = new Map<string, string>();
  private readonly minId = new Map<string, string>();
  private readonly keyOwner = new Map<string, string>();
  private readonly bySubject = new Map<string, SubjectEntry[]>();
  private readonly messages = new Map<string, ThreadingMessage>();

  /** Adds a message (idempotent by id) and returns its thread and the threads it merged. */
  add(message: ThreadingMessage): ThreadAssignment {
    if (this.messages.has(message.id)) return { threadId: this.threadOf(message.id)!, merged: [] };
    this.messages.set(message.id, message);
    this.parent.set(message.id, message.id);
    this.minId.set(message.id, message.id);

    const before = new Set<string>();
    const link = (otherId: string) => {
      before.add(this.threadOf(otherId)!);
      this.union(message.id, otherId);
    };

    for (const key of threadKeys(message)) {
      const owner = this.keyOwner.get(key);
      if (owner === undefined) this.keyOwner.set(key, message.id);
      else link(owner);
    }

    const subject = normalizeSubject(message.subject);
    if (subject !== "") {
      const fallback = usesSubjectFallback(message);
      const bucket = this.bySubject.get(subject) ?? [];
      for (const entry of bucket) {
        if ((fallback || entry.fallback) && subjectLinked(message, entry.message, subject, subject))
          link(entry.message.id);
      }
      bucket.push({ message, fallback });
      this.bySubject.set(subject, bucket);
    }

    const threadId = this.threadOf(message.id)!;
    before.delete(threadId);
    return { threadId, merged: [...before] };
  }

  /** The thread id of a message, or undefined when the message is unknown. */
  threadOf(messageId: string): string | undefined {
    if (!this.parent.has(messageId)) return undefined;
    return this.minId.get(this.find(messageId));
  }

  /** Every thread: thread id -> message ids, sorted. */
  threads(): Map<string, string[]> {
    const result = new Map<string, string[]>();
    for (const id of this.messages.keys()) {
      const threadId = this.threadOf(id)!;
      const members = result.get(threadId) ?? [];
      members.push(id);
      result.set(threadId, members);
    }
    for (const members of result.values()) members.sort();
    return result;
  }

  private find(id: string): string {
    let root = id;
    while (this.parent.get(root) !== root) root = this.parent.get(root)!;
    let current = id;
    while (current !== root) {
      const next = this.parent.get(current)!;
      this.parent.set(current, root);
      current = next;
    }
    return root;
  }

  private union(a: string, b: string): void {
    const rootA = this.find(a);
    const rootB = this.find(b);
    if (rootA === rootB) return;
    const minA = this.minId.get(rootA)!;
    const minB = this.minId.get(rootB)!;
    this.parent.set(rootB, rootA);
    this.minId.set(rootA, minA < minB ? minA : minB);
    this.minId.delete(rootB);
  }
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
