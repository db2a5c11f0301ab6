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
 * H1 (rules 1 and 2), the one place that says which ids link messages: every Message-ID a
 * message has or refers to (In-Reply-To, References), and its provider conversations, each
 * scoped to its mailbox. {@link threadKeys} spells them as keys; {@link ThreadIndex} looks them up
 * as they are, which saves building a string per key.
 */
function forEachLink(
  message: ThreadingMessage,
  onMessageId: (id: string) => void,
  onConversation: (mailboxId: string, threadId: string) => void,
): void {
  if (message.messageId) onMessageId(message.messageId);
  for (const id of message.inReplyTo) onMessageId(id);
  for (const id of message.references) onMessageId(id);
  for (const thread of message.providerThreads) onConversation(thread.mailboxId, thread.threadId);
}

/**
 * H1 (rules 1 and 2): the link keys of a message: `mid:<id>` for its own Message-ID and every id
 * it refers to (In-Reply-To, References), and `pt:<mailbox>:<thread>` for its provider
 * conversations. Two messages (or copies) sharing a key are in one thread.
 */
export function threadKeys(message: ThreadingMessage): string[] {
  const keys = new Set<string>();
  forEachLink(
    message,
    (id) => keys.add(`mid:${id}`),
    (mailboxId, threadId) => keys.add(`pt:${mailboxId}:${threadId}`),
  );
  return [...keys];
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

/** A message in one subject key's date order; ties are broken by id so the order is total. */
interface DatedEntry {
  time: number;
  id: string;
  node: number;
}

function compareEntries(a: DatedEntry, b: DatedEntry): number {
  if (a.time !== b.time) return a.time - b.time;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The index of the first entry that is not before `probe`. */
function lowerBound(entries: readonly DatedEntry[], probe: DatedEntry): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareEntries(entries[mid]!, probe) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The index of the first entry dated after `time`. */
function firstAfter(entries: readonly DatedEntry[], time: number): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (entries[mid]!.time <= time) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The index of the first entry dated at or after `time`. */
function firstFrom(entries: readonly DatedEntry[], time: number): number {
  return firstAfter(entries, time - 1);
}

/**
 * The messages sharing one subject key, by date. "Open" messages have no header chain
 * ({@link usesSubjectFallback}); "closed" ones do and link only to open ones. `unattached` holds
 * the closed messages with no open message within the window yet.
 */
interface SubjectBucket {
  open: DatedEntry[];
  closed: DatedEntry[];
  unattached: DatedEntry[];
}

/**
 * Shared by every bucket list that is empty: most subject keys hold one or two messages, and a
 * million messages would otherwise allocate a million empty arrays. Never mutated; see {@link inserted}.
 */
const noEntries = Object.freeze([]) as unknown as DatedEntry[];

/** `list` with `entry` inserted at `at`: in place, or a new array when `list` is empty. */
function inserted(list: DatedEntry[], at: number, entry: DatedEntry): DatedEntry[] {
  if (list.length === 0) return [entry];
  list.splice(at, 0, entry);
  return list;
}

/** The result of adding a message to a {@link ThreadIndex}. */
export interface ThreadAssignment {
  threadId: string;
  /** Thread ids that existed before this message and are now merged into `threadId`. */
  merged: string[];
}

/**
 * An in-memory thread partition (H1–H3) with union–find. The `threadId` of a thread is the
 * smallest message id in it, so it is the same whatever order the messages arrived in (H3).
 *
 * The subject rule is applied per subject key with a sweep instead of comparing every pair that
 * shares a subject (which made 1M firm-like messages take minutes). After every `add` the
 * union–find holds exactly the components of the pairwise rule; adding message `m` only needs:
 *
 * - open and closed `m`: a link to the nearest open message before and after it within the
 *   window. Open messages within the window on one side are consecutive, and any two consecutive
 *   ones are within the window of each other, so they are already connected;
 * - open `m` additionally: a link to every closed message within its window that no open
 *   message reached yet (each closed message leaves that set once, so this is linear overall),
 *   and a link to the nearest open message before (after) it when a closed message lies within
 *   the window of both: that closed message already joins the neighbour and now joins `m`.
 *
 * Closed messages already reached by an open message are connected to `m` through one of these
 * links, so no other pair needs looking at. `threading.test.ts` checks this against the pairwise
 * definition with a property over random forests.
 */
export class ThreadIndex {
  private readonly nodeOf = new Map<string, number>();
  private readonly ids: string[] = [];
  private readonly parent: number[] = [];
  /** For a root: the number of messages in its component (union by size keeps trees shallow). */
  private readonly size: number[] = [];
  /** For a root: the smallest message id of its component. */
  private readonly minId: string[] = [];
  /** Per message: its date in ms, and whether it has no header chain ({@link usesSubjectFallback}). */
  private readonly times: number[] = [];
  private readonly open: boolean[] = [];
  /** Message-ID -> the first message that had or referred to it. */
  private readonly messageIdOwner = new Map<string, number>();
  /** Mailbox -> provider conversation -> the first message seen in it. */
  private readonly conversationOwner = new Map<string, Map<string, number>>();
  /**
   * Normalised subject -> external participant -> bucket: the {@link subjectKeys} of a message,
   * held as nested maps so that no key string is built per message.
   */
  private readonly buckets = new Map<string, Map<string, SubjectBucket>>();

  /**
   * Adds a message and returns its thread and the threads it merged. Adding a copy of a known
   * message (same `id`, seen in another mailbox) adds what only the copy carries — its provider
   * conversations, participants only it shows (Bcc on a sent copy) — and may merge threads too;
   * the first copy's date and headers stand, as copies of one message share them.
   */
  add(message: ThreadingMessage): ThreadAssignment {
    let node = this.nodeOf.get(message.id);
    const copy = node !== undefined;
    if (node === undefined) {
      node = this.ids.length;
      this.nodeOf.set(message.id, node);
      this.ids.push(message.id);
      this.parent.push(node);
      this.size.push(1);
      this.minId.push(message.id);
      this.times.push(message.date.getTime());
      this.open.push(usesSubjectFallback(message));
    }
    this.current = node;
    this.mergedHere = [];

    forEachLink(message, this.onMessageId, this.onConversation);

    const entry: DatedEntry = { time: this.times[node]!, id: message.id, node };
    const subject = normalizeSubject(message.subject);
    // A message without a valid date is within 30 days of nothing: the subject cannot link it.
    if (subject !== "" && !Number.isNaN(entry.time)) {
      let byParticipant = this.buckets.get(subject);
      if (!byParticipant) this.buckets.set(subject, (byParticipant = new Map()));
      const open = this.open[node]!;
      const participants = message.externalParticipants;
      for (let i = 0; i < participants.length; i++) {
        const participant = participants[i]!;
        if (participants.indexOf(participant) !== i) continue; // listed twice
        let bucket = byParticipant.get(participant);
        if (!bucket)
          byParticipant.set(
            participant,
            (bucket = { open: noEntries, closed: noEntries, unattached: noEntries }),
          );
        if (copy) {
          const sameKind = open ? bucket.open : bucket.closed;
          if (sameKind[lowerBound(sameKind, entry)]?.node === node) continue; // an earlier copy is in
        }
        if (open) this.addOpen(bucket, entry);
        else this.addClosed(bucket, entry);
      }
    }

    // Each linked thread is listed once: after its union it is no longer a separate root.
    const threadId = this.minId[this.find(node)]!;
    return { threadId, merged: this.mergedHere.filter((id) => id !== threadId) };
  }

  /** The message being added, and the threads it merged so far (state of {@link add}). */
  private current = 0;
  private mergedHere: string[] = [];

  /** Joins the thread of `other` to the message being added. */
  private link(other: number): void {
    const otherRoot = this.find(other);
    if (otherRoot === this.find(this.current)) return;
    this.mergedHere.push(this.minId[otherRoot]!);
    this.union(this.current, otherRoot);
  }

  // Created once rather than per message: {@link add} runs a million times in a backfill.
  private readonly onMessageId = (id: string): void => {
    const owner = this.messageIdOwner.get(id);
    if (owner === undefined) this.messageIdOwner.set(id, this.current);
    else this.link(owner);
  };

  private readonly onConversation = (mailboxId: string, threadId: string): void => {
    let owners = this.conversationOwner.get(mailboxId);
    if (!owners) this.conversationOwner.set(mailboxId, (owners = new Map()));
    const owner = owners.get(threadId);
    if (owner === undefined) owners.set(threadId, this.current);
    else this.link(owner);
  };

  /** The thread id of a message, or undefined when the message is unknown. */
  threadOf(messageId: string): string | undefined {
    const node = this.nodeOf.get(messageId);
    return node === undefined ? undefined : this.minId[this.find(node)];
  }

  /** Every thread: thread id -> message ids, sorted. */
  threads(): Map<string, string[]> {
    const byRoot = new Map<number, string[]>();
    for (let node = 0; node < this.ids.length; node++) {
      const root = this.find(node);
      const members = byRoot.get(root);
      if (members) members.push(this.ids[node]!);
      else byRoot.set(root, [this.ids[node]!]);
    }
    const result = new Map<string, string[]>();
    for (const [root, members] of byRoot) result.set(this.minId[root]!, members.sort());
    return result;
  }

  private addClosed(bucket: SubjectBucket, entry: DatedEntry): void {
    const at = lowerBound(bucket.open, entry);
    const previous = bucket.open[at - 1];
    const next = bucket.open[at];
    let attached = false;
    if (previous && entry.time - previous.time <= subjectWindowMs) {
      this.link(previous.node);
      attached = true;
    }
    if (next && next.time - entry.time <= subjectWindowMs) {
      this.link(next.node);
      attached = true;
    }
    bucket.closed = inserted(bucket.closed, lowerBound(bucket.closed, entry), entry);
    if (!attached)
      bucket.unattached = inserted(bucket.unattached, lowerBound(bucket.unattached, entry), entry);
  }

  private addOpen(bucket: SubjectBucket, entry: DatedEntry): void {
    const at = lowerBound(bucket.open, entry);
    const previous = bucket.open[at - 1];
    const next = bucket.open[at];
    if (previous && this.joins(bucket, previous, entry)) this.link(previous.node);
    if (next && this.joins(bucket, entry, next)) this.link(next.node);

    // Closed messages no open message reached yet: each is linked here, and only once.
    const from = firstFrom(bucket.unattached, entry.time - subjectWindowMs);
    const to = firstAfter(bucket.unattached, entry.time + subjectWindowMs);
    for (let i = from; i < to; i++) this.link(bucket.unattached[i]!.node);
    if (to > from) bucket.unattached.splice(from, to - from);

    bucket.open = inserted(bucket.open, at, entry);
  }

  /**
   * True when two consecutive open messages of a bucket are connected through the subject rule:
   * directly, within the window, or through a closed message within the window of both. Such a
   * closed message lies strictly between the two in time, so no other open message can be
   * between it and either of them.
   */
  private joins(bucket: SubjectBucket, earlier: DatedEntry, later: DatedEntry): boolean {
    if (later.time - earlier.time <= subjectWindowMs) return true;
    const candidate = bucket.closed[firstFrom(bucket.closed, later.time - subjectWindowMs)];
    return candidate !== undefined && candidate.time <= earlier.time + subjectWindowMs;
  }

  private find(node: number): number {
    let root = node;
    while (this.parent[root] !== root) root = this.parent[root]!;
    let current = node;
    while (current !== root) {
      const up = this.parent[current]!;
      this.parent[current] = root;
      current = up;
    }
    return root;
  }

  private union(a: number, b: number): void {
    let root = this.find(a);
    let child = this.find(b);
    if (root === child) return;
    if (this.size[root]! < this.size[child]!) [root, child] = [child, root];
    const minRoot = this.minId[root]!;
    const minChild = this.minId[child]!;
    this.parent[child] = root;
    this.size[root]! += this.size[child]!;
    if (minChild < minRoot) this.minId[root] = minChild;
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
