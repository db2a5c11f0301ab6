import { AsyncLocalStorage } from "node:async_hooks";
import { ClientMailError, NotFoundError, assertCount, assertStorable } from "@clientmail/core";
import type {
  Account,
  Contact,
  Firm,
  Invitation,
  Link,
  Mailbox,
  MailboxSettings,
  MailboxSyncState,
  MailboxVerification,
  TeamMember,
} from "@clientmail/core";
import type {
  AccountPatch,
  AuditEntry,
  Clock,
  ContactPatch,
  FiledMessage,
  FileOutcome,
  FirmPatch,
  LinkFilter,
  LinkPatch,
  MailboxCredential,
  MessageToFile,
  NewAccount,
  NewAuditEntry,
  NewContact,
  NewFirm,
  NewLink,
  NewMailbox,
  NewNotification,
  NewOutboxMessage,
  NewTeamMember,
  Notification,
  OutboxFilter,
  OutboxMessage,
  QuarantineEntry,
  QuarantineFilter,
  PushRegistrationRecord,
  SightingRemoval,
  SubjectEntry,
  Store,
  TeamMemberPatch,
  ThreadKeyConflict,
  ThreadKeysEntry,
  ThreadListOptions,
  ThreadSubjectEntries,
  ThreadTraces,
  ThreadTracesRemoved,
  ThreadView,
} from "@clientmail/core/ports";

/** Settings of {@link createMemoryStore}. */
export interface MemoryStoreSettings {
  /** The clock lease expiry is measured with. Defaults to the wall clock. */
  clock?: Clock;
  /** Id generator; defaults to `crypto.randomUUID`. */
  newId?: () => string;
}

interface MailboxRow {
  mailbox: Mailbox;
  credentials: string | undefined;
}

interface LeaseRow {
  holder: string | undefined;
  token: number;
  expiresAt: number;
}

interface MessageRow {
  message: FiledMessage;
}

interface OutboxRow {
  outbox: OutboxMessage;
}

/**
 * Everything the store holds. Values are replaced, never mutated, so the undo log can restore
 * them; the thread tables (cells, keys, messages per thread, the subject index) are the exception:
 * they change in place, each change pushing its own undo step.
 */
class Tables {
  firms = new Map<string, Firm>();
  members = new Map<string, TeamMember>();
  memberEmails = new Map<string, string>();
  mailboxes = new Map<string, MailboxRow>();
  mailboxAddresses = new Map<string, string>();
  leases = new Map<string, LeaseRow>();
  cursors = new Map<string, string>();
  accounts = new Map<string, Account>();
  contacts = new Map<string, Contact>();
  links = new Map<string, Link>();
  linkKeys = new Map<string, string>();
  threads = new Map<string, string>();
  /** Thread id -> what it holds in the thread tables. */
  threadCells = new Map<string, ThreadCell>();
  /** Firm -> its thread keys and subject index. */
  firmThreads = new Map<string, FirmThreads>();
  /** Thread id -> the ids of the messages filed in it, so a merge touches only those. */
  threadMessages = new Map<string, Set<string>>();
  mutes = new Map<string, true>();
  messages = new Map<string, MessageRow>();
  dedupe = new Map<string, string>();
  sightings = new Map<string, string>();
  attachments = new Map<string, true>();
  notifications = new Map<string, Notification>();
  notificationKeys = new Map<string, string>();
  audit = new Map<string, AuditEntry>();
  outbox = new Map<string, OutboxRow>();
  /** (firm, normalised Message-ID) -> record ids (R5: several messages may share one). */
  messageIds = new Map<string, readonly string[]>();
  /** (firm, mailbox, provider id) -> quarantined message (R2). */
  quarantine = new Map<string, QuarantineEntry & { firmId: string }>();
  /** (firm, tombstone) -> when it was recorded (R10). */
  tombstones = new Map<string, Date>();
  /** (firm, subscription id) -> push registration (Y2). */
  pushRegistrations = new Map<string, PushRegistrationRecord & { firmId: string }>();
}

/**
 * One firm's thread tables, looked up by the key as the caller gives it: a table per firm instead
 * of one table keyed by `firm + key` saves building (and hashing) a new string on every lookup,
 * and threading looks up several keys per message.
 */
interface FirmThreads {
  /** Thread key -> the cell of the thread it is attached to. */
  keys: Map<string, ThreadCell>;
  /** Subject key -> the subject entries of H1's third rule, by date. */
  subjects: Map<string, SubjectBucket>;
}

/** One subject entry of a message (H1's third rule), under its subject key. */
interface SubjectRow {
  /** Its bucket (not the key string: a million rows would each hold a copy). */
  bucket: SubjectBucket;
  at: number;
  open: boolean;
  /** Its thread's cell: a merge repoints the rows of the smaller cells only. */
  cell: ThreadCell;
  /** Erased (R10): left in its cell's list, which skips it, rather than searched for there. */
  removed: boolean;
}

/** A subject key's rows, open and closed apart, each sorted by date (equal dates by arrival). */
interface SubjectBucket {
  /** Its subject key. */
  key: string;
  /** Created with the side's first row. */
  open: SubjectSide | undefined;
  closed: SubjectSide | undefined;
}

/**
 * The open or the closed rows of a subject key, by date, with how many rows each thread (cell)
 * has among them. The counts let a probe stop as soon as it has met every thread of the side:
 * a busy key (a client writing "Invoice" several times a day) has hundreds of rows within 30
 * days, nearly always of one or two threads, and a probe then reads a few rows, not the window.
 */
interface SubjectSide {
  rows: SubjectRow[];
  /** While every row of the side is of one thread (the usual case), its cell and row count. */
  cell: ThreadCell | undefined;
  count: number;
  /** Once a second thread has rows here: the row count of each. */
  cells: Map<ThreadCell, number> | undefined;
}

const sideOf = (row: SubjectRow): SubjectSide => (row.open ? row.bucket.open : row.bucket.closed)!;

/** Adds `delta` to the count of `cell`'s rows in `side`; a count that reaches zero is removed. */
function countRow(side: SubjectSide, cell: ThreadCell, delta: number): void {
  if (side.cells === undefined) {
    if (side.cell === undefined || side.cell === cell) {
      side.count += delta;
      side.cell = side.count === 0 ? undefined : cell;
      return;
    }
    side.cells = new Map([[side.cell, side.count]]);
    side.cell = undefined;
    side.count = 0;
  }
  const count = (side.cells.get(cell) ?? 0) + delta;
  if (count === 0) side.cells.delete(cell);
  else side.cells.set(cell, count);
}

/** How many threads have rows in the side. */
const threadCount = (side: SubjectSide): number => side.cells?.size ?? (side.cell === undefined ? 0 : 1);

/**
 * The keys and subject rows of a thread. Keys and rows point to the cell, not to the thread id,
 * so that a merge keeps the largest of the merged cells (renamed to the survivor) and moves only
 * the others' keys and rows into it: a thread's entries move O(log n) times over its life.
 *
 * The lists only grow (a rollback pops what its step pushed): a key detached by an erasure (R10)
 * stays listed but no longer leads to the cell, and an erased row is marked; readers skip both.
 * Lists instead of sets: a page appends thousands of entries and nearly none is ever removed.
 */
interface ThreadCell {
  threadId: string;
  /** Its thread keys: each one whose entry in the key table still leads to this cell. */
  keys: string[];
  /** Its subject rows: each one whose `cell` is this cell and that is not `removed`. */
  rows: SubjectRow[];
}

type UndoLog = (() => void)[];

function addTo<V>(log: UndoLog, set: Set<V>, value: V): void {
  if (set.has(value)) return;
  set.add(value);
  log.push(() => set.delete(value));
}

function deleteFrom<V>(log: UndoLog, set: Set<V>, value: V): void {
  if (!set.delete(value)) return;
  log.push(() => set.add(value));
}

/** Marks an erased subject row, so that its cell's list skips it from now on. */
function markRemoved(log: UndoLog, row: SubjectRow): void {
  if (row.removed) return;
  row.removed = true;
  log.push(() => {
    row.removed = false;
  });
}

/** The index of the first row dated at or after `at` (rows sorted by date). */
function firstFrom(rows: readonly SubjectRow[], at: number): number {
  let low = 0;
  let high = rows.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (rows[mid]!.at < at) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * Adds to `found` the threads of the side's rows dated from `from` to `to`, inclusive, each once
 * (`found` may already hold threads of the other side). Reads rows in date order until the
 * window ends or every thread of the side has been met.
 */
function threadsWithin(side: SubjectSide | undefined, from: number, to: number, found: FoundThreads): void {
  if (side === undefined) return;
  const rows = side.rows;
  let i = firstFrom(rows, from);
  if (i === rows.length || rows[i]!.at > to) return;
  const threads = threadCount(side);
  let last = rows[i]!.cell;
  addThread(found, last.threadId);
  if (threads === 1) return;
  // The cells met so far; most windows meet a few, a busy one switches to a set.
  const met: ThreadCell[] = [last];
  let metSet: Set<ThreadCell> | undefined;
  for (i += 1; i < rows.length; i++) {
    const row = rows[i]!;
    if (row.at > to) break;
    // Neighbouring rows mostly share a thread: comparing cells skips them without a lookup.
    if (row.cell === last) continue;
    last = row.cell;
    if (metSet === undefined && met.length > 8) metSet = new Set(met);
    if (metSet ? metSet.has(last) : met.includes(last)) continue;
    met.push(last);
    metSet?.add(last);
    addThread(found, last.threadId);
    if (met.length === threads) return;
  }
}

/** The distinct threads a probe found, in the order met; a set joins once there are more than a few. */
interface FoundThreads {
  ids: string[];
  set: Set<string> | undefined;
}

function addThread(found: FoundThreads, threadId: string): void {
  if (found.set === undefined) {
    if (found.ids.includes(threadId)) return;
    found.ids.push(threadId);
    if (found.ids.length > 8) found.set = new Set(found.ids);
  } else if (!found.set.has(threadId)) {
    found.set.add(threadId);
    found.ids.push(threadId);
  }
}

/** The index of the first row dated after `at` (rows sorted by date). */
function firstAfter(rows: readonly SubjectRow[], at: number): number {
  let low = 0;
  let high = rows.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (rows[mid]!.at <= at) low = mid + 1;
    else high = mid;
  }
  return low;
}

