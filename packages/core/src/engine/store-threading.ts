/**
 * H1–H3 over the store, one page at a time, inside the page's transaction.
 *
 * Threads are the connected components of H1's links. For a page, the messages it adds and the
 * threads they link to (by Message-ID chain and provider conversation keys, and by the subject
 * index) are joined with a union–find in memory; each component becomes one thread: the smallest
 * of its existing threads (the others are merged into it, H3) or a new one. Because every link is
 * symmetric and only ever added, the final partition depends on the set of messages and copies,
 * not on the order in which mailboxes and pages deliver them.
 *
 * The firm's threading lock ({@link ThreadStore.lockThreads}) is held from the first lookup to the
 * commit, so two workers never start two threads for linked messages at once.
 */
import type { FirmId, ThreadId } from "../domain/model.js";
import {
  subjectKeys,
  subjectWindowMs,
  threadKeys,
  usesSubjectFallback,
  type ThreadingMessage,
} from "../domain/threading.js";
import type { SubjectEntry, ThreadStore } from "../ports/store.js";

/** A merge that happened while threading, for the `thread.merged` event. */
export interface ThreadMerge {
  survivorId: ThreadId;
  mergedIds: ThreadId[];
}

/**
 * A copy of an already-filed message that brings what only it shows: its mailbox-scoped keys
 * (its conversation id here) and the subject entries of participants the filed record does not
 * show (a Bcc on the sender's copy). H1 links the message by all of them, whichever copy came first.
 */
export interface KnownCopy {
  threadId: ThreadId;
  keys: readonly string[];
  subjects?: readonly SubjectEntry[];
}

/** What {@link copySubjectEntries} reads of a filed message. */
export interface FiledThreadingRecord {
  from: ReadonlyArray<{ address: string }>;
  sender: ReadonlyArray<{ address: string }>;
  replyTo: ReadonlyArray<{ address: string }>;
  to: ReadonlyArray<{ address: string }>;
  cc: ReadonlyArray<{ address: string }>;
  bcc: ReadonlyArray<{ address: string }>;
  date: Date;
  inReplyTo: readonly string[];
  references: readonly string[];
}

/**
 * H1: the subject entries a copy of a filed message adds: those of its external participants the
 * filed record does not show (a Bcc on the sender's copy), dated and open as the record is, since
 * the first copy's headers stand for the message.
 */
export function copySubjectEntries(copy: ThreadingMessage, record: FiledThreadingRecord): SubjectEntry[] {
  if (Number.isNaN(record.date.getTime())) return [];
  const shown = new Set(
    [record.from, record.sender, record.replyTo, record.to, record.cc, record.bcc]
      .flat()
      .map((a) => a.address),
  );
  const added = copy.externalParticipants.filter((address) => !shown.has(address));
  if (added.length === 0) return [];
  const open = record.inReplyTo.length === 0 && record.references.length === 0;
  return subjectKeys({ ...copy, externalParticipants: added }).map((key) => ({ key, at: record.date, open }));
}

/** The outcome of threading a page. */
export interface ThreadedPage {
  /** The thread of each new message, by its id. */
  threadOf: Map<string, ThreadId>;
  /** The current id of a thread that existed before the page (merged ones lead to their survivor). */
  resolve(threadId: ThreadId): ThreadId;
  merges: ThreadMerge[];
}

/** Union–find over nodes numbered from 0: the page's messages first, then the threads they reach. */
class UnionFind {
  private readonly parent: number[] = [];

  add(): number {
    const node = this.parent.length;
    this.parent.push(node);
    return node;
  }

  find(node: number): number {
    let root = node;
    while (this.parent[root] !== root) root = this.parent[root]!;
    let current = node;
    while (current !== root) {
      const next = this.parent[current]!;
      this.parent[current] = root;
      current = next;
    }
    return root;
  }

  union(a: number, b: number): void {
    const rootA = this.find(a);
    const rootB = this.find(b);
    if (rootA !== rootB) this.parent[rootB] = rootA;
  }
}

/**
 * Threads the new messages of a page and attaches the new keys of known copies (their provider
 * conversation in this mailbox), merging threads that the page links (H3). Call inside the page's
 * transaction; takes the firm's threading lock.
 */
