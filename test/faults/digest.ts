/**
 * The fault suite's measure: a canonical digest of what a firm ended up with — per account the
 * filed messages, the thread partition, the attachments saved to the document sink (duplicates
 * counted), the notifications created, the quarantine — and the comparison of two digests as
 * counts of lost, duplicated, wrong-account and extra items.
 *
 * Everything is named so that two runs on different firms compare: accounts and members by name,
 * mailboxes by label, messages by the corpus tag in their subject (see `corpus.ts`).
 */
import type { FiledMessage, JobQueue, Store } from "@clientmail/core/ports";
import type { FolderDocumentSink, SqlQueryable } from "@clientmail/testkit";
import { tagOf, type Corpus } from "./corpus.js";

export interface FaultDigest {
  /** Account name → message identity → how many distinct records hold it there. */
  filed: Record<string, Record<string, number>>;
  /** Message identity → distinct records of the firm that hold it. */
  records: Record<string, number>;
  /** Threads as sorted lists of identities, sorted. */
  threads: string[][];
  /** `account|content hash` (of the bytes written) → documents the sink holds. */
  attachments: Record<string, number>;
  /**
   * `save` calls the sink received. More calls than documents are allowed (R8: a save job may
   * run again after a crash; the sink keeps one document); reported, never compared.
   */
  documentSaves: number;
  /** `member|kind|identity` → notifications. */
  notifications: Record<string, number>;
  /** `mailbox|reason|identity` → quarantine entries. */
  quarantine: Record<string, number>;
  /** Audit entries recording a Message-ID shared by different messages (R5). */
  collisions: number;
  /** Mailbox label → sync status. */
  states: Record<string, string>;
  /**
   * Dead letters of the firm's job queue, `job name|last error` → count: work given up on (R8
   * says every side effect is carried out), so each one counts as lost.
   */
  deadLetters: Record<string, number>;
}

/**
 * How a message is known across runs: its corpus tag (in the subject, else in its Message-ID,
 * for the corpus's few messages whose subjects are alike on purpose), else Message-ID and subject.
 */
export function identityOf(message: Pick<FiledMessage, "subject" | "messageId">): string {
  return (
    tagOf(message.subject) ??
    tagOf(message.messageId ?? "") ??
    `${message.messageId ?? "-"}|${message.subject}`
  );
}

/** The store's quarantine (R2), read through the one method this suite needs. */
interface QuarantineReader {
  listQuarantine(
    firmId: string,
    filter?: { mailboxId?: string },
  ): Promise<Array<{ mailboxId: string; providerId: string; reason: string }>>;
}

/**
 * Reads the quarantine. The single place that knows how: `Store.listQuarantine` (R2); a store
 * without it has an empty quarantine.
 */
export async function quarantineEntries(
  store: Store,
  firmId: string,
): Promise<Array<{ mailboxId: string; providerId: string; reason: string }>> {
  const reader = store as Partial<QuarantineReader>;
  return typeof reader.listQuarantine === "function" ? await reader.listQuarantine.call(store, firmId) : [];
}

/** The message record a notification is about, if any (today `payload.messageRecordId`). */
function notifiedRecordId(notification: { payload: Record<string, unknown> }): string | undefined {
  const { payload } = notification;
  const id = payload.messageRecordId ?? payload.messageId;
  return typeof id === "string" ? id : undefined;
}

export interface DigestSources {
  store: Store;
  firmId: string;
  accounts: ReadonlyMap<string, string>;
  members: ReadonlyMap<string, string>;
  mailboxes: ReadonlyMap<string, string>;
  documents: FolderDocumentSink;
  /** The firm's job queue (its own database's), for dead letters. */
  queue?: JobQueue | undefined;
  /** Resolves a quarantined copy to its message identity (undefined: unknown). */
  identityOfCopy?: ((mailboxId: string, providerId: string) => Promise<string | undefined>) | undefined;
}