const k = (...parts: string[]): string => parts.join("\u0000");

function conflict(message: string, details: Record<string, unknown>): ClientMailError {
  return new ClientMailError("conflict", message, { details });
}

function copy<T>(value: T): T {
  return structuredClone(value);
}

/** JSON-typed fields (payloads, drafts, details) keep only what JSON keeps, as in Postgres. */
function jsonCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * The in-process store: the embedded default and the reference implementation of the Store
 * port. Transactions are serialised and rolled back with an undo log.
 */
export class MemoryStore implements Store {
  readonly #t = new Tables();
  readonly #clock: Clock;
  readonly #newId: () => string;
  readonly #context = new AsyncLocalStorage<{ log: UndoLog; onCommit: Array<() => void> }>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(settings: MemoryStoreSettings = {}) {
    this.#clock = settings.clock ?? { now: () => new Date() };
    this.#newId = settings.newId ?? (() => globalThis.crypto.randomUUID());
  }

  // -- transactions ---------------------------------------------------------------------------

  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    const current = this.#context.getStore();
    if (current) {
      const mark = current.log.length;
      const commitMark = current.onCommit.length;
      try {
        return await fn(this);
      } catch (error) {
        this.#undoTo(current.log, mark);
        current.onCommit.length = commitMark;
        throw error;
      }
    }
    const committed = await this.#exclusive(async () => {
      const log: UndoLog = [];
      const onCommit: Array<() => void> = [];
      try {
        const result = await this.#context.run({ log, onCommit }, () => fn(this));
        return { result, onCommit };
      } catch (error) {
        this.#undoTo(log, 0);
        throw error;
      }
    });
    for (const callback of committed.onCommit) callback();
    return committed.result;
  }

  /**
   * Runs `callback` once the current transaction commits (at once outside a transaction); never
   * when it rolls back. Lets in-process companions of the store, such as the memory job queue,
   * make their changes visible exactly with the data they follow. Not part of the Store port.
   */
  afterCommit(callback: () => void): void {
    const current = this.#context.getStore();
    if (current) current.onCommit.push(callback);
    else callback();
  }

  #undoTo(log: UndoLog, mark: number): void {
    while (log.length > mark) log.pop()?.();
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Runs one method atomically: inside the caller's transaction, or in its own. */
  #op<T>(fn: (log: UndoLog) => T): Promise<T> {
    const current = this.#context.getStore();
    if (current) return this.#inside(current.log, fn);
    return this.#exclusive(() => this.#inside([], fn));
  }

  async #inside<T>(log: UndoLog, fn: (log: UndoLog) => T): Promise<T> {
    const mark = log.length;
    try {
      return fn(log);
    } catch (error) {
      this.#undoTo(log, mark);
      throw error;
    }
  }

  #put<V>(log: UndoLog, map: Map<string, V>, key: string, value: V): void {
    const had = map.has(key);
    const previous = map.get(key);
    map.set(key, value);
    log.push(() => {
      if (had) map.set(key, previous as V);
      else map.delete(key);
    });
  }

  #del<V>(log: UndoLog, map: Map<string, V>, key: string): void {
    if (!map.has(key)) return;
    const previous = map.get(key) as V;
    map.delete(key);
    log.push(() => map.set(key, previous));
  }

  #owned<V extends { firmId: string }>(map: Map<string, V>, firmId: string, id: string): V | undefined {
    const row = map.get(id);
    return row && row.firmId === firmId ? row : undefined;
  }

  /**
   * Reads the raw tables, bypassing the Store methods: for conformance tests. Not part of the
   * Store port.
   */
  inspectRaw(firmId: string): {
    messages: number;
    sightings: number;
    credentials: Map<string, string | undefined>;
  } {
    const prefix = k(firmId, "");
    const credentials = new Map<string, string | undefined>();
    for (const row of this.#t.mailboxes.values()) {
      if (row.mailbox.firmId === firmId) credentials.set(row.mailbox.id, row.credentials);
    }
    return {
      messages: [...this.#t.messages.values()].filter((row) => row.message.firmId === firmId).length,
      sightings: [...this.#t.sightings.keys()].filter((key) => key.startsWith(prefix)).length,
      credentials,
    };
  }

  // -- firms ----------------------------------------------------------------------------------

  createFirm(input: NewFirm): Promise<Firm> {
    return this.#op((log) => {
      assertStorable(input, "input");
      const firm: Firm = { id: this.#newId(), ...copy(input), createdAt: this.#clock.now() };
      this.#put(log, this.#t.firms, firm.id, firm);
      return copy(firm);
    });
  }

  getFirm(firmId: string): Promise<Firm | undefined> {
    return this.#op(() => copy(this.#t.firms.get(firmId)));
  }

  updateFirm(firmId: string, patch: FirmPatch): Promise<Firm> {
    return this.#op((log) => {
      assertStorable(patch, "patch");
      const firm = this.#t.firms.get(firmId);
      if (!firm) throw new NotFoundError("firm", firmId);
      const next: Firm = { ...firm, ...copy(definedOnly(patch)) };
      this.#put(log, this.#t.firms, firmId, next);
      return copy(next);
    });
  }

  listFirmIds(): Promise<string[]> {
    return this.#op(() => [...this.#t.firms.keys()].sort());
  }

  #requireFirm(firmId: string): Firm {
    const firm = this.#t.firms.get(firmId);
    if (!firm) throw new NotFoundError("firm", firmId);
    return firm;
  }

  // -- members --------------------------------------------------------------------------------

  createMember(firmId: string, input: NewTeamMember): Promise<TeamMember> {
    return this.#op((log) => {
      assertStorable(input, "input");
      this.#requireFirm(firmId);
      const emailKey = k(firmId, input.email);
      if (this.#t.memberEmails.has(emailKey)) {
        throw conflict("A team member with this email already exists", { field: "email" });
      }
      const member: TeamMember = { id: this.#newId(), firmId, ...copy(input) };
      this.#put(log, this.#t.members, member.id, member);
      this.#put(log, this.#t.memberEmails, emailKey, member.id);
      return copy(member);
    });
  }

  getMember(firmId: string, memberId: string): Promise<TeamMember | undefined> {
    return this.#op(() => copy(this.#owned(this.#t.members, firmId, memberId)));
  }

  listMembers(firmId: string): Promise<TeamMember[]> {
    return this.#op(() =>
      [...this.#t.members.values()]
        .filter((m) => m.firmId === firmId)
        .sort((a, b) => compare(a.name, b.name) || compare(a.id, b.id))
        .map(copy),
    );
  }

  updateMember(firmId: string, memberId: string, patch: TeamMemberPatch): Promise<TeamMember> {
    return this.#op((log) => {
      assertStorable(patch, "patch");
      const member = this.#owned(this.#t.members, firmId, memberId);
      if (!member) throw new NotFoundError("team member", memberId);
      const next: TeamMember = { ...member, ...copy(definedOnly(patch)) };
      if (next.email !== member.email) {
        const emailKey = k(firmId, next.email);
        if (this.#t.memberEmails.has(emailKey)) {
          throw conflict("A team member with this email already exists", { field: "email" });
        }
        this.#del(log, this.#t.memberEmails, k(firmId, member.email));
        this.#put(log, this.#t.memberEmails, emailKey, memberId);
      }
      this.#put(log, this.#t.members, memberId, next);
      return copy(next);
    });
  }

  // -- mailboxes ------------------------------------------------------------------------------

  createMailbox(firmId: string, input: NewMailbox, at: Date): Promise<Mailbox> {
    return this.#op((log) => {
      assertStorable(input, "input");
      if (!this.#owned(this.#t.members, firmId, input.ownerMemberId)) {
        throw new NotFoundError("team member", input.ownerMemberId);
      }
      const addressKey = k(firmId, input.address);
      if (this.#t.mailboxAddresses.has(addressKey)) {
        throw conflict("A mailbox with this address is already connected", { field: "address" });
      }
      const mailbox: Mailbox = {
        id: this.#newId(),
        firmId,
        provider: input.provider,
        address: input.address,
        displayName: input.displayName,
        ownerMemberId: input.ownerMemberId,
        connections: [{ memberId: input.ownerMemberId, connectedAt: new Date(at) }],
        settings: copy(input.settings),
        state: { status: "connecting" },
        lastSyncedAt: undefined,
        verification: undefined,
      };
      this.#put(log, this.#t.mailboxes, mailbox.id, { mailbox, credentials: undefined });
      this.#put(log, this.#t.mailboxAddresses, addressKey, mailbox.id);
      return copy(mailbox);
    });
  }

  #mailboxRow(firmId: string, mailboxId: string): MailboxRow | undefined {
    const row = this.#t.mailboxes.get(mailboxId);
    return row && row.mailbox.firmId === firmId ? row : undefined;
  }

  #requireMailbox(firmId: string, mailboxId: string): MailboxRow {
    const row = this.#mailboxRow(firmId, mailboxId);
    if (!row) throw new NotFoundError("mailbox", mailboxId);
    return row;
  }

  getMailbox(firmId: string, mailboxId: string): Promise<Mailbox | undefined> {
    return this.#op(() => copy(this.#mailboxRow(firmId, mailboxId)?.mailbox));
  }

  listMailboxes(firmId: string): Promise<Mailbox[]> {
    return this.#op(() =>
      [...this.#t.mailboxes.values()]
        .map((row) => row.mailbox)
        .filter((m) => m.firmId === firmId)
        .sort((a, b) => compare(a.address, b.address))
        .map(copy),
    );
  }

  #updateMailbox(log: UndoLog, firmId: string, mailboxId: string, change: (m: Mailbox) => Mailbox): Mailbox {
    const row = this.#requireMailbox(firmId, mailboxId);
    const next = change(copy(row.mailbox));
    this.#put(log, this.#t.mailboxes, mailboxId, { ...row, mailbox: next });
    return copy(next);
  }

  updateMailboxSettings(
    firmId: string,
    mailboxId: string,
    patch: Partial<MailboxSettings>,
  ): Promise<Mailbox> {
    return this.#op((log) => {
      assertStorable(patch, "patch");
      return this.#updateMailbox(log, firmId, mailboxId, (m) => ({
        ...m,
        settings: { ...m.settings, ...definedOnly(patch) },
      }));
    });
  }

  setMailboxVerification(
    firmId: string,
    mailboxId: string,
    verification: MailboxVerification,
  ): Promise<Mailbox> {
    return this.#op((log) =>
      this.#updateMailbox(log, firmId, mailboxId, (m) => ({ ...m, verification: copy(verification) })),
    );
  }

  setMailboxState(
    firmId: string,
    mailboxId: string,
    state: MailboxSyncState,
    lastSyncedAt?: Date,
  ): Promise<Mailbox> {
    return this.#op((log) => {
      assertStorable(state, "state");
      return this.#updateMailbox(log, firmId, mailboxId, (m) => ({
        ...m,
        state: copy(state),
        lastSyncedAt: lastSyncedAt ? new Date(lastSyncedAt) : m.lastSyncedAt,
      }));
    });
  }

  addMailboxConnection(firmId: string, mailboxId: string, memberId: string, at: Date): Promise<Mailbox> {
    return this.#op((log) => {
      if (!this.#owned(this.#t.members, firmId, memberId)) throw new NotFoundError("team member", memberId);
      return this.#updateMailbox(log, firmId, mailboxId, (m) =>
        m.connections.some((c) => c.memberId === memberId)
          ? m
          : { ...m, connections: [...m.connections, { memberId, connectedAt: new Date(at) }] },
      );
    });
  }

  removeMailboxConnection(firmId: string, mailboxId: string, memberId: string): Promise<boolean> {
    return this.#op((log) => {
      const row = this.#mailboxRow(firmId, mailboxId);
      if (!row?.mailbox.connections.some((c) => c.memberId === memberId)) return false;
      this.#updateMailbox(log, firmId, mailboxId, (m) => ({
        ...m,
        connections: m.connections.filter((c) => c.memberId !== memberId),
      }));
      return true;
    });
  }

  setMailboxCredentials(firmId: string, mailboxId: string, ciphertext: string | undefined): Promise<void> {
    return this.#op((log) => {
      assertStorable(ciphertext, "ciphertext");
      const row = this.#requireMailbox(firmId, mailboxId);
      this.#put(log, this.#t.mailboxes, mailboxId, { ...row, credentials: ciphertext });
    });
  }

  getMailboxCredentials(firmId: string, mailboxId: string): Promise<string | undefined> {
    return this.#op(() => this.#mailboxRow(firmId, mailboxId)?.credentials);
  }

  listMailboxCredentials(firmId: string): Promise<MailboxCredential[]> {
    return this.#op(() =>
      [...this.#t.mailboxes.values()]
        .filter((row) => row.mailbox.firmId === firmId && row.credentials !== undefined)
        .map((row) => ({ mailboxId: row.mailbox.id, ciphertext: row.credentials as string }))
        .sort((a, b) => compare(a.mailboxId, b.mailboxId)),
    );
  }

  // -- leases and cursors ---------------------------------------------------------------------

  acquireLease(
    firmId: string,
    mailboxId: string,
    holder: string,
    ttlMs: number,
  ): Promise<number | undefined> {
    return this.#op((log) => {
      assertStorable(holder, "holder");
      if (!this.#mailboxRow(firmId, mailboxId)) return undefined;
      const now = this.#clock.now().getTime();
      const key = k(firmId, mailboxId);
      const lease = this.#t.leases.get(key);
      const live = lease?.holder !== undefined && lease.expiresAt > now;
      if (live && lease.holder !== holder) return undefined;
      const token = live ? lease.token : (lease?.token ?? 0) + 1;
      this.#put(log, this.#t.leases, key, { holder, token, expiresAt: now + ttlMs });
      return token;
    });
  }

  renewLease(firmId: string, mailboxId: string, token: number, ttlMs: number): Promise<boolean> {
    return this.#op((log) => {
      const key = k(firmId, mailboxId);
      const lease = this.#t.leases.get(key);
      const now = this.#clock.now().getTime();
      if (!lease || lease.holder === undefined || lease.token !== token || lease.expiresAt <= now)
        return false;
      this.#put(log, this.#t.leases, key, { ...lease, expiresAt: now + ttlMs });
      return true;
    });
  }

  leaseRemainingMs(firmId: string, mailboxId: string): Promise<number | undefined> {
    return this.#op(() => {
      const lease = this.#t.leases.get(k(firmId, mailboxId));
      const left = lease?.holder === undefined ? 0 : lease.expiresAt - this.#clock.now().getTime();
      return left > 0 ? left : undefined;
    });
  }

  releaseLease(firmId: string, mailboxId: string, token: number): Promise<void> {
    return this.#op((log) => {
      const key = k(firmId, mailboxId);
      const lease = this.#t.leases.get(key);
      if (!lease || lease.token !== token) return;
      this.#put(log, this.#t.leases, key, { holder: undefined, token, expiresAt: 0 });
    });
  }

  getCursor(firmId: string, mailboxId: string): Promise<string | undefined> {
    return this.#op(() => this.#t.cursors.get(k(firmId, mailboxId)));
  }

  setCursor(firmId: string, mailboxId: string, token: number, cursor: string | undefined): Promise<void> {
    return this.#op((log) => {
      const key = k(firmId, mailboxId);
      const lease = this.#t.leases.get(key);
      if (!lease || lease.holder === undefined || lease.token !== token) {
        throw new ClientMailError("lease_lost", "The mailbox lease is held by another worker", {
          details: { mailboxId, token },
        });
      }
      if (cursor === undefined) this.#del(log, this.#t.cursors, key);
      else this.#put(log, this.#t.cursors, key, cursor);
    });
  }

  // -- accounts, contacts, links --------------------------------------------------------------

  createAccount(firmId: string, input: NewAccount, at: Date): Promise<Account> {
    return this.#op((log) => {
      assertStorable(input, "input");
      this.#requireFirm(firmId);
      const account: Account = { id: this.#newId(), firmId, ...copy(input), createdAt: new Date(at) };
      this.#put(log, this.#t.accounts, account.id, account);
      return copy(account);
    });
  }

  getAccount(firmId: string, accountId: string): Promise<Account | undefined> {
    return this.#op(() => copy(this.#owned(this.#t.accounts, firmId, accountId)));
  }

  listAccounts(firmId: string): Promise<Account[]> {
    return this.#op(() =>
      [...this.#t.accounts.values()]
        .filter((a) => a.firmId === firmId)
        .sort((a, b) => compare(a.name, b.name) || compare(a.id, b.id))
        .map(copy),
    );
  }

  updateAccount(firmId: string, accountId: string, patch: AccountPatch): Promise<Account> {
    return this.#op((log) => {
      assertStorable(patch, "patch");
      const account = this.#owned(this.#t.accounts, firmId, accountId);
      if (!account) throw new NotFoundError("account", accountId);
      const next = { ...account, ...copy(definedOnly(patch)) };
      this.#put(log, this.#t.accounts, accountId, next);
      return copy(next);
    });
  }

  deleteAccount(firmId: string, accountId: string): Promise<boolean> {
    return this.#op((log) => {
      if (!this.#owned(this.#t.accounts, firmId, accountId)) return false;
      for (const link of [...this.#t.links.values()]) {
        if (link.firmId === firmId && link.accountId === accountId) this.#deleteLink(log, link);
      }
      this.#del(log, this.#t.accounts, accountId);
      return true;
    });
  }

  createContact(firmId: string, input: NewContact): Promise<Contact> {
    return this.#op((log) => {
      assertStorable(input, "input");
      this.#requireFirm(firmId);
      const contact: Contact = { id: this.#newId(), firmId, ...copy(input) };
      this.#put(log, this.#t.contacts, contact.id, contact);
      return copy(contact);
    });
  }

  getContact(firmId: string, contactId: string): Promise<Contact | undefined> {
    return this.#op(() => copy(this.#owned(this.#t.contacts, firmId, contactId)));
  }

  listContacts(firmId: string): Promise<Contact[]> {
    return this.#op(() =>
      [...this.#t.contacts.values()]
        .filter((c) => c.firmId === firmId)
        .sort(
          (a, b) =>
            compare(a.lastName, b.lastName) || compare(a.firstName, b.firstName) || compare(a.id, b.id),
        )
        .map(copy),
    );
  }

  updateContact(firmId: string, contactId: string, patch: ContactPatch): Promise<Contact> {
    return this.#op((log) => {
      assertStorable(patch, "patch");
      const contact = this.#owned(this.#t.contacts, firmId, contactId);
      if (!contact) throw new NotFoundError("contact", contactId);
      const next = { ...contact, ...copy(definedOnly(patch)) };
      this.#put(log, this.#t.contacts, contactId, next);
      return copy(next);
    });
  }

  deleteContact(firmId: string, contactId: string): Promise<boolean> {
    return this.#op((log) => {
      if (!this.#owned(this.#t.contacts, firmId, contactId)) return false;
      for (const link of [...this.#t.links.values()]) {
        if (link.firmId === firmId && link.contactId === contactId) this.#deleteLink(log, link);
      }
      this.#del(log, this.#t.contacts, contactId);
      return true;
    });
  }

  createLink(firmId: string, input: NewLink): Promise<Link> {
    return this.#op((log) => {
      assertStorable(input, "input");
      if (!this.#owned(this.#t.accounts, firmId, input.accountId))
        throw new NotFoundError("account", input.accountId);
      if (!this.#owned(this.#t.contacts, firmId, input.contactId))
        throw new NotFoundError("contact", input.contactId);
      const key = k(firmId, input.accountId, input.contactId, input.email);
      if (this.#t.linkKeys.has(key)) {
        throw conflict("This contact is already linked to the account with this email", { field: "email" });
      }
      const link: Link = {
        id: this.#newId(),
        firmId,
        accountId: input.accountId,
        contactId: input.contactId,
        email: input.email,
        login: input.login,
        notify: input.notify,
        emailSync: input.emailSync,
        signatory: input.signatory,
        notifyPreferences: copy(input.notifyPreferences),
        invitation: undefined,
        unlinkedAt: input.unlinkedAt === undefined ? undefined : new Date(input.unlinkedAt),
      };
      this.#put(log, this.#t.links, link.id, link);
      this.#put(log, this.#t.linkKeys, key, link.id);
      return copy(link);
    });
  }

  getLink(firmId: string, linkId: string): Promise<Link | undefined> {
    return this.#op(() => copy(this.#owned(this.#t.links, firmId, linkId)));
  }

  listLinks(firmId: string, filter: LinkFilter = {}): Promise<Link[]> {
    return this.#op(() =>
      [...this.#t.links.values()]
        .filter(
          (l) =>
            l.firmId === firmId &&
            (filter.accountId === undefined || l.accountId === filter.accountId) &&
            (filter.contactId === undefined || l.contactId === filter.contactId) &&
            (filter.email === undefined || l.email === filter.email) &&
            (filter.emailSync === undefined || l.emailSync === filter.emailSync),
        )
        .sort((a, b) => compare(a.email, b.email) || compare(a.id, b.id))
        .map(copy),
    );
  }

  updateLink(firmId: string, linkId: string, patch: LinkPatch): Promise<Link> {
    return this.#op((log) => {
      assertStorable(patch, "patch");
      const link = this.#owned(this.#t.links, firmId, linkId);
      if (!link) throw new NotFoundError("link", linkId);
      const next: Link = { ...link, ...copy(definedOnly(patch)) };
      if (next.email !== link.email) {
        const key = k(firmId, link.accountId, link.contactId, next.email);
        if (this.#t.linkKeys.has(key)) {
          throw conflict("This contact is already linked to the account with this email", { field: "email" });
        }
        this.#del(log, this.#t.linkKeys, k(firmId, link.accountId, link.contactId, link.email));
        this.#put(log, this.#t.linkKeys, key, linkId);
      }
      this.#put(log, this.#t.links, linkId, next);
      return copy(next);
    });
  }

  #deleteLink(log: UndoLog, link: Link): void {
    this.#del(log, this.#t.links, link.id);
    this.#del(log, this.#t.linkKeys, k(link.firmId, link.accountId, link.contactId, link.email));
  }

  deleteLink(firmId: string, linkId: string): Promise<boolean> {
    return this.#op((log) => {
      const link = this.#owned(this.#t.links, firmId, linkId);
      if (!link) return false;
      this.#deleteLink(log, link);
      return true;
    });
  }

  setInvitation(firmId: string, linkId: string, invitation: Invitation | undefined): Promise<Link> {
    return this.#op((log) => {
      assertStorable(invitation, "invitation");
      const link = this.#owned(this.#t.links, firmId, linkId);
      if (!link) throw new NotFoundError("link", linkId);
      const next: Link = { ...link, invitation: copy(invitation) };
      this.#put(log, this.#t.links, linkId, next);
      return copy(next);
    });
  }

  findLinkByInvitationToken(firmId: string, token: string): Promise<Link | undefined> {
    return this.#op(() =>
      copy([...this.#t.links.values()].find((l) => l.firmId === firmId && l.invitation?.token === token)),
    );
  }

  // -- erasure tombstones ----------------------------------------------------------------------

  addErasureTombstones(firmId: string, tombstones: readonly string[], at: Date): Promise<void> {
    return this.#op((log) => {
      assertStorable(tombstones, "tombstones");
      this.#requireFirm(firmId);
      for (const tombstone of new Set(tombstones)) {
        const key = k(firmId, tombstone);
        if (!this.#t.tombstones.has(key)) this.#put(log, this.#t.tombstones, key, new Date(at));
      }
    });
  }

  listErasureTombstones(firmId: string): Promise<string[]> {
    return this.#op(() => {
      const prefix = k(firmId, "");
      return [...this.#t.tombstones.keys()]
        .filter((key) => key.startsWith(prefix))
        .map((key) => key.slice(prefix.length))
        .sort(compare);
    });
  }

  // -- threads --------------------------------------------------------------------------------

  createThread(firmId: string): Promise<string> {
    return this.#op((log) => {
      this.#requireFirm(firmId);
      return this.#newThread(log, firmId);
    });
  }

  #newThread(log: UndoLog, firmId: string): string {
    const id = this.#newId();
    this.#put(log, this.#t.threads, id, firmId);
    this.#put(log, this.#t.threadCells, id, { threadId: id, keys: [], rows: [] });
    return id;
  }

  #threadExists(firmId: string, threadId: string): boolean {
    return this.#t.threads.get(threadId) === firmId;
  }

  /**
   * The firm's thread tables, created empty on first use. Creating them is not undone: empty
   * tables hold nothing a rollback would have to take back.
   */
  #firmThreads(firmId: string): FirmThreads {
    let tables = this.#t.firmThreads.get(firmId);
    if (tables === undefined) {
      tables = { keys: new Map(), subjects: new Map() };
      this.#t.firmThreads.set(firmId, tables);
    }
    return tables;
  }

  findThreadsByKeys(firmId: string, keys: readonly string[]): Promise<Map<string, string>> {
    return this.#op(() => {
      const found = new Map<string, string>();
      const tables = this.#t.firmThreads.get(firmId);
      if (tables === undefined) return found;
      for (const key of keys) {
        const cell = tables.keys.get(key);
        if (cell !== undefined) found.set(key, cell.threadId);
      }
      return found;
    });
  }

  attachThreadKeys(firmId: string, threadId: string, keys: readonly string[]): Promise<ThreadKeyConflict[]> {
    return this.#op((log) => {
      assertStorable(keys, "keys");
      if (!this.#threadExists(firmId, threadId)) throw new NotFoundError("thread", threadId);
      return this.#attachKeys(log, firmId, threadId, keys);
    });
  }

  #attachKeys(log: UndoLog, firmId: string, threadId: string, keys: readonly string[]): ThreadKeyConflict[] {
    const cell = this.#t.threadCells.get(threadId)!;
    const conflicts: ThreadKeyConflict[] = [];
    const threadKeys = this.#firmThreads(firmId).keys;
    // One undo step for the whole call rather than one per key: a page attaches thousands.
    const added: string[] = [];
    for (const key of keys) {
      const owner = threadKeys.get(key);
      if (owner === undefined) {
        threadKeys.set(key, cell);
        cell.keys.push(key);
        added.push(key);
      } else if (owner !== cell) {
        if (!conflicts.some((c) => c.key === key)) conflicts.push({ key, threadId: owner.threadId });
      }
    }
    if (added.length > 0)
      log.push(() => {
        // Later steps were undone first, so this call's keys are the list's last ones.
        cell.keys.length -= added.length;
        for (const key of added) threadKeys.delete(key);
      });
    return conflicts;
  }

  /**
   * Touches only what the merged threads hold: their messages (through the thread -> messages
   * index), and the keys and subject rows of every cell but the largest, which is kept and takes
   * the survivor's id.
   */
  mergeThreads(firmId: string, survivorId: string, mergedIds: readonly string[]): Promise<void> {
    return this.#op((log) => {
      if (!this.#threadExists(firmId, survivorId)) throw new NotFoundError("thread", survivorId);
      const merged = new Set(mergedIds.filter((id) => id !== survivorId && this.#threadExists(firmId, id)));
      if (merged.size === 0) return;
      for (const id of merged) {
        for (const messageId of [...(this.#t.threadMessages.get(id) ?? [])]) {
          const row = this.#t.messages.get(messageId) as MessageRow;
          this.#putMessage(log, { ...row.message, threadId: survivorId });
        }
        this.#del(log, this.#t.threadMessages, id);
      }
      const cells = [survivorId, ...merged].map((id) => this.#t.threadCells.get(id)!);
      const size = (cell: ThreadCell) => cell.keys.length + cell.rows.length;
      const kept = cells.reduce((largest, cell) => (size(cell) > size(largest) ? cell : largest));
      const threadKeys = this.#firmThreads(firmId).keys;
      for (const cell of cells) {
        if (cell === kept) continue;
        const keys = cell.keys.filter((key) => threadKeys.get(key) === cell);
        const rows = cell.rows.filter((row) => row.cell === cell && !row.removed);
        for (const key of keys) threadKeys.set(key, kept);
        for (const key of keys) kept.keys.push(key);
        for (const row of rows) {
          row.cell = kept;
          const side = sideOf(row);
          countRow(side, cell, -1);
          countRow(side, kept, 1);
          kept.rows.push(row);
        }
        // The merged cell's own lists are left as they were, for this undo step to point back to.
        log.push(() => {
          kept.rows.length -= rows.length;
          for (const row of rows) {
            row.cell = cell;
            const side = sideOf(row);
            countRow(side, kept, -1);
            countRow(side, cell, 1);
          }
          kept.keys.length -= keys.length;
          for (const key of keys) threadKeys.set(key, cell);
        });
      }
      const keptId = kept.threadId;
      if (keptId !== survivorId) {
        kept.threadId = survivorId;
        log.push(() => {
          kept.threadId = keptId;
        });
        this.#put(log, this.#t.threadCells, survivorId, kept);
      }
      for (const key of [...this.#t.mutes.keys()]) {
        const [f, t, m] = key.split("\u0000") as [string, string, string];
        if (f === firmId && merged.has(t)) {
          this.#del(log, this.#t.mutes, key);
          this.#put(log, this.#t.mutes, k(firmId, survivorId, m), true);
        }
      }
      for (const [id, row] of this.#t.outbox) {
        if (
          row.outbox.firmId === firmId &&
          row.outbox.threadId !== undefined &&
          merged.has(row.outbox.threadId)
        ) {
          this.#put(log, this.#t.outbox, id, { outbox: { ...row.outbox, threadId: survivorId } });
        }
      }
      for (const id of merged) {
        this.#del(log, this.#t.threads, id);
        this.#del(log, this.#t.threadCells, id);
      }
    });
  }

  /** Transactions are serialised here, so a transaction already holds every lock. */
  lockThreads(firmId: string): Promise<void> {
    return this.#op(() => {
      this.#requireFirm(firmId);
    });
  }

  /** Each probe reads only its key's rows within the window (binary search on the dates). */
  findSubjectThreads(firmId: string, probes: readonly SubjectEntry[], windowMs: number): Promise<string[][]> {
    return this.#op(() => {
      const subjects = this.#t.firmThreads.get(firmId)?.subjects;
      return probes.map((probe) => {
        const at = probe.at.getTime();
        const bucket = subjects?.get(probe.key);
        if (bucket === undefined || Number.isNaN(at)) return [];
        const found: FoundThreads = { ids: [], set: undefined };
        threadsWithin(bucket.open, at - windowMs, at + windowMs, found);
        if (probe.open) threadsWithin(bucket.closed, at - windowMs, at + windowMs, found);
        return found.ids.length > 1 ? found.ids.sort(compare) : found.ids;
      });
    });
  }

  addSubjectEntries(firmId: string, threadId: string, entries: readonly SubjectEntry[]): Promise<void> {
    return this.#op((log) => {
      assertStorable(entries, "entries");
      if (!this.#threadExists(firmId, threadId)) throw new NotFoundError("thread", threadId);
      this.#addSubjectRows(log, firmId, threadId, entries);
    });
  }

  /**
   * Inserts each entry at its date in its bucket. An entry without a valid date is within 30
   * days of nothing (H1), so it is not indexed.
   */
  #addSubjectRows(log: UndoLog, firmId: string, threadId: string, entries: readonly SubjectEntry[]): void {
    const cell = this.#t.threadCells.get(threadId)!;
    const subjects = this.#firmThreads(firmId).subjects;
    // One undo step for the whole call: the rows it inserted (with where), the buckets it created.
    const added: SubjectRow[] = [];
    const indexes: number[] = [];
    const created: string[] = [];
    for (const entry of entries) {
      const at = entry.at.getTime();
      if (Number.isNaN(at)) continue;
      let bucket = subjects.get(entry.key);
      if (bucket === undefined) {
        bucket = { key: entry.key, open: undefined, closed: undefined };
        subjects.set(entry.key, bucket);
        created.push(entry.key);
      }
      let side = entry.open ? bucket.open : bucket.closed;
      if (side === undefined) {
        // Not undone: an empty side answers every probe as no side does.
        side = { rows: [], cell: undefined, count: 0, cells: undefined };
        if (entry.open) bucket.open = side;
        else bucket.closed = side;
      }
      const rows = side.rows;
      const row: SubjectRow = { bucket, at, open: entry.open, cell, removed: false };
      const index = firstAfter(rows, at);
      if (index === rows.length) rows.push(row);
      else rows.splice(index, 0, row);
      countRow(side, cell, 1);
      cell.rows.push(row);
      added.push(row);
      indexes.push(index);
    }
    if (added.length === 0) return;
    log.push(() => {
      // Newest first, so each row is still at the index it was inserted at.
      for (let i = added.length - 1; i >= 0; i--) {
        const row = added[i]!;
        const side = sideOf(row);
        side.rows.splice(indexes[i]!, 1);
        countRow(side, cell, -1);
      }
      // Later steps were undone first, so this call's rows are the list's last ones.
      cell.rows.length -= added.length;
      for (const key of created) subjects.delete(key);
    });
  }

  #removeSubjectRow(log: UndoLog, subjects: Map<string, SubjectBucket>, row: SubjectRow): void {
    const bucket = row.bucket;
    const side = sideOf(row);
    const rows = side.rows;
    let index = firstFrom(rows, row.at);
    while (rows[index] !== row) index += 1;
    rows.splice(index, 1);
    const cell = row.cell;
    countRow(side, cell, -1);
    log.push(() => {
      rows.splice(index, 0, row);
      countRow(side, cell, 1);
    });
    markRemoved(log, row);
    if ((bucket.open?.rows.length ?? 0) === 0 && (bucket.closed?.rows.length ?? 0) === 0)
      this.#del(log, subjects, bucket.key);
  }

  /** Puts a message row, keeping the thread -> messages index. */
  #putMessage(log: UndoLog, message: FiledMessage): void {
    const previous = this.#t.messages.get(message.id)?.message.threadId;
    this.#put(log, this.#t.messages, message.id, { message });
    if (previous === message.threadId) return;
    if (previous !== undefined) {
      const ids = this.#t.threadMessages.get(previous);
      if (ids) deleteFrom(log, ids, message.id);
    }
    let ids = this.#t.threadMessages.get(message.threadId);
    if (ids === undefined) {
      ids = new Set();
      this.#put(log, this.#t.threadMessages, message.threadId, ids);
    }
    addTo(log, ids, message.id);
  }

  /** Deletes a message row, keeping the thread -> messages index. */
  #deleteMessage(log: UndoLog, messageId: string): void {
    const row = this.#t.messages.get(messageId);
    if (row === undefined) return;
    this.#del(log, this.#t.messages, messageId);
    const ids = this.#t.threadMessages.get(row.message.threadId);
    if (ids) deleteFrom(log, ids, messageId);
  }

  #visibleMessages(firmId: string): FiledMessage[] {
    const out: FiledMessage[] = [];
    for (const row of this.#t.messages.values()) {
      if (row.message.firmId === firmId && row.message.removedAt === undefined) out.push(row.message);
    }
    return out;
  }

  listThreadMessages(firmId: string, threadId: string): Promise<FiledMessage[]> {
    return this.#op(() =>
      this.#visibleMessages(firmId)
        .filter((m) => m.threadId === threadId)
        .sort(byDate)
        .map(copy),
    );
  }

  listAccountThreads(firmId: string, accountId: string, options: ThreadListOptions): Promise<ThreadView[]> {
    return this.#op(() => this.#listThreads(firmId, accountId, options));
  }

  listFirmThreads(firmId: string, options: ThreadListOptions): Promise<ThreadView[]> {
    return this.#op(() => this.#listThreads(firmId, undefined, options));
  }

  /** Threads shown under one account, or under any account (Inbox+) when `accountId` is undefined. */
  #listThreads(firmId: string, accountId: string | undefined, options: ThreadListOptions): ThreadView[] {
    const byThread = new Map<string, FiledMessage[]>();
    for (const message of this.#visibleMessages(firmId)) {
      const list = byThread.get(message.threadId) ?? [];
      list.push(message);
      byThread.set(message.threadId, list);
    }
    const shows = (m: FiledMessage): boolean =>
      m.filings.some(
        (f) =>
          (accountId === undefined || f.accountId === accountId) &&
          f.linkIds.some((linkId) => this.#owned(this.#t.links, firmId, linkId)?.emailSync === true),
      );
    const after = options.after;
    const views: ThreadView[] = [];
    for (const [threadId, messages] of byThread) {
      if (!messages.some(shows)) continue;
      if (options.view === "sent" && !messages.some((m) => m.direction === "outbound")) continue;
      const sorted = [...messages].sort(byDate);
      const last = sorted[sorted.length - 1] as FiledMessage;
      const at = last.date.getTime();
      if (after) {
        const afterAt = after.lastActivityAt.getTime();
        if (at > afterAt || (at === afterAt && compare(threadId, after.threadId) <= 0)) continue;
      }
      views.push({ threadId, lastActivityAt: new Date(last.date), messages: sorted.map(copy) });
    }
    views.sort(
      (a, b) => b.lastActivityAt.getTime() - a.lastActivityAt.getTime() || compare(a.threadId, b.threadId),
    );
    return views.slice(0, options.limit ?? 50);
  }

  setThreadMuted(firmId: string, threadId: string, memberId: string, muted: boolean): Promise<void> {
    return this.#op((log) => {
      if (!this.#threadExists(firmId, threadId)) throw new NotFoundError("thread", threadId);
      if (!this.#owned(this.#t.members, firmId, memberId)) throw new NotFoundError("team member", memberId);
      const key = k(firmId, threadId, memberId);
      if (muted) this.#put(log, this.#t.mutes, key, true);
      else this.#del(log, this.#t.mutes, key);
    });
  }

  listThreadMutes(firmId: string, threadId: string): Promise<string[]> {
    return this.#op(() => {
      const prefix = k(firmId, threadId, "");
      return [...this.#t.mutes.keys()]
        .filter((key) => key.startsWith(prefix))
        .map((key) => key.slice(prefix.length))
        .sort();
    });
  }

  createThreads(firmId: string, count: number): Promise<string[]> {
    return this.#op((log) => {
      assertCount(count, "count");
      if (count === 0) return [];
      this.#requireFirm(firmId);
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push(this.#newThread(log, firmId));
      return ids;
    });
  }

  #requireThreads(firmId: string, threadIds: readonly string[]): void {
    for (const threadId of threadIds)
      if (!this.#threadExists(firmId, threadId)) throw new NotFoundError("thread", threadId);
  }

  attachThreadKeysBatch(firmId: string, entries: readonly ThreadKeysEntry[]): Promise<ThreadKeyConflict[][]> {
    return this.#op((log) => {
      assertStorable(entries, "entries");
      this.#requireThreads(
        firmId,
        entries.map((e) => e.threadId),
      );
      return entries.map(({ threadId, keys }) => this.#attachKeys(log, firmId, threadId, keys));
    });
  }

  addSubjectEntriesBatch(firmId: string, entries: readonly ThreadSubjectEntries[]): Promise<void> {
    return this.#op((log) => {
      assertStorable(entries, "entries");
      this.#requireThreads(
        firmId,
        entries.map((e) => e.threadId),
      );
      for (const { threadId, entries: list } of entries) this.#addSubjectRows(log, firmId, threadId, list);
    });
  }

  listThreadMutesBatch(firmId: string, threadIds: readonly string[]): Promise<Map<string, string[]>> {
    return this.#op(() => {
      const wanted = new Set(threadIds);
      const found = new Map<string, string[]>([...wanted].map((id) => [id, []]));
      for (const key of this.#t.mutes.keys()) {
        const [f, t, m] = key.split("\u0000") as [string, string, string];
        if (f === firmId && wanted.has(t)) found.get(t)!.push(m);
      }
      for (const list of found.values()) list.sort();
      return found;
    });
  }

  eraseThreadTraces(firmId: string, traces: ThreadTraces): Promise<ThreadTracesRemoved> {
    return this.#op((log) => {
      const removed: ThreadTracesRemoved = { threads: 0, keys: 0, subjectEntries: 0 };
      const emptied = new Set<string>();
      for (const threadId of new Set(traces.threadIds)) {
        if (!this.#threadExists(firmId, threadId)) continue;
        if ((this.#t.threadMessages.get(threadId)?.size ?? 0) === 0) emptied.add(threadId);
      }
      const { keys: threadKeys, subjects } = this.#firmThreads(firmId);
      const detach = (key: string) => {
        if (!threadKeys.has(key)) return;
        this.#del(log, threadKeys, key);
        removed.keys += 1;
      };
      for (const key of new Set(traces.keys)) detach(key);
      for (const threadId of emptied) {
        const cell = this.#t.threadCells.get(threadId)!;
        // Its list may still name a key detached earlier and since attached elsewhere.
        for (const key of cell.keys) if (threadKeys.get(key) === cell) detach(key);
      }
      const suffixes = traces.participants.map((address) => `:${address}`);
      if (suffixes.length > 0) {
        for (const [key, bucket] of [...subjects]) {
          if (!suffixes.some((suffix) => key.endsWith(suffix))) continue;
          for (const side of [bucket.open, bucket.closed]) {
            for (const row of side?.rows ?? []) markRemoved(log, row);
            removed.subjectEntries += side?.rows.length ?? 0;
          }
          this.#del(log, subjects, key);
        }
      }
      for (const threadId of emptied) {
        const cell = this.#t.threadCells.get(threadId)!;
        for (const row of cell.rows.filter((r) => r.cell === cell && !r.removed)) {
          this.#removeSubjectRow(log, subjects, row);
          removed.subjectEntries += 1;
        }
      }
      for (const threadId of emptied) {
        const prefix = k(firmId, threadId, "");
        for (const key of [...this.#t.mutes.keys()])
          if (key.startsWith(prefix)) this.#del(log, this.#t.mutes, key);
        this.#del(log, this.#t.threads, threadId);
        this.#del(log, this.#t.threadCells, threadId);
        this.#del(log, this.#t.threadMessages, threadId);
        removed.threads += 1;
      }
      return removed;
    });
  }

  // -- filed messages -------------------------------------------------------------------------

  fileMessages(firmId: string, messages: readonly MessageToFile[], at: Date): Promise<FileOutcome[]> {
    return this.#op((log) => {
      assertStorable(messages, "messages");
      for (const [index, m] of messages.entries()) {
        if (!this.#threadExists(firmId, m.threadId))
          throw new NotFoundError("thread", m.threadId, { details: { index } });
        for (const s of m.sightings) {
          if (!this.#mailboxRow(firmId, s.mailboxId))
            throw new NotFoundError("mailbox", s.mailboxId, { details: { index } });
        }
        for (const f of m.filings) {
          if (!this.#owned(this.#t.accounts, firmId, f.accountId)) {
            throw new NotFoundError("account", f.accountId, { details: { index } });
          }
          for (const linkId of f.linkIds) {
            if (this.#owned(this.#t.links, firmId, linkId)?.accountId !== f.accountId) {
              throw new NotFoundError("link", linkId, { details: { index } });
            }
          }
        }
      }
      const outcomes: FileOutcome[] = [];
      for (const input of messages) {
        const dedupeKey = k(firmId, input.dedupeKey);
        const existingId = this.#t.dedupe.get(dedupeKey);
        let message: FiledMessage;
        if (existingId === undefined) {
          const { sightings: _s, filings: _f, ...fields } = copy(input);
          message = {
            ...fields,
            id: this.#newId(),
            firmId,
            filings: [],
            sightings: [],
            removedAt: undefined,
            filedAt: new Date(at),
          };
          this.#put(log, this.#t.dedupe, dedupeKey, message.id);
          if (message.messageId !== undefined) {
            const idKey = k(firmId, message.messageId);
            this.#put(log, this.#t.messageIds, idKey, [...(this.#t.messageIds.get(idKey) ?? []), message.id]);
          }
        } else {
          message = copy((this.#t.messages.get(existingId) as MessageRow).message);
        }
        for (const f of input.filings) {
          const filing = message.filings.find((x) => x.accountId === f.accountId);
          if (!filing)
            message.filings.push({ accountId: f.accountId, linkIds: [...new Set(f.linkIds)].sort() });
          else filing.linkIds = [...new Set([...filing.linkIds, ...f.linkIds])].sort();
        }
        message.filings.sort((a, b) => compare(a.accountId, b.accountId));
        for (const s of input.sightings) {
          const sightingKey = k(firmId, s.mailboxId, s.providerId);
          if (this.#t.sightings.has(sightingKey)) continue;
          this.#put(log, this.#t.sightings, sightingKey, message.id);
          message.sightings.push({ ...s });
          message.removedAt = undefined;
        }
        message.sightings.sort(
          (a, b) => compare(a.mailboxId, b.mailboxId) || compare(a.providerId, b.providerId),
        );
        this.#putMessage(log, message);
        outcomes.push({ dedupeKey: input.dedupeKey, id: message.id, created: existingId === undefined });
      }
      return outcomes;
    });
  }

  getMessage(firmId: string, messageId: string): Promise<FiledMessage | undefined> {
    return this.#op(() => {
      const row = this.#t.messages.get(messageId);
      return row && row.message.firmId === firmId ? copy(row.message) : undefined;
    });
  }

  getMessages(firmId: string, messageIds: readonly string[]): Promise<FiledMessage[]> {
    return this.#op(() => {
      const found: FiledMessage[] = [];
      for (const id of new Set(messageIds)) {
        const row = this.#t.messages.get(id);
        if (row && row.message.firmId === firmId) found.push(copy(row.message));
      }
      return found;
    });
  }

  findMessagesByDedupeKeys(firmId: string, keys: readonly string[]): Promise<Map<string, string>> {
    return this.#op(() => {
      const found = new Map<string, string>();
      for (const key of keys) {
        const id = this.#t.dedupe.get(k(firmId, key));
        if (id !== undefined) found.set(key, id);
      }
      return found;
    });
  }

  findMessagesByMessageIds(firmId: string, messageIds: readonly string[]): Promise<FiledMessage[]> {
    return this.#op(() => {
      const ids = new Set<string>();
      for (const messageId of messageIds)
        for (const id of this.#t.messageIds.get(k(firmId, messageId)) ?? []) ids.add(id);
      return [...ids].map((id) => copy((this.#t.messages.get(id) as MessageRow).message));
    });
  }

  listSightings(firmId: string, mailboxId: string): Promise<string[]> {
    return this.#op(() => {
      const prefix = k(firmId, mailboxId, "");
      return [...this.#t.sightings.keys()]
        .filter((key) => key.startsWith(prefix))
        .map((key) => key.slice(prefix.length))
        .sort();
    });
  }

  removeSightings(
    firmId: string,
    mailboxId: string,
    providerIds: readonly string[],
    at: Date,
  ): Promise<SightingRemoval> {
    return this.#op((log) => {
      const firm = this.#t.firms.get(firmId);
      if (!firm) return { orphaned: [], hidden: false };
      const touched = new Set<string>();
      for (const providerId of new Set(providerIds)) {
        const key = k(firmId, mailboxId, providerId);
        const messageId = this.#t.sightings.get(key);
        if (messageId === undefined) continue;
        this.#del(log, this.#t.sightings, key);
        const row = this.#t.messages.get(messageId) as MessageRow;
        const sightings = row.message.sightings.filter(
          (s) => !(s.mailboxId === mailboxId && s.providerId === providerId),
        );
        this.#put(log, this.#t.messages, messageId, { message: { ...row.message, sightings } });
        touched.add(messageId);
      }
      const orphaned = [...touched]
        .filter((id) => this.#t.messages.get(id)?.message.sightings.length === 0)
        .sort();
      const hide = firm.deletionMode === "mirror";
      if (hide) {
        for (const id of orphaned) {
          const row = this.#t.messages.get(id) as MessageRow;
          this.#put(log, this.#t.messages, id, { message: { ...row.message, removedAt: new Date(at) } });
        }
      }
      return { orphaned, hidden: hide && orphaned.length > 0 };
    });
  }

  eraseMessages(firmId: string, messageIds: readonly string[]): Promise<number> {
    return this.#op((log) => {
      let erased = 0;
      for (const id of new Set(messageIds)) {
        const row = this.#t.messages.get(id);
        if (!row || row.message.firmId !== firmId) continue;
        for (const s of row.message.sightings)
          this.#del(log, this.#t.sightings, k(firmId, s.mailboxId, s.providerId));
        this.#del(log, this.#t.dedupe, k(firmId, row.message.dedupeKey));
        if (row.message.messageId !== undefined) {
          const idKey = k(firmId, row.message.messageId);
          const rest = (this.#t.messageIds.get(idKey) ?? []).filter((other) => other !== id);
          if (rest.length > 0) this.#put(log, this.#t.messageIds, idKey, rest);
          else this.#del(log, this.#t.messageIds, idKey);
        }
        this.#deleteMessage(log, id);
        erased += 1;
      }
      return erased;
    });
  }

  findMessagesInvolving(
    firmId: string,
    involving: { linkIds: readonly string[]; addresses: readonly string[] },
  ): Promise<FiledMessage[]> {
    return this.#op(() => {
      const linkIds = new Set(involving.linkIds);
      const addresses = new Set(involving.addresses);
      const out: FiledMessage[] = [];
      for (const row of this.#t.messages.values()) {
        const m = row.message;
        if (m.firmId !== firmId) continue;
        const byLink = m.filings.some((f) => f.linkIds.some((id) => linkIds.has(id)));
        const byAddress = [m.from, m.sender, m.replyTo, m.to, m.cc, m.bcc].some((list) =>
          list.some((a) => addresses.has(a.address)),
        );
        if (byLink || byAddress) out.push(copy(m));
      }
      return out.sort((a, b) => compare(a.id, b.id));
    });
  }

  // -- quarantine -----------------------------------------------------------------------------

  putQuarantine(firmId: string, entries: readonly QuarantineEntry[]): Promise<void> {
    return this.#op((log) => {
      assertStorable(entries, "entries");
      for (const entry of entries) {
        if (!this.#mailboxRow(firmId, entry.mailboxId)) throw new NotFoundError("mailbox", entry.mailboxId);
        this.#put(log, this.#t.quarantine, k(firmId, entry.mailboxId, entry.providerId), {
          ...copy(entry),
          firmId,
        });
      }
    });
  }

  listQuarantine(firmId: string, filter: QuarantineFilter = {}): Promise<QuarantineEntry[]> {
    return this.#op(() => {
      const due = filter.dueAt?.getTime();
      const rows = [...this.#t.quarantine.values()]
        .filter(
          (row) =>
            row.firmId === firmId &&
            (filter.mailboxId === undefined || row.mailboxId === filter.mailboxId) &&
            (due === undefined || row.nextAttemptAt.getTime() <= due),
        )
        .sort(
          (a, b) =>
            a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime() ||
            compare(a.mailboxId, b.mailboxId) ||
            compare(a.providerId, b.providerId),
        )
        .slice(0, filter.limit ?? Number.POSITIVE_INFINITY);
      return rows.map(({ firmId: _firmId, ...entry }) => copy(entry));
    });
  }

  removeQuarantine(firmId: string, mailboxId: string, providerIds: readonly string[]): Promise<number> {
    return this.#op((log) => {
      let removed = 0;
      for (const providerId of new Set(providerIds)) {
        const key = k(firmId, mailboxId, providerId);
        if (!this.#t.quarantine.has(key)) continue;
        this.#del(log, this.#t.quarantine, key);
        removed += 1;
      }
      return removed;
    });
  }

  // -- push registrations ---------------------------------------------------------------------

  putPushRegistration(firmId: string, record: PushRegistrationRecord): Promise<void> {
    return this.#op((log) => {
      assertStorable(record, "record");
      if (!this.#mailboxRow(firmId, record.mailboxId)) throw new NotFoundError("mailbox", record.mailboxId);
      this.#put(log, this.#t.pushRegistrations, k(firmId, record.subscriptionId), {
        ...copy(record),
        firmId,
      });
    });
  }

  getPushRegistration(firmId: string, subscriptionId: string): Promise<PushRegistrationRecord | undefined> {
    return this.#op(() => {
      const row = this.#t.pushRegistrations.get(k(firmId, subscriptionId));
      if (!row) return undefined;
      const { firmId: _firmId, ...record } = row;
      return copy(record);
    });
  }

  listPushRegistrations(firmId: string, mailboxId: string): Promise<PushRegistrationRecord[]> {
    return this.#op(() =>
      [...this.#t.pushRegistrations.values()]
        .filter((row) => row.firmId === firmId && row.mailboxId === mailboxId)
        .sort((a, b) => compare(a.subscriptionId, b.subscriptionId))
        .map(({ firmId: _firmId, ...record }) => copy(record)),
    );
  }

  removePushRegistration(firmId: string, subscriptionId: string): Promise<boolean> {
    return this.#op((log) => {
      const key = k(firmId, subscriptionId);
      if (!this.#t.pushRegistrations.has(key)) return false;
      this.#del(log, this.#t.pushRegistrations, key);
      return true;
    });
  }

  // -- attachments ----------------------------------------------------------------------------

  claimAttachment(firmId: string, accountId: string, contentHash: string): Promise<boolean> {
    return this.#op((log) => {
      if (!this.#owned(this.#t.accounts, firmId, accountId)) throw new NotFoundError("account", accountId);
      const key = k(firmId, accountId, contentHash);
      if (this.#t.attachments.has(key)) return false;
      this.#put(log, this.#t.attachments, key, true);
      return true;
    });
  }

  isAttachmentSaved(firmId: string, accountId: string, contentHash: string): Promise<boolean> {
    return this.#op(() => this.#t.attachments.has(k(firmId, accountId, contentHash)));
  }

  // -- notifications --------------------------------------------------------------------------

  createNotification(firmId: string, input: NewNotification, at: Date): Promise<Notification> {
    return this.#op((log) => {
      assertStorable(input, "input");
      if (!this.#owned(this.#t.members, firmId, input.memberId))
        throw new NotFoundError("team member", input.memberId);
      return this.#createNotification(log, firmId, input, at);
    });
  }

  createNotifications(firmId: string, inputs: readonly NewNotification[], at: Date): Promise<Notification[]> {
    return this.#op((log) => {
      assertStorable(inputs, "inputs");
      for (const input of inputs)
        if (!this.#owned(this.#t.members, firmId, input.memberId))
          throw new NotFoundError("team member", input.memberId);
      return inputs.map((input) => this.#createNotification(log, firmId, input, at));
    });
  }

  #createNotification(log: UndoLog, firmId: string, input: NewNotification, at: Date): Notification {
    const dedupeKey = input.dedupeKey === undefined ? undefined : k(firmId, input.memberId, input.dedupeKey);
    if (dedupeKey !== undefined) {
      const existing = this.#t.notifications.get(this.#t.notificationKeys.get(dedupeKey) ?? "");
      if (existing) return copy(existing);
    }
    const notification: Notification = {
      id: this.#newId(),
      firmId,
      memberId: input.memberId,
      kind: input.kind,
      payload: jsonCopy(input.payload),
      dedupeKey: input.dedupeKey,
      createdAt: new Date(at),
      snoozedUntil: undefined,
      dismissedAt: undefined,
    };
    this.#put(log, this.#t.notifications, notification.id, notification);
    if (dedupeKey !== undefined) this.#put(log, this.#t.notificationKeys, dedupeKey, notification.id);
    return copy(notification);
  }

  listNotifications(firmId: string, memberId: string, now: Date): Promise<Notification[]> {
    return this.#op(() =>
      [...this.#t.notifications.values()]
        .filter(
          (n) =>
            n.firmId === firmId &&
            n.memberId === memberId &&
            n.dismissedAt === undefined &&
            (n.snoozedUntil === undefined || n.snoozedUntil.getTime() <= now.getTime()),
        )
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || compare(b.id, a.id))
        .map(copy),
    );
  }

  snoozeNotification(firmId: string, notificationId: string, until: Date): Promise<boolean> {
    return this.#op((log) => {
      const n = this.#owned(this.#t.notifications, firmId, notificationId);
      if (!n || n.dismissedAt !== undefined) return false;
      this.#put(log, this.#t.notifications, notificationId, { ...n, snoozedUntil: new Date(until) });
      return true;
    });
  }

  dismissNotification(firmId: string, notificationId: string, at: Date): Promise<boolean> {
    return this.#op((log) => {
      const n = this.#owned(this.#t.notifications, firmId, notificationId);
      if (!n) return false;
      if (n.dismissedAt === undefined)
        this.#put(log, this.#t.notifications, notificationId, { ...n, dismissedAt: new Date(at) });
      return true;
    });
  }

  deleteNotifications(firmId: string, field: string, values: readonly string[]): Promise<number> {
    return this.#op((log) => {
      const wanted = new Set(values);
      let deleted = 0;
      for (const [id, n] of [...this.#t.notifications]) {
        if (n.firmId !== firmId) continue;
        const value = n.payload[field];
        if (typeof value !== "string" || !wanted.has(value)) continue;
        this.#del(log, this.#t.notifications, id);
        if (n.dedupeKey !== undefined)
          this.#del(log, this.#t.notificationKeys, k(firmId, n.memberId, n.dedupeKey));
        deleted += 1;
      }
      return deleted;
    });
  }

  // -- audit ----------------------------------------------------------------------------------

  appendAudit(firmId: string, entry: NewAuditEntry, at: Date): Promise<AuditEntry> {
    return this.#op((log) => {
      assertStorable(entry, "entry");
      this.#requireFirm(firmId);
      const row: AuditEntry = {
        id: this.#newId(),
        firmId,
        ...copy(entry),
        details: jsonCopy(entry.details),
        at: new Date(at),
      };
      this.#put(log, this.#t.audit, row.id, row);
      return copy(row);
    });
  }

  listAudit(firmId: string, limit = 100): Promise<AuditEntry[]> {
    return this.#op(() => {
      const rows = [...this.#t.audit.values()].filter((a) => a.firmId === firmId);
      // Insertion order breaks ties between entries written in the same millisecond.
      const order = new Map(rows.map((row, index) => [row.id, index]));
      return rows
        .sort((a, b) => b.at.getTime() - a.at.getTime() || (order.get(b.id) ?? 0) - (order.get(a.id) ?? 0))
        .slice(0, limit)
        .map(copy);
    });
  }

  // -- outbox ---------------------------------------------------------------------------------

  createOutbox(firmId: string, input: NewOutboxMessage, at: Date): Promise<OutboxMessage> {
    return this.#op((log) => {
      assertStorable(input, "input");
      this.#requireMailbox(firmId, input.mailboxId);
      for (const accountId of input.accountIds) {
        if (!this.#owned(this.#t.accounts, firmId, accountId)) throw new NotFoundError("account", accountId);
      }
      if (input.threadId !== undefined && !this.#threadExists(firmId, input.threadId)) {
        throw new NotFoundError("thread", input.threadId);
      }
      const outbox: OutboxMessage = {
        ...copy(input),
        draft: jsonCopy(input.draft),
        id: this.#newId(),
        firmId,
        state: "scheduled",
        attempts: 0,
        claimedBy: undefined,
        sentAt: undefined,
        messageId: undefined,
        lastError: undefined,
        createdAt: new Date(at),
      };
      this.#put(log, this.#t.outbox, outbox.id, { outbox });
      return copy(outbox);
    });
  }

  #outboxRow(firmId: string, id: string): OutboxMessage | undefined {
    const row = this.#t.outbox.get(id);
    return row && row.outbox.firmId === firmId ? row.outbox : undefined;
  }

  getOutbox(firmId: string, outboxId: string): Promise<OutboxMessage | undefined> {
    return this.#op(() => copy(this.#outboxRow(firmId, outboxId)));
  }

  listOutbox(firmId: string, filter: OutboxFilter = {}): Promise<OutboxMessage[]> {
    return this.#op(() =>
      [...this.#t.outbox.values()]
        .map((row) => row.outbox)
        .filter(
          (o) =>
            o.firmId === firmId &&
            (filter.state === undefined || o.state === filter.state) &&
            (filter.mailboxId === undefined || o.mailboxId === filter.mailboxId) &&
            (filter.accountId === undefined || o.accountIds.includes(filter.accountId)),
        )
        .sort((a, b) => a.sendAt.getTime() - b.sendAt.getTime() || compare(a.id, b.id))
        .map(copy),
    );
  }

  listDueOutbox(firmId: string, now: Date, limit: number): Promise<OutboxMessage[]> {
    return this.#op(() =>
      [...this.#t.outbox.values()]
        .map((row) => row.outbox)
        .filter((o) => o.firmId === firmId && o.state === "scheduled" && o.sendAt.getTime() <= now.getTime())
        .sort((a, b) => a.sendAt.getTime() - b.sendAt.getTime() || compare(a.id, b.id))
        .slice(0, limit)
        .map(copy),
    );
  }

  #setOutbox(log: UndoLog, next: OutboxMessage): OutboxMessage {
    this.#put(log, this.#t.outbox, next.id, { outbox: next });
    return copy(next);
  }

  updateScheduledOutbox(
    firmId: string,
    outboxId: string,
    patch: Partial<Pick<NewOutboxMessage, "draft" | "sendAt" | "accountIds">>,
  ): Promise<OutboxMessage | undefined> {
    return this.#op((log) => {
      assertStorable(patch, "patch");
      const o = this.#outboxRow(firmId, outboxId);
      if (!o || o.state !== "scheduled") return undefined;
      for (const accountId of patch.accountIds ?? []) {
        if (!this.#owned(this.#t.accounts, firmId, accountId)) throw new NotFoundError("account", accountId);
      }
      const next = { ...o, ...copy(definedOnly(patch)) };
      if (patch.draft !== undefined) next.draft = jsonCopy(patch.draft);
      return this.#setOutbox(log, next);
    });
  }

  cancelOutbox(firmId: string, outboxId: string): Promise<boolean> {
    return this.#op((log) => {
      const o = this.#outboxRow(firmId, outboxId);
      if (!o || o.state !== "scheduled") return false;
      this.#setOutbox(log, { ...o, state: "cancelled" });
      return true;
    });
  }

  claimOutbox(firmId: string, outboxId: string, claimedBy: string): Promise<boolean> {
    return this.#op((log) => {
      assertStorable(claimedBy, "claimedBy");
      const o = this.#outboxRow(firmId, outboxId);
      if (!o || o.state !== "scheduled") return false;
      this.#setOutbox(log, { ...o, state: "submitting", claimedBy, attempts: o.attempts + 1 });
      return true;
    });
  }

  reclaimOutbox(
    firmId: string,
    outboxId: string,
    fromClaimedBy: string,
    toClaimedBy: string,
  ): Promise<boolean> {
    return this.#op((log) => {
      assertStorable(toClaimedBy, "toClaimedBy");
      const o = this.#outboxRow(firmId, outboxId);
      if (!o || o.state !== "submitting" || o.claimedBy !== fromClaimedBy) return false;
      this.#setOutbox(log, { ...o, claimedBy: toClaimedBy, attempts: o.attempts + 1 });
      return true;
    });
  }

  markOutboxSent(
    firmId: string,
    outboxId: string,
    claimedBy: string,
    sent: { at: Date; messageId: string },
  ): Promise<boolean> {
    return this.#op((log) => {
      assertStorable(sent, "sent");
      const o = this.#outboxRow(firmId, outboxId);
      if (!o || o.state !== "submitting" || o.claimedBy !== claimedBy) return false;
      this.#setOutbox(log, {
        ...o,
        state: "sent",
        sentAt: new Date(sent.at),
        messageId: sent.messageId,
        lastError: undefined,
      });
      return true;
    });
  }

  markOutboxFailed(
    firmId: string,
    outboxId: string,
    claimedBy: string,
    failure: { error: string; retryAt: Date | undefined },
  ): Promise<boolean> {
    return this.#op((log) => {
      assertStorable(failure, "failure");
      const o = this.#outboxRow(firmId, outboxId);
      if (!o || o.state !== "submitting" || o.claimedBy !== claimedBy) return false;
      this.#setOutbox(log, {
        ...o,
        state: failure.retryAt ? "scheduled" : "failed",
        sendAt: failure.retryAt ? new Date(failure.retryAt) : o.sendAt,
        claimedBy: undefined,
        lastError: failure.error,
      });
      return true;
    });
  }

  releaseFailedOutbox(
    firmId: string,
    outboxId: string,
    release: { sendAt: Date } | { sentAt: Date; messageId: string },
  ): Promise<boolean> {
    return this.#op((log) => {
      assertStorable(release, "release");
      const o = this.#outboxRow(firmId, outboxId);
      if (!o || o.state !== "failed") return false;
      this.#setOutbox(
        log,
        "sendAt" in release
          ? {
              ...o,
              state: "scheduled",
              sendAt: new Date(release.sendAt),
              claimedBy: undefined,
              lastError: undefined,
            }
          : {
              ...o,
              state: "sent",
              sentAt: new Date(release.sentAt),
              messageId: release.messageId,
              claimedBy: undefined,
              lastError: undefined,
            },
      );
      return true;
    });
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byDate(a: FiledMessage, b: FiledMessage): number {
  return a.date.getTime() - b.date.getTime() || compare(a.id, b.id);
}

/** Drops keys whose value is `undefined`, so a patch never erases a field by omission. */
function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Creates an empty in-process store. */
export function createMemoryStore(settings: MemoryStoreSettings = {}): MemoryStore {
  return new MemoryStore(settings);
}