export async function threadPage(
  tx: ThreadStore,
  firmId: FirmId,
  messages: readonly ThreadingMessage[],
  knownCopies: readonly KnownCopy[],
): Promise<ThreadedPage> {
  const merges: ThreadMerge[] = [];
  const survivorOf = new Map<ThreadId, ThreadId>();
  const resolve = (threadId: ThreadId): ThreadId => {
    let current = threadId;
    for (let next = survivorOf.get(current); next !== undefined; next = survivorOf.get(current))
      current = next;
    return current;
  };
  if (
    messages.length === 0 &&
    knownCopies.every((copy) => copy.keys.length === 0 && (copy.subjects?.length ?? 0) === 0)
  )
    return { threadOf: new Map(), resolve, merges };
  await tx.lockThreads(firmId);

  // Each message's keys and subject entries are built once: the same strings go to the lookups
  // and to the attach calls (a string's hash is computed once), and the entries probed are the
  // entries indexed.
  const links: string[][] = [];
  // Each link key of the page, with the node that names it first (message i is node i). A key
  // only known copies name gets its first copy's node once threads are numbered (-1 until then),
  // and a key handed to the store for attaching is marked -2.
  const firstByKey = new Map<string, number>();
  // Every subject entry of the page: a new message's (owner: its index) or a known copy's
  // (owner: its thread).
  const probes: SubjectEntry[] = [];
  const probeOwner: Array<number | ThreadId> = [];
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index]!;
    const keys = threadKeys(message);
    links.push(keys);
    for (const key of keys) if (!firstByKey.has(key)) firstByKey.set(key, index);
    if (Number.isNaN(message.date.getTime())) continue;
    const open = usesSubjectFallback(message);
    for (const key of subjectKeys(message)) {
      probes.push({ key, at: message.date, open });
      probeOwner.push(index);
    }
  }
  for (const copy of knownCopies) {
    for (const key of copy.keys) if (!firstByKey.has(key)) firstByKey.set(key, -1);
    for (const entry of copy.subjects ?? []) {
      if (Number.isNaN(entry.at.getTime())) continue;
      probes.push(entry);
      probeOwner.push(copy.threadId);
    }
  }
  const [keyThreads, subjectThreads] = await Promise.all([
    firstByKey.size > 0
      ? tx.findThreadsByKeys(firmId, [...firstByKey.keys()])
      : Promise.resolve(new Map<string, ThreadId>()),
    probes.length > 0
      ? tx.findSubjectThreads(firmId, probes, subjectWindowMs)
      : Promise.resolve([] as ThreadId[][]),
  ]);

  // Message i of the page is node i; each thread the page reaches gets the next free node.
  const components = new UnionFind();
  for (let i = 0; i < messages.length; i++) components.add();
  const threadNodes = new Map<ThreadId, number>();
  const threadNode = (threadId: ThreadId): number => {
    let node = threadNodes.get(threadId);
    if (node === undefined) threadNodes.set(threadId, (node = components.add()));
    return node;
  };
  const link = (node: number, key: string) => {
    const existing = keyThreads.get(key);
    if (existing !== undefined) components.union(threadNode(existing), node);
    const first = firstByKey.get(key)!;
    if (first === -1) firstByKey.set(key, node);
    else if (first !== node) components.union(first, node);
  };
  links.forEach((keys, node) => {
    for (const key of keys) link(node, key);
  });
  for (const copy of knownCopies) {
    const node = threadNode(copy.threadId);
    for (const key of copy.keys) link(node, key);
  }
  const ownerNode = (owner: number | ThreadId): number =>
    typeof owner === "number" ? owner : threadNode(owner);
  subjectThreads.forEach((threads, probe) => {
    const node = ownerNode(probeOwner[probe]!);
    for (const threadId of threads) components.union(threadNode(threadId), node);
  });
  // H1 between two subject entries of the page: same key, within the window, one of them open.
  const bySubjectKey = new Map<string, number[]>();
  probes.forEach((probe, index) => {
    const members = bySubjectKey.get(probe.key);
    if (members === undefined) bySubjectKey.set(probe.key, [index]);
    else members.push(index);
  });
  for (const members of bySubjectKey.values()) {
    for (let i = 0; i < members.length; i++) {
      for (let j = i + 1; j < members.length; j++) {
        const a = probes[members[i]!]!;
        const b = probes[members[j]!]!;
        if (!a.open && !b.open) continue;
        if (Math.abs(a.at.getTime() - b.at.getTime()) > subjectWindowMs) continue;
        components.union(ownerNode(probeOwner[members[i]!]!), ownerNode(probeOwner[members[j]!]!));
      }
    }
  }

  // One thread per component: the smallest existing thread survives, or a new one starts.
  const existingIn = new Map<number, ThreadId[]>();
  const consider = (threadId: ThreadId) => {
    const root = components.find(threadNode(threadId));
    const list = existingIn.get(root) ?? [];
    if (!list.includes(threadId)) list.push(threadId);
    existingIn.set(root, list);
  };
  for (const threadId of keyThreads.values()) consider(threadId);
  for (const threads of subjectThreads) for (const threadId of threads) consider(threadId);
  for (const copy of knownCopies) consider(copy.threadId);

  const threadOfRoot = new Map<number, ThreadId>();
  for (const [root, threads] of existingIn) {
    const sorted = [...threads].sort();
    const survivor = sorted[0]!;
    threadOfRoot.set(root, survivor);
    if (sorted.length > 1) {
      const mergedIds = sorted.slice(1);
      await tx.mergeThreads(firmId, survivor, mergedIds);
      for (const gone of mergedIds) survivorOf.set(gone, survivor);
      merges.push({ survivorId: survivor, mergedIds });
    }
  }
  // Components with no existing thread start new ones, created in one call.
  const newRoots = new Set<number>();
  for (let node = 0; node < messages.length; node++) {
    const root = components.find(node);
    if (!threadOfRoot.has(root)) newRoots.add(root);
  }
  const created = await tx.createThreads(firmId, newRoots.size);
  [...newRoots].forEach((root, index) => threadOfRoot.set(root, created[index]!));

  const threadOfNode: ThreadId[] = [];
  for (let node = 0; node < messages.length; node++)
    threadOfNode.push(threadOfRoot.get(components.find(node))!);
  // The keys no thread has yet, each once, by the node that named it first: nodes sharing a key
  // are in one component, so the first one's thread is every one's.
  const pendingKeys = new Map<ThreadId, string[]>();
  const addKeys = (threadId: ThreadId, node: number, keys: readonly string[]) => {
    let list: string[] | undefined;
    for (const key of keys) {
      if (firstByKey.get(key) !== node || keyThreads.has(key)) continue;
      firstByKey.set(key, -2);
      list ??= pendingKeys.get(threadId);
      if (list === undefined) pendingKeys.set(threadId, (list = []));
      list.push(key);
    }
  };
  links.forEach((keys, node) => addKeys(threadOfNode[node]!, node, keys));
  for (const copy of knownCopies) addKeys(resolve(copy.threadId), threadNode(copy.threadId), copy.keys);

  // Every thread's new keys in one call. Under the firm's lock no other page can have taken
  // these keys; a conflict would mean a writer that does not lock, and the two threads are then
  // one conversation all the same.
  const attach = [...pendingKeys];
  const conflicts =
    attach.length === 0
      ? []
      : await tx.attachThreadKeysBatch(
          firmId,
          attach.map(([threadId, keys]) => ({ threadId, keys })),
        );
  for (const [index, [threadId]] of attach.entries()) {
    const survivor = resolve(threadId);
    const others = [...new Set(conflicts[index]!.map((c) => resolve(c.threadId)))].filter(
      (t) => t !== survivor,
    );
    if (others.length > 0) {
      await tx.mergeThreads(firmId, survivor, others);
      for (const gone of others) survivorOf.set(gone, survivor);
      merges.push({ survivorId: survivor, mergedIds: others });
    }
  }
  // The page's subject entries (the probes themselves), under their threads as they now stand.
  const subjects = new Map<ThreadId, SubjectEntry[]>();
  probes.forEach((entry, probe) => {
    const owner = probeOwner[probe]!;
    const threadId = resolve(typeof owner === "number" ? threadOfNode[owner]! : owner);
    const entries = subjects.get(threadId);
    if (entries === undefined) subjects.set(threadId, [entry]);
    else entries.push(entry);
  });
  if (subjects.size > 0)
    await tx.addSubjectEntriesBatch(
      firmId,
      [...subjects].map(([threadId, entries]) => ({ threadId, entries })),
    );
  const threadOf = new Map<string, ThreadId>();
  messages.forEach((message, node) => threadOf.set(message.id, resolve(threadOfNode[node]!)));
  return { threadOf, resolve, merges };
}
