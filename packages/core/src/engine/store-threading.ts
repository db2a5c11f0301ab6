/**
 * H1–H3 over the store, a page at a time. The thread of a new message is the union of the
 * threads its link keys already belong to (merged when there are several: H3), or a new thread.
 * The subject rule uses keys per (normalised subject, external participant) in two namespaces —
 * `subj-u:` published by messages without other links, `subj-l:` by the others — so a pair is
 * linked by subject only when at least one of the two has no other link; the 30-day window is
 * checked against the candidate thread's messages.
 *
 * The whole page is threaded in memory: one key lookup for the page, then one key write per
 * thread, instead of several round trips per message.
 */
import type { FirmId, ThreadId } from "../domain/model.js";
import {
  normalizeSubject,
  threadKeys,
  usesSubjectFallback,
  type ThreadingMessage,
} from "../domain/threading.js";
import type { Store } from "../ports/store.js";

const subjectWindowMs = 30 * 24 * 60 * 60 * 1000;

/** A merge that happened while threading, for the `thread.merged` event. */
export interface ThreadMerge {
  survivorId: ThreadId;
  mergedIds: ThreadId[];
}

interface Prepared {
  message: ThreadingMessage;
  subject: string;
  linkKeys: string[];
  ownSubjectKeys: string[];
  lookupSubjectKeys: string[];
}

function prepare(message: ThreadingMessage): Prepared {
  const subject = normalizeSubject(message.subject);
  const fallback = usesSubjectFallback(message);
  const subjectKeys = (namespace: "u" | "l") =>
    subject === "" ? [] : message.externalParticipants.map((p) => `subj-${namespace}:${subject}:${p}`);
  return {
    message,
    subject,
    linkKeys: threadKeys(message),
    ownSubjectKeys: subjectKeys(fallback ? "u" : "l"),
    lookupSubjectKeys: fallback ? [...subjectKeys("u"), ...subjectKeys("l")] : subjectKeys("u"),
  };
}

/** Threads the new messages of one page inside the page's transaction. */
export class PageThreader {
  private readonly keyThread = new Map<string, ThreadId>();
  private readonly survivorOf = new Map<ThreadId, ThreadId>();
  private readonly pendingKeys = new Map<ThreadId, Set<string>>();
  private readonly pageMembers = new Map<ThreadId, Array<{ subject: string; date: Date }>>();
  private readonly createdHere = new Set<ThreadId>();
  readonly merges: ThreadMerge[] = [];

  private constructor(
    private readonly tx: Store,
    private readonly firmId: FirmId,
    private readonly prepared: Map<string, Prepared>,
  ) {}

  /** Looks up, in one call, every key the page's messages can link through. */
  static async start(
    tx: Store,
    firmId: FirmId,
    messages: readonly ThreadingMessage[],
  ): Promise<PageThreader> {
    const prepared = new Map(messages.map((m) => [m.id, prepare(m)]));
    const threader = new PageThreader(tx, firmId, prepared);
    const keys = new Set<string>();
    for (const p of prepared.values())
      for (const key of [...p.linkKeys, ...p.lookupSubjectKeys]) keys.add(key);
    if (keys.size > 0) {
      for (const [key, threadId] of await tx.findThreadsByKeys(firmId, [...keys]))
        threader.keyThread.set(key, threadId);
    }
    return threader;
  }

  /** The current id of a thread, following merges. */
  resolve(threadId: ThreadId): ThreadId {
    let current = threadId;
    while (this.survivorOf.has(current)) current = this.survivorOf.get(current)!;
    return current;
  }

  /** Assigns the thread of one message of the page (passed to {@link start}). */
  async assign(messageId: string): Promise<ThreadId> {
    const p = this.prepared.get(messageId);
    if (!p) throw new Error(`message ${messageId} was not prepared for threading`);
    const threads = new Set<ThreadId>();
    for (const key of p.linkKeys) {
      const threadId = this.keyThread.get(key);
      if (threadId) threads.add(this.resolve(threadId));
    }
    for (const key of p.lookupSubjectKeys) {
      const found = this.keyThread.get(key);
      if (!found) continue;
      const threadId = this.resolve(found);
      if (threads.has(threadId)) continue;
      if (await this.withinWindow(threadId, p)) threads.add(threadId);
    }

    let survivor: ThreadId;
    if (threads.size === 0) {
      survivor = await this.tx.createThread(this.firmId);
      this.createdHere.add(survivor);
    } else {
      const sorted = [...threads].sort();
      survivor = sorted[0]!;
      if (sorted.length > 1) await this.merge(survivor, sorted.slice(1));
    }
    const pending = this.pendingKeys.get(survivor) ?? new Set<string>();
    for (const key of [...p.linkKeys, ...p.ownSubjectKeys]) {
      if (this.keyThread.has(key)) continue;
      this.keyThread.set(key, survivor);
      pending.add(key);
    }
    this.pendingKeys.set(survivor, pending);
    const members = this.pageMembers.get(survivor) ?? [];
    members.push({ subject: p.message.subject, date: p.message.date });
    this.pageMembers.set(survivor, members);
    return survivor;
  }

  /**
   * Writes the page's new keys, one call per thread. A key that another worker attached to
   * another thread meanwhile means the two threads are one conversation: they are merged (H3).
   */
  async finish(): Promise<void> {
    for (const [threadId, keys] of this.pendingKeys) {
      if (keys.size === 0) continue;
      const survivor = this.resolve(threadId);
      const conflicts = await this.tx.attachThreadKeys(this.firmId, survivor, [...keys]);
      const others = [
        ...new Set(conflicts.filter((c) => !c.key.startsWith("subj-")).map((c) => c.threadId)),
      ].filter((t) => t !== survivor);
      if (others.length > 0) await this.merge(survivor, others);
    }
  }

  private async merge(survivor: ThreadId, mergedIds: ThreadId[]): Promise<void> {
    await this.tx.mergeThreads(this.firmId, survivor, mergedIds);
    this.merges.push({ survivorId: survivor, mergedIds });
    if (mergedIds.some((id) => !this.createdHere.has(id))) this.createdHere.delete(survivor);
    for (const gone of mergedIds) {
      this.survivorOf.set(gone, survivor);
      const keys = this.pendingKeys.get(gone);
      if (keys) {
        const target = this.pendingKeys.get(survivor) ?? new Set<string>();
        keys.forEach((k) => target.add(k));
        this.pendingKeys.set(survivor, target);
        this.pendingKeys.delete(gone);
      }
      const members = this.pageMembers.get(gone);
      if (members) {
        this.pageMembers.set(survivor, [...(this.pageMembers.get(survivor) ?? []), ...members]);
        this.pageMembers.delete(gone);
      }
    }
  }

  private async withinWindow(threadId: ThreadId, p: Prepared): Promise<boolean> {
    const stored = this.createdHere.has(threadId)
      ? []
      : await this.tx.listThreadMessages(this.firmId, threadId);
    const members = [...stored, ...(this.pageMembers.get(threadId) ?? [])];
    return members.some(
      (m) =>
        normalizeSubject(m.subject) === p.subject &&
        Math.abs(m.date.getTime() - p.message.date.getTime()) <= subjectWindowMs,
    );
  }
}