function bump(map: Record<string, number>, key: string, by = 1): void {
  map[key] = (map[key] ?? 0) + by;
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Reads the digest of a firm from the store and the document folder. */
export async function digestFirm(sources: DigestSources): Promise<FaultDigest> {
  const { store, firmId } = sources;
  const messages = new Map<string, FiledMessage>();
  for (const accountId of sources.accounts.keys()) {
    for (const view of await store.listAccountThreads(firmId, accountId, { view: "inbox", limit: 100_000 }))
      for (const message of view.messages) messages.set(message.id, message);
  }
  const filed: Record<string, Record<string, number>> = {};
  const recordsOf = new Map<string, Set<string>>();
  const threads = new Map<string, Set<string>>();
  for (const message of messages.values()) {
    const identity = identityOf(message);
    for (const filing of message.filings) {
      const account = sources.accounts.get(filing.accountId) ?? `?${filing.accountId}`;
      bump((filed[account] ??= {}), identity);
    }
    (recordsOf.get(identity) ?? recordsOf.set(identity, new Set()).get(identity)!).add(message.id);
    (threads.get(message.threadId) ?? threads.set(message.threadId, new Set()).get(message.threadId)!).add(
      identity,
    );
  }
  const records: Record<string, number> = {};
  for (const [identity, ids] of recordsOf) records[identity] = ids.size;

  const attachments: Record<string, number> = {};
  for (const document of await sources.documents.list()) {
    if (document.firmId !== "" && document.firmId !== firmId) continue;
    const account = sources.accounts.get(document.accountId) ?? `?${document.accountId}`;
    bump(attachments, `${account}|${document.writtenHash}`);
  }

  const documentSaves = (await sources.documents.saveCalls()).length;

  const notifications: Record<string, number> = {};
  for (const [memberId, member] of sources.members) {
    for (const notification of await store.listNotifications(firmId, memberId, new Date(8.64e15))) {
      const recordId = notifiedRecordId(notification);
      const mailboxId = notification.payload.mailboxId;
      let identity =
        typeof mailboxId === "string" ? `mailbox:${sources.mailboxes.get(mailboxId) ?? mailboxId}` : "-";
      if (recordId) {
        const message = messages.get(recordId) ?? (await store.getMessage(firmId, recordId));
        identity = message ? identityOf(message) : `?${recordId}`;
      }
      bump(notifications, `${member}|${notification.kind}|${identity}`);
    }
  }

  const quarantine: Record<string, number> = {};
  for (const entry of await quarantineEntries(store, firmId)) {
    const mailbox = sources.mailboxes.get(entry.mailboxId) ?? `?${entry.mailboxId}`;
    const identity =
      (await sources.identityOfCopy?.(entry.mailboxId, entry.providerId)) ?? `?${entry.providerId}`;
    bump(quarantine, `${mailbox}|${entry.reason}|${identity}`);
  }

  const collisions = (await store.listAudit(firmId, 100_000)).filter(
    (entry) => entry.action === "message.id_collision",
  ).length;

  const states: Record<string, string> = {};
  for (const [mailboxId, label] of sources.mailboxes)
    states[label] = (await store.getMailbox(firmId, mailboxId))?.state.status ?? "missing";

  const deadLetters: Record<string, number> = {};
  for (const job of (await sources.queue?.listFailed({ limit: 1_000 })) ?? [])
    bump(deadLetters, `${job.name}|${job.lastError}`);

  return {
    filed: sortedRecord(Object.fromEntries(Object.entries(filed).map(([k, v]) => [k, sortedRecord(v)]))),
    records: sortedRecord(records),
    threads: [...threads.values()].map((set) => [...set].sort()).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    attachments: sortedRecord(attachments),
    documentSaves,
    notifications: sortedRecord(notifications),
    quarantine: sortedRecord(quarantine),
    collisions,
    states: sortedRecord(states),
    deadLetters: sortedRecord(deadLetters),
  };
}

/**
 * The digest a correct sync of `corpus` must produce for what the corpus alone decides (F1, F4,
 * F9): filed messages and saved attachments. Threads and notifications are left empty: compare
 * with `parts: ["filed", "attachments"]`.
 */
export function expectedDigest(corpus: Corpus, autoSaving: ReadonlySet<string>): FaultDigest {
  const filed: Record<string, Record<string, number>> = {};
  const records: Record<string, number> = {};
  const attachments: Record<string, number> = {};
  for (const message of corpus.messages) {
    if (message.accounts.length === 0) continue;
    records[message.tag] = 1;
    for (const account of message.accounts) (filed[account] ??= {})[message.tag] = 1;
    if (!message.copies.some((copy) => autoSaving.has(copy.mailbox))) continue;
    for (const account of message.accounts)
      for (const hash of message.attachments) attachments[`${account}|${hash}`] = 1;
  }
  return {
    filed: sortedRecord(Object.fromEntries(Object.entries(filed).map(([k, v]) => [k, sortedRecord(v)]))),
    records: sortedRecord(records),
    threads: [],
    attachments: sortedRecord(attachments),
    documentSaves: Object.keys(attachments).length,
    notifications: {},
    quarantine: {},
    collisions: 0,
    states: {},
    deadLetters: {},
  };
}

/**
 * Which of `needles` appear anywhere in the firm's rows — every table of the schema with a
 * `firm_id` column, read raw — whether or not the store would list them (F7 hides messages filed
 * through a link whose email sync is off; they are still stored).
 */
export async function storedNeedles(
  sql: SqlQueryable,
  firmId: string,
  needles: readonly string[],
): Promise<Set<string>> {
  const tables = (
    await sql.query(
      `SELECT table_name FROM information_schema.columns
       WHERE table_schema = current_schema() AND column_name = 'firm_id' ORDER BY table_name`,
    )
  ).rows.map((row) => (row as { table_name: string }).table_name);
  const found = new Set<string>();
  for (const table of tables) {
    const { rows } = await sql.query(
      `SELECT row_to_json(t)::text AS row FROM "${table.replace(/"/g, '""')}" t WHERE firm_id = $1`,
      [firmId],
    );
    for (const { row } of rows as Array<{ row: string }>)
      for (const needle of needles) if (!found.has(needle) && row.includes(needle)) found.add(needle);
  }
  return found;
}

/** The digest without some messages (and their notifications and places in threads). */
export function withoutMessages(digest: FaultDigest, identities: ReadonlySet<string>): FaultDigest {
  const keep = (identity: string) => !identities.has(identity);
  return {
    ...digest,
    filed: Object.fromEntries(
      Object.entries(digest.filed).map(([account, filed]) => [
        account,
        Object.fromEntries(Object.entries(filed).filter(([identity]) => keep(identity))),
      ]),
    ),
    records: Object.fromEntries(Object.entries(digest.records).filter(([identity]) => keep(identity))),
    threads: digest.threads.map((thread) => thread.filter(keep)).filter((thread) => thread.length > 0),
    notifications: Object.fromEntries(
      Object.entries(digest.notifications).filter(([key]) => keep(key.split("|").slice(2).join("|"))),
    ),
  };
}

/** What a run got wrong compared with the expected digest. */
export interface DigestDiff {
  /** Messages not filed in an account they belong to, attachments not saved, notifications not created. */
  lost: number;
  /** Second records of one message, second copies of one document, second notifications. */
  duplicated: number;
  /** Messages and documents in an account they do not belong to (while they belong to another). */
  wrongAccount: number;
  /** Messages, documents or notifications that should not exist at all. */
  extra: number;
  /** Expected threads that are not threads of the run (compared on the messages both have). */
  threadsDiffer: number;
  /** Readable lines saying what differed (up to 8 of each kind). */
  details: string[];
}

export interface CompareOptions {
  /** Which parts to compare. Default: filed, attachments, notifications, threads. */
  parts?: ReadonlyArray<"filed" | "attachments" | "notifications" | "threads">;
  /** Accounts left out of the comparison (e.g. one whose link was turned off mid-run). */
  ignoreAccounts?: ReadonlySet<string>;
  /**
   * Messages that may be quarantined instead of filed (R4), with their attachments' hashes: when
   * such a message is in the run's quarantine, its absence (and its documents' and
   * notifications') is not a loss. Filed, it must be filed exactly as expected.
   */
  quarantinable?: ReadonlyMap<string, readonly string[]>;
}

export function compareDigests(
  expected: FaultDigest,
  actual: FaultDigest,
  options: CompareOptions = {},
): DigestDiff {
  const parts = new Set(options.parts ?? ["filed", "attachments", "notifications", "threads"]);
  const ignored = options.ignoreAccounts ?? new Set<string>();
  const quarantined = new Set(Object.keys(actual.quarantine).map((key) => key.split("|").slice(2).join("|")));
  const excused = new Set<string>();
  const excusedHashes = new Set<string>();
  for (const [identity, hashes] of options.quarantinable ?? []) {
    if (!quarantined.has(identity)) continue;
    excused.add(identity);
    for (const hash of hashes) excusedHashes.add(hash);
  }
  const diff: DigestDiff = {
    lost: 0,
    duplicated: 0,
    wrongAccount: 0,
    extra: 0,
    threadsDiffer: 0,
    details: [],
  };
  // Up to 8 lines of each kind, so that a flood of losses does not hide a duplicate.
  const perKind = new Map<string, number>();
  const note = (line: string) => {
    const kind = line.split(":")[0]!;
    const seen = perKind.get(kind) ?? 0;
    perKind.set(kind, seen + 1);
    if (seen < 8) diff.details.push(line);
  };
  const quarantineNote = (identity: string) => {
    const key = Object.keys(actual.quarantine).find((k) => k.endsWith(`|${identity}`));
    return key ? ` (quarantined: ${key.split("|")[1]})` : "";
  };

  if (parts.has("filed")) {
    const expectedAccountsOf = new Map<string, Set<string>>();
    for (const [account, identities] of Object.entries(expected.filed))
      for (const identity of Object.keys(identities))
        (expectedAccountsOf.get(identity) ?? expectedAccountsOf.set(identity, new Set()).get(identity)!).add(
          account,
        );
    for (const [account, identities] of Object.entries(expected.filed)) {
      if (ignored.has(account)) continue;
      for (const identity of Object.keys(identities)) {
        if (actual.filed[account]?.[identity] || excused.has(identity)) continue;
        diff.lost += 1;
        note(`lost: ${identity} not filed in ${account}${quarantineNote(identity)}`);
      }
    }
    for (const [account, identities] of Object.entries(actual.filed)) {
      if (ignored.has(account)) continue;
      for (const identity of Object.keys(identities)) {
        if (expected.filed[account]?.[identity]) continue;
        if (expectedAccountsOf.has(identity)) {
          diff.wrongAccount += 1;
          note(
            `wrong account: ${identity} filed in ${account}, belongs to ${[...expectedAccountsOf.get(identity)!].join(", ")}`,
          );
        } else {
          diff.extra += 1;
          note(`extra: ${identity} filed in ${account}, should not be stored`);
        }
      }
    }
    for (const [identity, count] of Object.entries(actual.records)) {
      const allowed = Math.max(1, expected.records[identity] ?? 1);
      if (count > allowed) {
        diff.duplicated += count - allowed;
        note(`duplicated: ${identity} stored as ${count} records`);
      }
    }
  }

  if (parts.has("attachments")) {
    const expectedAccountsOfHash = new Map<string, Set<string>>();
    for (const key of Object.keys(expected.attachments)) {
      const [account, hash] = key.split("|") as [string, string];
      (expectedAccountsOfHash.get(hash) ?? expectedAccountsOfHash.set(hash, new Set()).get(hash)!).add(
        account,
      );
    }
    for (const [key, count] of Object.entries(expected.attachments)) {
      const [account, hash] = key.split("|") as [string, string];
      if (ignored.has(account) || excusedHashes.has(hash)) continue;
      const got = actual.attachments[key] ?? 0;
      if (got < count) {
        diff.lost += count - got;
        note(`lost: document ${hash.slice(0, 12)} not saved for ${account}`);
      }
    }
    for (const [key, count] of Object.entries(actual.attachments)) {
      const [account, hash] = key.split("|") as [string, string];
      if (ignored.has(account)) continue;
      const want = expected.attachments[key] ?? 0;
      if (want > 0 && count > want) {
        diff.duplicated += count - want;
        note(`duplicated: document ${hash.slice(0, 12)} saved ${count} times for ${account}`);
      } else if (want === 0 && expectedAccountsOfHash.has(hash)) {
        diff.wrongAccount += count;
        note(`wrong account: document ${hash.slice(0, 12)} saved for ${account}`);
      } else if (want === 0) {
        diff.extra += count;
        note(`extra: document ${hash.slice(0, 12)} saved for ${account}, should not be`);
      }
    }
  }

  if (parts.has("notifications")) {
    for (const [key, count] of Object.entries(expected.notifications)) {
      const identity = key.split("|").slice(2).join("|");
      if (excused.has(identity)) continue;
      const got = actual.notifications[key] ?? 0;
      if (got < count) {
        diff.lost += count - got;
        note(`lost: notification ${key}`);
      }
    }
    for (const [key, count] of Object.entries(actual.notifications)) {
      const want = expected.notifications[key] ?? 0;
      if (want === 0) {
        diff.extra += count;
        note(`extra: notification ${key}${count > 1 ? ` ×${count}` : ""}`);
      } else if (count > want) {
        diff.duplicated += count - want;
        note(`duplicated: notification ${key} ×${count}`);
      }
    }
  }

  // Work the queue gave up on is lost whatever part is compared (R8).
  for (const [key, count] of Object.entries(actual.deadLetters ?? {})) {
    if ((expected.deadLetters?.[key] ?? 0) >= count) continue;
    diff.lost += count - (expected.deadLetters?.[key] ?? 0);
    note(`lost: dead-lettered job ${key} ×${count}`);
  }

  if (parts.has("threads")) {
    const present = new Set(Object.keys(actual.records));
    const expectedIdentities = new Set(Object.keys(expected.records));
    const restrict = (threads: string[][], keep: Set<string>) =>
      new Set(
        threads
          .map((t) => t.filter((i) => keep.has(i)))
          .filter((t) => t.length > 0)
          .map((t) => JSON.stringify(t)),
      );
    const want = restrict(expected.threads, present);
    const got = restrict(actual.threads, expectedIdentities);
    for (const thread of want) {
      if (got.has(thread)) continue;
      diff.threadsDiffer += 1;
      note(`thread differs: expected ${thread}`);
    }
  }
  return diff;
}

/** Totals over the trials of one case. */
export interface CaseTotals {
  trials: number;
  lost: number;
  duplicated: number;
  wrongAccount: number;
  hung: number;
  extra: number;
  threadsDiffer: number;
}

export function emptyTotals(): CaseTotals {
  return { trials: 0, lost: 0, duplicated: 0, wrongAccount: 0, hung: 0, extra: 0, threadsDiffer: 0 };
}

export function addTrial(totals: CaseTotals, diff: DigestDiff | undefined, hung: boolean): void {
  totals.trials += 1;
  if (hung) totals.hung += 1;
  if (!diff) return;
  totals.lost += diff.lost;
  totals.duplicated += diff.duplicated;
  totals.wrongAccount += diff.wrongAccount;
  totals.extra += diff.extra;
  totals.threadsDiffer += diff.threadsDiffer;
}

/** The one-line summary of a case, for the run's output and the fault report. */
export function summaryLine(name: string, totals: CaseTotals, ms: number, extra = ""): string {
  return (
    `[faults] ${name}: trials=${totals.trials} lost=${totals.lost} duplicated=${totals.duplicated} ` +
    `wrong-account=${totals.wrongAccount} hung=${totals.hung} | extra=${totals.extra} ` +
    `threads-differ=${totals.threadsDiffer}${extra ? ` ${extra}` : ""} (${(ms / 1000).toFixed(1)} s)`
  );
}
