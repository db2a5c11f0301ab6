import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { from as copyFrom } from "pg-copy-streams";
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
  ThreadSubjectEntries,
  ThreadListOptions,
  ThreadTraces,
  ThreadTracesRemoved,
  ThreadView,
} from "@clientmail/core/ports";
import type { Pool, PoolClient, QueryResultRow } from "pg";
import { v7 as uuidv7 } from "uuid";
import { copyBinary, CopyBuffers, type CopyType, type CopyValue } from "./copy-binary.js";

/** Settings of {@link createPostgresStore}. */
export interface PostgresStoreSettings {
  /** The caller's pool; the store never ends it. */
  pool: Pool;
  /**
   * Row-level security mode: every statement runs in a transaction that first sets
   * `app.firm_id` (with `SET LOCAL` semantics) to the firm of the call, so the policies installed
   * by {@link enableRowLevelSecurity} confine it to that firm. Use with a role that does not own
   * the tables.
   */
  rowLevelSecurity?: boolean;
  /**
   * Id generator; defaults to time-ordered UUIDs (version 7), so that new rows go to the right
   * edge of their primary-key indexes instead of to random pages (bench:store).
   */
  newId?: () => string;
}

interface TxContext {
  client: PoolClient;
  savepoints: number;
  /** The firm `app.firm_id` is set to in this transaction (row-level security mode). */
  /** `null` until a statement sets it; `undefined` while listing firm ids. */
  firmId: string | undefined | null;
  /** Set once the transaction committed or rolled back: its connection is back in the pool. */
  ended: boolean;
}

type Row = QueryResultRow;

/**
 * Where a statement runs: the current transaction's connection, or the pool outside a transaction.
 * Package-internal (not part of the Store port): it lets the job queue of this package write its
 * jobs in the caller's store transaction (R8).
 */
export interface PostgresExecutor {
  /** True inside `store.transaction`: statements then commit or roll back with it. */
  readonly inTransaction: boolean;
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

function errorField(error: unknown, field: "code" | "constraint"): string | undefined {
  if (typeof error !== "object" || error === null || !(field in error)) return undefined;
  const value: unknown = (error as Record<string, unknown>)[field];
  return typeof value === "string" ? value : undefined;
}
const sqlState = (error: unknown): string | undefined => errorField(error, "code");
const sqlConstraint = (error: unknown): string | undefined => errorField(error, "constraint");

/**
 * Deadlocks, serialization failures and lost connections are worth retrying: they become
 * `transient` errors (the transaction they happened in is rolled back). A missing table is
 * `not_migrated`, with the hint to run `migrate()`. Others pass through.
 */
function transient(error: unknown): never {
  const state = sqlState(error) ?? "";
  const network = typeof error === "object" && error !== null && "code" in error && /^E[A-Z]+$/.test(state);
  if (state === "22021" || state === "22P05") {
    // R4: every input is checked before it is sent; this is the database saying so too.
    throw new ClientMailError("validation_failed", "The database refused text it cannot store", {
      cause: error,
      details: { sqlState: state },
    });
  }
  // 42P01 undefined table, 3F000 undefined schema: the database was never migrated.
  if (state === "42P01" || state === "3F000") {
    const relation = /relation "([^"]{1,100})"/.exec(error instanceof Error ? error.message : "")?.[1];
    throw new ClientMailError(
      "not_migrated",
      "The database has no clientmail tables: run migrate() from @clientmail/postgres on it first",
      {
        cause: error,
        details: { sqlState: state, hint: "run migrate()", ...(relation ? { relation } : {}) },
      },
    );
  }
  if (state === "40P01" || state === "40001" || state.startsWith("08") || state === "57P01" || network) {
    throw new ClientMailError("transient", "The database asked to retry", {
      cause: error,
      details: { sqlState: state },
    });
  }
  throw error;
}

function conflict(message: string, field: string, cause: unknown): ClientMailError {
  return new ClientMailError("conflict", message, { cause, details: { field } });
}

const date = (value: unknown): Date | undefined =>
  value === null || value === undefined ? undefined : new Date(value as string);
const orNull = <T>(value: T | undefined): T | null => (value === undefined ? null : value);
const json = (value: unknown): string => JSON.stringify(value ?? null);
const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

function reviveState(state: Record<string, unknown>): MailboxSyncState {
  switch (state.status) {
    case "retrying":
      return {
        status: "retrying",
        attempt: state.attempt as number,
        nextAttemptAt: new Date(state.nextAttemptAt as string),
        lastError: state.lastError as string,
        ...(typeof state.lastErrorMessage === "string" ? { lastErrorMessage: state.lastErrorMessage } : {}),
      };
    case "throttled":
      return { status: "throttled", until: new Date(state.until as string) };
    case "stopped":
      return { status: "stopped", reason: state.reason as never, at: new Date(state.at as string) };
    case "backfilling":
      return {
        status: "backfilling",
        done: state.done as number,
        estimated: (state.estimated as number | null) ?? undefined,
      };
    default:
      return state as MailboxSyncState;
  }
}

function reviveInvitation(value: Record<string, unknown> | null): Invitation | undefined {
  if (!value) return undefined;
  return {
    token: value.token as string,
    email: value.email as string,
    status: value.status as Invitation["status"],
    sentAt: new Date(value.sentAt as string),
    acceptedAt: date(value.acceptedAt),
    customMessage: text(value.customMessage),
  };
}

const firmOf = (r: Row): Firm => ({
  id: r.id,
  name: r.name,
  internalDomains: r.internal_domains,
  deletionMode: r.deletion_mode,
  createdAt: r.created_at,
});

const memberOf = (r: Row): TeamMember => ({
  id: r.id,
  firmId: r.firm_id,
  name: r.name,
  email: r.email,
  role: r.role,
  newMailNotifications: r.new_mail_notifications,
  timeZone: r.time_zone,
});

const accountOf = (r: Row): Account => ({
  id: r.id,
  firmId: r.firm_id,
  name: r.name,
  kind: r.kind,
  createdAt: r.created_at,
});
const contactOf = (r: Row): Contact => ({
  id: r.id,
  firmId: r.firm_id,
  firstName: r.first_name,
  lastName: r.last_name,
});

const linkOf = (r: Row): Link => ({
  id: r.id,
  firmId: r.firm_id,
  accountId: r.account_id,
  contactId: r.contact_id,
  email: r.email,
  login: r.login,
  notify: r.notify,
  emailSync: r.email_sync,
  signatory: r.signatory,
  notifyPreferences: r.notify_preferences,
  invitation: reviveInvitation(r.invitation),
  unlinkedAt: date(r.unlinked_at),
});

const notificationOf = (r: Row): Notification => ({
  id: r.id,
  firmId: r.firm_id,
  memberId: r.member_id,
  kind: r.kind,
  payload: r.payload,
  dedupeKey: text(r.dedupe_key),
  createdAt: r.created_at,
  snoozedUntil: date(r.snoozed_until),
  dismissedAt: date(r.dismissed_at),
});

const auditOf = (r: Row): AuditEntry => ({
  id: r.id,
  firmId: r.firm_id,
  actor: r.actor,
  action: r.action,
  subject: text(r.subject),
  details: r.details,
  at: r.at,
});

const outboxOf = (r: Row): OutboxMessage => ({
  id: r.id,
  firmId: r.firm_id,
  mailboxId: r.mailbox_id,
  actor: r.actor,
  accountIds: r.account_ids,
  threadId: text(r.thread_id),
  draft: r.draft,
  sendAt: r.send_at,
  state: r.state,
  attempts: r.attempts,
  claimedBy: text(r.claimed_by),
  sentAt: date(r.sent_at),
  messageId: text(r.message_id),
  lastError: text(r.last_error),
  createdAt: r.created_at,
});

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Sends `rows` in binary to a `COPY … FROM STDIN (FORMAT binary)` statement on `client`, written
 * into memory from `buffers`. The memory goes back only once the statement has finished: on a
 * failure the connection may still hold it, so it is left to the garbage collector.
 */
async function copyIn(
  client: PoolClient,
  statement: string,
  types: readonly CopyType[],
  rows: readonly (readonly CopyValue[])[],
  buffers: CopyBuffers,
): Promise<void> {
  const input = copyBinary(types, rows, buffers);
  await pipeline(Readable.from([input]), client.query(copyFrom(statement)));
  buffers.give(input);
}

/** A text[] literal, so that an array of arrays can travel in one `unnest` parameter. */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`).join(",")}}`;
}

const MESSAGE_COPY_COLUMNS = `(firm_id, id, dedupe_key, message_id, in_reply_to, refs, from_addrs, sender,
  reply_to, to_addrs, cc, bcc, subject, date, direction, text_body, html_body, attachments, thread_id, filed_at,
  source_key, degraded)`;
/** The types of `MESSAGE_COPY_COLUMNS`, in order. */
const MESSAGE_COPY_TYPES: readonly CopyType[] = [
  ...Array<CopyType>(4).fill("text"),
  ...Array<CopyType>(8).fill("jsonb"),
  "text",
  "timestamptz",
  "text",
  "text",
  "text",
  "jsonb",
  "text",
  "timestamptz",
  "text",
  "boolean",
];
const SIGHTING_COPY_TYPES: readonly CopyType[] = ["text", "text", "text", "text", "text"];
const FILING_COPY_TYPES: readonly CopyType[] = ["text", "text", "text", "text[]"];

/**
 * The firm's messages (`id`, `dedupe_key`) with the dedupe keys in `$2`: one probe of the
 * `(firm_id, dedupe_key)` key per key. Written as a lateral lookup (its LIMIT keeps the planner
 * from flattening it) because `dedupe_key = ANY($2)` let the planner, on a table it had no
 * statistics for yet — a firm's first backfill — scan every message of the firm for each batch
 * (bench:store: 9 ms a batch at 20,000 messages, growing with the firm).
 */
const MESSAGES_BY_DEDUPE_KEY = `SELECT m.id, m.dedupe_key FROM unnest($2::text[]) AS k(key)
  CROSS JOIN LATERAL (SELECT id, dedupe_key FROM messages WHERE firm_id = $1 AND dedupe_key = k.key LIMIT 1) AS m`;

const MESSAGE_COLUMNS = `m.firm_id, m.id, m.dedupe_key, m.message_id, m.in_reply_to, m.refs, m.from_addrs, m.sender,
  m.reply_to, m.to_addrs, m.cc, m.bcc, m.subject, m.date, m.direction, m.text_body, m.html_body, m.attachments,
  m.thread_id, m.removed_at, m.filed_at, m.source_key, m.degraded`;

/** The PostgreSQL implementation of the Store port. */
export class PostgresStore implements Store {
  readonly #settings: PostgresStoreSettings;
  readonly #pool: Pool;
  readonly #rls: boolean;
  readonly #newId: () => string;
  /** The transaction this store is bound to; undefined for the store `createPostgresStore` made. */
  readonly #tx: TxContext | undefined;
  /** The store `createPostgresStore` made, shared by every store bound to one of its transactions. */
  readonly #root: PostgresStore;
  /** Memory for filing's COPY input, kept between batches; shared by every store of one root. */
  readonly #copyBuffers: CopyBuffers;

  /**
   * @param settings - the store's settings.
   * @param tx - internal: the transaction a store handed to a `transaction` callback is bound to.
   * @param root - internal: the store that transaction was opened on.
   */
  constructor(settings: PostgresStoreSettings, tx?: TxContext, root?: PostgresStore) {
    this.#settings = settings;
    this.#pool = settings.pool;
    this.#rls = settings.rowLevelSecurity ?? false;
    this.#newId = settings.newId ?? (() => uuidv7());
    this.#tx = tx;
    this.#root = root ?? this;
    this.#copyBuffers = root ? root.#copyBuffers : new CopyBuffers();
  }

  // -- plumbing -------------------------------------------------------------------------------

  /**
   * Runs `fn` in a transaction and hands it a store bound to that transaction's connection: only
   * calls on `tx` are part of the transaction. Called on a store that is already bound, it opens a
   * savepoint, so a failure of `fn` undoes only its own writes. The binding is explicit rather than
   * carried by `AsyncLocalStorage`, whose promise hooks cost every promise of the process (see
   * docs/decisions.md, "Sync speed").
   */
  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    const current = this.#current();
    if (current) {
      const name = `clientmail_sp_${++current.savepoints}`;
      await current.client.query(`SAVEPOINT ${name}`);
      try {
        const result = await fn(this);
        await current.client.query(`RELEASE SAVEPOINT ${name}`);
        return result;
      } catch (error) {
        await current.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
        throw error;
      }
    }
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await client.query("BEGIN");
      const context: TxContext = { client, savepoints: 0, firmId: null, ended: false };
      const bound = new PostgresStore(this.#settings, context, this.#root);
      try {
        const result = await fn(bound);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {
          broken = true;
        });
        throw error;
      } finally {
        context.ended = true;
      }
    } finally {
      client.release(broken);
    }
  }

  /**
   * Whether `other` is this store or a store bound to one of its transactions (or to one of the
   * transactions of the store this one is bound to). Package-internal: the job queue checks with
   * it that a caller's transaction is one of its own store's.
   */
  isSameStore(other: unknown): other is PostgresStore {
    return other instanceof PostgresStore && other.#root === this.#root;
  }

  /**
   * The connection of the transaction this store is bound to (the pool for an unbound store).
   * Package-internal: the job queue uses it so that jobs commit or roll back with the data they
   * follow (R8).
   */
  executor(): PostgresExecutor {
    const current = this.#current();
    if (current) {
      const client = current.client;
      return { inTransaction: true, query: (sql, params) => client.query(sql, params) };
    }
    const pool = this.#pool;
    return { inTransaction: false, query: (sql, params) => pool.query(sql, params) };
  }

  /** The transaction this store is bound to; throws once it has ended (its `tx` outlived it). */
  #current(): TxContext | undefined {
    const current = this.#tx;
    if (current?.ended)
      throw new ClientMailError("internal", "A transaction's store was used after the transaction ended");
    return current;
  }

  /** Runs `fn` atomically: with this store when it is bound to a transaction, else in a new one. */
  #atomic<T>(fn: (db: PostgresStore) => Promise<T>): Promise<T> {
    return this.#current() ? fn(this) : this.transaction((tx) => fn(tx as PostgresStore));
  }

  /** One statement for `firmId`; in row-level security mode, inside a transaction bound to the firm. */
  async #q(firmId: string | undefined, sql: string, params: unknown[] = []): Promise<Row[]> {
    const current = this.#current();
    if (this.#rls && !current) return this.transaction((tx) => (tx as PostgresStore).#q(firmId, sql, params));
    if (current) {
      if (this.#rls && current.firmId !== firmId) {
        // Transaction-scoped, so the setting never outlives this transaction on a pooled connection.
        await current.client.query(
          "SELECT set_config('app.firm_id', $1, true), set_config('app.list_firms', $2, true)",
          [firmId ?? "", firmId === undefined ? "on" : "off"],
        );
        current.firmId = firmId;
      }
      return (await current.client.query(sql, params).catch(transient)).rows;
    }
    return (await this.#pool.query(sql, params).catch(transient)).rows;
  }

  // -- firms ----------------------------------------------------------------------------------

  async createFirm(input: NewFirm): Promise<Firm> {
    assertStorable(input, "input");
    const id = this.#newId();
    const rows = await this.#q(
      id,
      `INSERT INTO firms (id, name, internal_domains, deletion_mode, created_at) VALUES ($1, $2, $3, $4, now())
       RETURNING *`,
      [id, input.name, input.internalDomains, input.deletionMode],
    );
    return firmOf(rows[0] as Row);
  }

  async getFirm(firmId: string): Promise<Firm | undefined> {
    const rows = await this.#q(firmId, "SELECT * FROM firms WHERE id = $1", [firmId]);
    return rows[0] ? firmOf(rows[0]) : undefined;
  }

  async updateFirm(firmId: string, patch: FirmPatch): Promise<Firm> {
    assertStorable(patch, "patch");
    const rows = await this.#q(
      firmId,
      `UPDATE firms SET name = COALESCE($2, name), internal_domains = COALESCE($3, internal_domains),
         deletion_mode = COALESCE($4, deletion_mode)
       WHERE id = $1 RETURNING *`,
      [firmId, orNull(patch.name), orNull(patch.internalDomains), orNull(patch.deletionMode)],
    );
    if (!rows[0]) throw new NotFoundError("firm", firmId);
    return firmOf(rows[0]);
  }

  async listFirmIds(): Promise<string[]> {
    const rows = await this.#q(undefined, `SELECT id FROM firms ORDER BY id COLLATE "C"`);
    return rows.map((r) => r.id as string);
  }

  // -- members --------------------------------------------------------------------------------

  async createMember(firmId: string, input: NewTeamMember): Promise<TeamMember> {
    assertStorable(input, "input");
    try {
      const rows = await this.#q(
        firmId,
        `INSERT INTO members (firm_id, id, name, email, role, new_mail_notifications, time_zone)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [
          firmId,
          this.#newId(),
          input.name,
          input.email,
          input.role,
          input.newMailNotifications,
          input.timeZone,
        ],
      );
      return memberOf(rows[0] as Row);
    } catch (error) {
      throw this.#translate(error, firmId);
    }
  }

  async getMember(firmId: string, memberId: string): Promise<TeamMember | undefined> {
    const rows = await this.#q(firmId, "SELECT * FROM members WHERE firm_id = $1 AND id = $2", [
      firmId,
      memberId,
    ]);
    return rows[0] ? memberOf(rows[0]) : undefined;
  }

  async listMembers(firmId: string): Promise<TeamMember[]> {
    const rows = await this.#q(
      firmId,
      `SELECT * FROM members WHERE firm_id = $1 ORDER BY name COLLATE "C", id COLLATE "C"`,
      [firmId],
    );
    return rows.map(memberOf);
  }

  async updateMember(firmId: string, memberId: string, patch: TeamMemberPatch): Promise<TeamMember> {
    assertStorable(patch, "patch");
    try {
      const rows = await this.#q(
        firmId,
        `UPDATE members SET name = COALESCE($3, name), email = COALESCE($4, email), role = COALESCE($5, role),
           new_mail_notifications = COALESCE($6, new_mail_notifications), time_zone = COALESCE($7, time_zone)
         WHERE firm_id = $1 AND id = $2 RETURNING *`,
        [
          firmId,
          memberId,
          orNull(patch.name),
          orNull(patch.email),
          orNull(patch.role),
          orNull(patch.newMailNotifications),
          orNull(patch.timeZone),
        ],
      );
      if (!rows[0]) throw new NotFoundError("team member", memberId);
      return memberOf(rows[0]);
    } catch (error) {
      throw this.#translate(error, firmId);
    }
  }

  /** Maps constraint violations onto clientmail errors; anything else passes through. */
  #translate(error: unknown, firmId: string): unknown {
    if (ClientMailError.isInstance(error)) return error;
    const state = sqlState(error);
    const constraint = sqlConstraint(error) ?? "";
    if (state === "23505") {
      if (constraint === "members_email_key")
        return conflict("A team member with this email already exists", "email", error);
      if (constraint === "mailboxes_address_key")
        return conflict("A mailbox with this address is already connected", "address", error);
      if (constraint === "links_triple_key")
        return conflict("This contact is already linked to the account with this email", "email", error);
      return conflict("A record with this key already exists", constraint, error);
    }
    if (state === "23503") {
      if (constraint === "mailboxes_owner_fkey" || constraint === "mailbox_connections_member_fkey") {
        return new NotFoundError("team member", "", { cause: error });
      }
      if (constraint === "links_account_fkey") return new NotFoundError("account", "", { cause: error });
      if (constraint === "links_contact_fkey") return new NotFoundError("contact", "", { cause: error });
      if (constraint.startsWith("members_firm_id") || constraint.endsWith("firm_id_fkey"))
        return new NotFoundError("firm", firmId, { cause: error });
      return new NotFoundError("record", constraint, { cause: error });
    }
    return error;
  }

  // -- mailboxes ------------------------------------------------------------------------------

  async createMailbox(firmId: string, input: NewMailbox, at: Date): Promise<Mailbox> {
    assertStorable(input, "input");
    const id = this.#newId();
    try {
      await this.#atomic(async (db) => {
        await db.#q(
          firmId,
          `INSERT INTO mailboxes (firm_id, id, provider, address, display_name, owner_member_id, settings, state)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [
            firmId,
            id,
            input.provider,
            input.address,
            input.displayName,
            input.ownerMemberId,
            json(input.settings),
            json({ status: "connecting" }),
          ],
        );
        await db.#q(
          firmId,
          "INSERT INTO mailbox_connections (firm_id, mailbox_id, member_id, connected_at) VALUES ($1, $2, $3, $4)",
          [firmId, id, input.ownerMemberId, at],
        );
      });
    } catch (error) {
      const translated = this.#translate(error, firmId);
      if (ClientMailError.hasCode(translated, "not_found"))
        throw new NotFoundError("team member", input.ownerMemberId, { cause: error });
      throw translated;
    }
    return (await this.getMailbox(firmId, id)) as Mailbox;
  }

  async #loadMailboxes(firmId: string, mailboxId: string | undefined): Promise<Mailbox[]> {
    const rows = await this.#q(
      firmId,
      `SELECT b.*, COALESCE((SELECT json_agg(json_build_object('memberId', c.member_id, 'connectedAt', c.connected_at)
                                      ORDER BY c.connected_at, c.member_id COLLATE "C")
                             FROM mailbox_connections c WHERE c.firm_id = b.firm_id AND c.mailbox_id = b.id), '[]') AS connections
       FROM mailboxes b WHERE b.firm_id = $1 AND ($2::text IS NULL OR b.id = $2)
       ORDER BY b.address COLLATE "C"`,
      [firmId, orNull(mailboxId)],
    );
    return rows.map((r) => ({
      id: r.id,
      firmId: r.firm_id,
      provider: r.provider,
      address: r.address,
      displayName: r.display_name,
      ownerMemberId: r.owner_member_id,
      connections: (r.connections as { memberId: string; connectedAt: string }[]).map((c) => ({
        memberId: c.memberId,
        connectedAt: new Date(c.connectedAt),
      })),
      settings: r.settings,
      state: reviveState(r.state),
      lastSyncedAt: date(r.last_synced_at),
      verification:
        r.verification === null || r.verification === undefined
          ? undefined
          : { ...(r.verification as MailboxVerification), at: new Date(r.verification.at as string) },
    }));
  }

  async getMailbox(firmId: string, mailboxId: string): Promise<Mailbox | undefined> {
    return (await this.#loadMailboxes(firmId, mailboxId))[0];
  }

  listMailboxes(firmId: string): Promise<Mailbox[]> {
    return this.#loadMailboxes(firmId, undefined);
  }

  async #requireMailboxUpdate(firmId: string, mailboxId: string, rows: Row[]): Promise<Mailbox> {
    if (rows.length === 0) throw new NotFoundError("mailbox", mailboxId);
    return (await this.getMailbox(firmId, mailboxId)) as Mailbox;
  }

  async updateMailboxSettings(
    firmId: string,
    mailboxId: string,
    patch: Partial<MailboxSettings>,
  ): Promise<Mailbox> {
    assertStorable(patch, "patch");
    return this.#atomic(async (db) => {
      const rows = await db.#q(
        firmId,
        "UPDATE mailboxes SET settings = settings || $3::jsonb WHERE firm_id = $1 AND id = $2 RETURNING id",
        [firmId, mailboxId, json(patch)],
      );
      return db.#requireMailboxUpdate(firmId, mailboxId, rows);
    });
  }

  async setMailboxVerification(
    firmId: string,
    mailboxId: string,
    verification: MailboxVerification,
  ): Promise<Mailbox> {
    return this.#atomic(async (db) => {
      const rows = await db.#q(
        firmId,
        "UPDATE mailboxes SET verification = $3 WHERE firm_id = $1 AND id = $2 RETURNING id",
        [firmId, mailboxId, json(verification)],
      );
      return db.#requireMailboxUpdate(firmId, mailboxId, rows);
    });
  }

  async setMailboxState(
    firmId: string,
    mailboxId: string,
    state: MailboxSyncState,
    lastSyncedAt?: Date,
  ): Promise<Mailbox> {
    assertStorable(state, "state");
    return this.#atomic(async (db) => {
      const rows = await db.#q(
        firmId,
        `UPDATE mailboxes SET state = $3, last_synced_at = COALESCE($4, last_synced_at)
         WHERE firm_id = $1 AND id = $2 RETURNING id`,
        [firmId, mailboxId, json(state), orNull(lastSyncedAt)],
      );
      return db.#requireMailboxUpdate(firmId, mailboxId, rows);
    });
  }

  async addMailboxConnection(
    firmId: string,
    mailboxId: string,
    memberId: string,
    at: Date,
  ): Promise<Mailbox> {
    return this.#atomic(async (db) => {
      const exists = await db.#q(firmId, "SELECT 1 FROM mailboxes WHERE firm_id = $1 AND id = $2", [
        firmId,
        mailboxId,
      ]);
      if (exists.length === 0) throw new NotFoundError("mailbox", mailboxId);
      try {
        await db.#q(
          firmId,
          `INSERT INTO mailbox_connections (firm_id, mailbox_id, member_id, connected_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING`,
          [firmId, mailboxId, memberId, at],
        );
      } catch (error) {
        if (sqlState(error) === "23503") throw new NotFoundError("team member", memberId, { cause: error });
        throw error;
      }
      return (await db.getMailbox(firmId, mailboxId)) as Mailbox;
    });
  }

  async removeMailboxConnection(firmId: string, mailboxId: string, memberId: string): Promise<boolean> {
    const rows = await this.#q(
      firmId,
      "DELETE FROM mailbox_connections WHERE firm_id = $1 AND mailbox_id = $2 AND member_id = $3 RETURNING member_id",
      [firmId, mailboxId, memberId],
    );
    return rows.length > 0;
  }

  async setMailboxCredentials(
    firmId: string,
    mailboxId: string,
    ciphertext: string | undefined,
  ): Promise<void> {
    assertStorable(ciphertext, "ciphertext");
    const rows = await this.#q(
      firmId,
      "UPDATE mailboxes SET credentials = $3 WHERE firm_id = $1 AND id = $2 RETURNING id",
      [firmId, mailboxId, orNull(ciphertext)],
    );
    if (rows.length === 0) throw new NotFoundError("mailbox", mailboxId);
  }

  async getMailboxCredentials(firmId: string, mailboxId: string): Promise<string | undefined> {
    const rows = await this.#q(firmId, "SELECT credentials FROM mailboxes WHERE firm_id = $1 AND id = $2", [
      firmId,
      mailboxId,
    ]);
    return text(rows[0]?.credentials);
  }

  async listMailboxCredentials(firmId: string): Promise<MailboxCredential[]> {
    const rows = await this.#q(
      firmId,
      `SELECT id, credentials FROM mailboxes WHERE firm_id = $1 AND credentials IS NOT NULL ORDER BY id COLLATE "C"`,
      [firmId],
    );
    return rows.map((r) => ({ mailboxId: r.id, ciphertext: r.credentials }));
  }

  // -- leases and cursors ---------------------------------------------------------------------

  async acquireLease(
    firmId: string,
    mailboxId: string,
    holder: string,
    ttlMs: number,
  ): Promise<number | undefined> {
    assertStorable(holder, "holder");
    // One statement: the row lock taken by ON CONFLICT serialises racing workers, and the
    // database clock (not the workers') decides expiry.
    const rows = await this.#q(
      firmId,
      `INSERT INTO mailbox_sync AS s (firm_id, mailbox_id, holder, token, lease_until)
       SELECT b.firm_id, b.id, $3, 1, clock_timestamp() + $4 * interval '1 millisecond'
       FROM mailboxes b WHERE b.firm_id = $1 AND b.id = $2
       ON CONFLICT (firm_id, mailbox_id) DO UPDATE SET
         token = CASE WHEN s.holder = EXCLUDED.holder AND s.lease_until > clock_timestamp() THEN s.token ELSE s.token + 1 END,
         holder = EXCLUDED.holder,
         lease_until = EXCLUDED.lease_until
       WHERE s.holder IS NULL OR s.lease_until <= clock_timestamp() OR s.holder = EXCLUDED.holder
       RETURNING s.token`,
      [firmId, mailboxId, holder, ttlMs],
    );
    return rows[0] ? Number(rows[0].token) : undefined;
  }

  async renewLease(firmId: string, mailboxId: string, token: number, ttlMs: number): Promise<boolean> {
    const rows = await this.#q(
      firmId,
      `UPDATE mailbox_sync SET lease_until = clock_timestamp() + $4 * interval '1 millisecond'
       WHERE firm_id = $1 AND mailbox_id = $2 AND token = $3 AND holder IS NOT NULL AND lease_until > clock_timestamp()
       RETURNING token`,
      [firmId, mailboxId, token, ttlMs],
    );
    return rows.length > 0;
  }

  async leaseRemainingMs(firmId: string, mailboxId: string): Promise<number | undefined> {
    const rows = await this.#q(
      firmId,
      `SELECT ceil(extract(epoch FROM lease_until - clock_timestamp()) * 1000) AS left_ms FROM mailbox_sync
       WHERE firm_id = $1 AND mailbox_id = $2 AND holder IS NOT NULL AND lease_until > clock_timestamp()`,
      [firmId, mailboxId],
    );
    return rows[0] ? Math.max(1, Number(rows[0].left_ms)) : undefined;
  }

  async releaseLease(firmId: string, mailboxId: string, token: number): Promise<void> {
    await this.#q(
      firmId,
      `UPDATE mailbox_sync SET holder = NULL, lease_until = '-infinity' WHERE firm_id = $1 AND mailbox_id = $2 AND token = $3`,
      [firmId, mailboxId, token],
    );
  }

  async getCursor(firmId: string, mailboxId: string): Promise<string | undefined> {
    const rows = await this.#q(
      firmId,
      "SELECT cursor FROM mailbox_sync WHERE firm_id = $1 AND mailbox_id = $2",
      [firmId, mailboxId],
    );
    return text(rows[0]?.cursor);
  }

  async setCursor(
    firmId: string,
    mailboxId: string,
    token: number,
    cursor: string | undefined,
  ): Promise<void> {
    // Fenced: a worker whose token is no longer current matches no row and changes nothing.
    const rows = await this.#q(
      firmId,
      `UPDATE mailbox_sync SET cursor = $4 WHERE firm_id = $1 AND mailbox_id = $2 AND token = $3 AND holder IS NOT NULL
       RETURNING token`,
      [firmId, mailboxId, token, orNull(cursor)],
    );
    if (rows.length === 0) {
      throw new ClientMailError("lease_lost", "The mailbox lease is held by another worker", {
        details: { mailboxId, token },
      });
    }
  }

  // -- accounts, contacts, links --------------------------------------------------------------

  async createAccount(firmId: string, input: NewAccount, at: Date): Promise<Account> {
    assertStorable(input, "input");
    try {
      const rows = await this.#q(
        firmId,
        "INSERT INTO accounts (firm_id, id, name, kind, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING *",
        [firmId, this.#newId(), input.name, input.kind, at],
      );
      return accountOf(rows[0] as Row);
    } catch (error) {
      throw this.#translate(error, firmId);
    }
  }

  async getAccount(firmId: string, accountId: string): Promise<Account | undefined> {
    const rows = await this.#q(firmId, "SELECT * FROM accounts WHERE firm_id = $1 AND id = $2", [
      firmId,
      accountId,
    ]);
    return rows[0] ? accountOf(rows[0]) : undefined;
  }

  async listAccounts(firmId: string): Promise<Account[]> {
    const rows = await this.#q(
      firmId,
      `SELECT * FROM accounts WHERE firm_id = $1 ORDER BY name COLLATE "C", id COLLATE "C"`,
      [firmId],
    );
    return rows.map(accountOf);
  }

  async updateAccount(firmId: string, accountId: string, patch: AccountPatch): Promise<Account> {
    assertStorable(patch, "patch");
    const rows = await this.#q(
      firmId,
      "UPDATE accounts SET name = COALESCE($3, name), kind = COALESCE($4, kind) WHERE firm_id = $1 AND id = $2 RETURNING *",
      [firmId, accountId, orNull(patch.name), orNull(patch.kind)],
    );
    if (!rows[0]) throw new NotFoundError("account", accountId);
    return accountOf(rows[0]);
  }

  async deleteAccount(firmId: string, accountId: string): Promise<boolean> {
    const rows = await this.#q(firmId, "DELETE FROM accounts WHERE firm_id = $1 AND id = $2 RETURNING id", [
      firmId,
      accountId,
    ]);
    return rows.length > 0;
  }

  async createContact(firmId: string, input: NewContact): Promise<Contact> {
    assertStorable(input, "input");
    try {
      const rows = await this.#q(
        firmId,
        "INSERT INTO contacts (firm_id, id, first_name, last_name) VALUES ($1, $2, $3, $4) RETURNING *",
        [firmId, this.#newId(), input.firstName, input.lastName],
      );
      return contactOf(rows[0] as Row);
    } catch (error) {
      throw this.#translate(error, firmId);
    }
  }

  async getContact(firmId: string, contactId: string): Promise<Contact | undefined> {
    const rows = await this.#q(firmId, "SELECT * FROM contacts WHERE firm_id = $1 AND id = $2", [
      firmId,
      contactId,
    ]);
    return rows[0] ? contactOf(rows[0]) : undefined;
  }

  async listContacts(firmId: string): Promise<Contact[]> {
    const rows = await this.#q(
      firmId,
      `SELECT * FROM contacts WHERE firm_id = $1 ORDER BY last_name COLLATE "C", first_name COLLATE "C", id COLLATE "C"`,
      [firmId],
    );
    return rows.map(contactOf);
  }

  async updateContact(firmId: string, contactId: string, patch: ContactPatch): Promise<Contact> {
    assertStorable(patch, "patch");
    const rows = await this.#q(
      firmId,
      `UPDATE contacts SET first_name = COALESCE($3, first_name), last_name = COALESCE($4, last_name)
       WHERE firm_id = $1 AND id = $2 RETURNING *`,
      [firmId, contactId, orNull(patch.firstName), orNull(patch.lastName)],
    );
    if (!rows[0]) throw new NotFoundError("contact", contactId);
    return contactOf(rows[0]);
  }

  async deleteContact(firmId: string, contactId: string): Promise<boolean> {
    return this.#atomic(async (db) => {
      await db.#q(firmId, "DELETE FROM links WHERE firm_id = $1 AND contact_id = $2", [firmId, contactId]);
      const rows = await db.#q(firmId, "DELETE FROM contacts WHERE firm_id = $1 AND id = $2 RETURNING id", [
        firmId,
        contactId,
      ]);
      return rows.length > 0;
    });
  }

  async createLink(firmId: string, input: NewLink): Promise<Link> {
    assertStorable(input, "input");
    try {
      const rows = await this.#q(
        firmId,
        `INSERT INTO links (firm_id, id, account_id, contact_id, email, login, notify, email_sync, signatory,
                            notify_preferences, unlinked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
        [
          firmId,
          this.#newId(),
          input.accountId,
          input.contactId,
          input.email,
          input.login,
          input.notify,
          input.emailSync,
          input.signatory,
          json(input.notifyPreferences),
          input.unlinkedAt ?? null,
        ],
      );
      return linkOf(rows[0] as Row);
    } catch (error) {
      const translated = this.#translate(error, firmId);
      if (ClientMailError.hasCode(translated, "not_found")) {
        const constraint = sqlConstraint(error);
        throw constraint === "links_contact_fkey"
          ? new NotFoundError("contact", input.contactId, { cause: error })
          : new NotFoundError("account", input.accountId, { cause: error });
      }
      throw translated;
    }
  }

  async getLink(firmId: string, linkId: string): Promise<Link | undefined> {
    const rows = await this.#q(firmId, "SELECT * FROM links WHERE firm_id = $1 AND id = $2", [
      firmId,
      linkId,
    ]);
    return rows[0] ? linkOf(rows[0]) : undefined;
  }

  async listLinks(firmId: string, filter: LinkFilter = {}): Promise<Link[]> {
    const rows = await this.#q(
      firmId,
      `SELECT * FROM links WHERE firm_id = $1
         AND ($2::text IS NULL OR account_id = $2) AND ($3::text IS NULL OR contact_id = $3)
         AND ($4::text IS NULL OR email = $4) AND ($5::boolean IS NULL OR email_sync = $5)
       ORDER BY email COLLATE "C", id COLLATE "C"`,
      [
        firmId,
        orNull(filter.accountId),
        orNull(filter.contactId),
        orNull(filter.email),
        orNull(filter.emailSync),
      ],
    );
    return rows.map(linkOf);
  }

  async updateLink(firmId: string, linkId: string, patch: LinkPatch): Promise<Link> {
    assertStorable(patch, "patch");
    try {
      const rows = await this.#q(
        firmId,
        `UPDATE links SET email = COALESCE($3, email), login = COALESCE($4, login), notify = COALESCE($5, notify),
           email_sync = COALESCE($6, email_sync), signatory = COALESCE($7, signatory),
           notify_preferences = COALESCE($8::jsonb, notify_preferences)
         WHERE firm_id = $1 AND id = $2 RETURNING *`,
        [
          firmId,
          linkId,
          orNull(patch.email),
          orNull(patch.login),
          orNull(patch.notify),
          orNull(patch.emailSync),
          orNull(patch.signatory),
          patch.notifyPreferences === undefined ? null : json(patch.notifyPreferences),
        ],
      );
      if (!rows[0]) throw new NotFoundError("link", linkId);
      return linkOf(rows[0]);
    } catch (error) {
      throw this.#translate(error, firmId);
    }
  }

  async deleteLink(firmId: string, linkId: string): Promise<boolean> {
    const rows = await this.#q(firmId, "DELETE FROM links WHERE firm_id = $1 AND id = $2 RETURNING id", [
      firmId,
      linkId,
    ]);
    return rows.length > 0;
  }

  async setInvitation(firmId: string, linkId: string, invitation: Invitation | undefined): Promise<Link> {
    assertStorable(invitation, "invitation");
    const rows = await this.#q(
      firmId,
      "UPDATE links SET invitation = $3 WHERE firm_id = $1 AND id = $2 RETURNING *",
      [firmId, linkId, invitation === undefined ? null : json(invitation)],
    );
    if (!rows[0]) throw new NotFoundError("link", linkId);
    return linkOf(rows[0]);
  }

  async findLinkByInvitationToken(firmId: string, token: string): Promise<Link | undefined> {
    const rows = await this.#q(firmId, "SELECT * FROM links WHERE firm_id = $1 AND invitation_token = $2", [
      firmId,
      token,
    ]);
    return rows[0] ? linkOf(rows[0]) : undefined;
  }

  // -- erasure tombstones ----------------------------------------------------------------------

  async addErasureTombstones(firmId: string, tombstones: readonly string[], at: Date): Promise<void> {
    assertStorable(tombstones, "tombstones");
    if (!(await this.getFirm(firmId))) throw new NotFoundError("firm", firmId);
    if (tombstones.length === 0) return;
    await this.#q(
      firmId,
      `INSERT INTO erasure_tombstones (firm_id, tombstone, at)
       SELECT $1, t, $3 FROM unnest($2::text[]) AS t ON CONFLICT DO NOTHING`,
      [firmId, [...new Set(tombstones)], at],
    );
  }

  async listErasureTombstones(firmId: string): Promise<string[]> {
    const rows = await this.#q(
      firmId,
      `SELECT tombstone FROM erasure_tombstones WHERE firm_id = $1 ORDER BY tombstone COLLATE "C"`,
      [firmId],
    );
    return rows.map((r) => r.tombstone as string);
  }

  // -- threads --------------------------------------------------------------------------------

  async createThread(firmId: string): Promise<string> {
    try {
      const rows = await this.#q(firmId, "INSERT INTO threads (firm_id, id) VALUES ($1, $2) RETURNING id", [
        firmId,
        this.#newId(),
      ]);
      return (rows[0] as Row).id as string;
    } catch (error) {
      throw this.#translate(error, firmId);
    }
  }

  async findThreadsByKeys(firmId: string, keys: readonly string[]): Promise<Map<string, string>> {
    const rows = await this.#q(
      firmId,
      "SELECT key, thread_id FROM thread_keys WHERE firm_id = $1 AND key = ANY($2::text[])",
      [firmId, [...keys]],
    );
    return new Map(rows.map((r) => [r.key as string, r.thread_id as string]));
  }

  async #requireThread(firmId: string, threadId: string): Promise<void> {
    const rows = await this.#q(firmId, "SELECT 1 FROM threads WHERE firm_id = $1 AND id = $2", [
      firmId,
      threadId,
    ]);
    if (rows.length === 0) throw new NotFoundError("thread", threadId);
  }

  async attachThreadKeys(
    firmId: string,
    threadId: string,
    keys: readonly string[],
  ): Promise<ThreadKeyConflict[]> {
    assertStorable(keys, "keys");
    return this.#atomic(async (db) => {
      await db.#requireThread(firmId, threadId);
      const unique = [...new Set(keys)];
      await db.#q(
        firmId,
        `INSERT INTO thread_keys (firm_id, key, thread_id) SELECT $1, k, $2 FROM unnest($3::text[]) AS k
         ON CONFLICT (firm_id, key) DO NOTHING`,
        [firmId, threadId, unique],
      );
      const rows = await db.#q(
        firmId,
        "SELECT key, thread_id FROM thread_keys WHERE firm_id = $1 AND key = ANY($2::text[]) AND thread_id <> $3",
        [firmId, unique, threadId],
      );
      const owners = new Map(rows.map((r) => [r.key as string, r.thread_id as string]));
      return unique
        .filter((key) => owners.has(key))
        .map((key) => ({ key, threadId: owners.get(key) as string }));
    });
  }

  async mergeThreads(firmId: string, survivorId: string, mergedIds: readonly string[]): Promise<void> {
    await this.#atomic(async (db) => {
      await db.#requireThread(firmId, survivorId);
      const merged = mergedIds.filter((id) => id !== survivorId);
      if (merged.length === 0) return;
      const params = [firmId, survivorId, merged];
      await db.#q(
        firmId,
        "UPDATE messages SET thread_id = $2 WHERE firm_id = $1 AND thread_id = ANY($3::text[])",
        params,
      );
      await db.#q(
        firmId,
        "UPDATE thread_keys SET thread_id = $2 WHERE firm_id = $1 AND thread_id = ANY($3::text[])",
        params,
      );
      await db.#q(
        firmId,
        "UPDATE outbox SET thread_id = $2 WHERE firm_id = $1 AND thread_id = ANY($3::text[])",
        params,
      );
      await db.#q(
        firmId,
        "UPDATE thread_subjects SET thread_id = $2 WHERE firm_id = $1 AND thread_id = ANY($3::text[])",
        params,
      );
      await db.#q(
        firmId,
        `INSERT INTO thread_mutes (firm_id, thread_id, member_id)
         SELECT firm_id, $2, member_id FROM thread_mutes WHERE firm_id = $1 AND thread_id = ANY($3::text[])
         ON CONFLICT DO NOTHING`,
        params,
      );
      await db.#q(firmId, "DELETE FROM thread_mutes WHERE firm_id = $1 AND thread_id = ANY($2::text[])", [
        firmId,
        merged,
      ]);
      await db.#q(firmId, "DELETE FROM threads WHERE firm_id = $1 AND id = ANY($2::text[])", [
        firmId,
        merged,
      ]);
    });
  }

  async lockThreads(firmId: string): Promise<void> {
    // Transaction-scoped: released at commit or rollback, so it also works behind a
    // transaction-mode pooler. Outside a transaction it is taken and released at once.
    await this.#q(firmId, "SELECT pg_advisory_xact_lock(hashtext('clientmail.threads'), hashtext($1))", [
      firmId,
    ]);
  }

  async findSubjectThreads(
    firmId: string,
    probes: readonly SubjectEntry[],
    windowMs: number,
  ): Promise<string[][]> {
    const result: string[][] = probes.map(() => []);
    if (probes.length === 0) return result;
    const rows = await this.#q(
      firmId,
      `SELECT DISTINCT p.idx, s.thread_id
         FROM unnest($2::text[], $3::timestamptz[], $4::boolean[]) WITH ORDINALITY AS p(key, at, open, idx)
         JOIN thread_subjects s
           ON s.firm_id = $1 AND s.key = p.key
          AND s.at BETWEEN p.at - make_interval(secs => $5::double precision / 1000)
                       AND p.at + make_interval(secs => $5::double precision / 1000)
          AND (p.open OR s.open)`,
      [
        firmId,
        probes.map((p) => p.key),
        probes.map((p) => p.at.toISOString()),
        probes.map((p) => p.open),
        windowMs,
      ],
    );
    for (const row of rows) (result[Number(row.idx) - 1] as string[]).push(row.thread_id as string);
    for (const list of result) list.sort(byCodePoint);
    return result;
  }

  async addSubjectEntries(firmId: string, threadId: string, entries: readonly SubjectEntry[]): Promise<void> {
    assertStorable(entries, "entries");
    await this.#atomic(async (db) => {
      await db.#requireThread(firmId, threadId);
      if (entries.length === 0) return;
      await db.#q(
        firmId,
        `INSERT INTO thread_subjects (firm_id, key, at, open, thread_id)
         SELECT $1, k, a, o, $2 FROM unnest($3::text[], $4::timestamptz[], $5::boolean[]) AS e(k, a, o)`,
        [
          firmId,
          threadId,
          entries.map((e) => e.key),
          entries.map((e) => e.at.toISOString()),
          entries.map((e) => e.open),
        ],
      );
    });
  }

  async createThreads(firmId: string, count: number): Promise<string[]> {
    assertCount(count, "count");
    if (count === 0) return [];
    const ids = Array.from({ length: count }, () => this.#newId());
    try {
      await this.#q(firmId, "INSERT INTO threads (firm_id, id) SELECT $1, unnest($2::text[])", [firmId, ids]);
    } catch (error) {
      throw this.#translate(error, firmId);
    }
    return ids;
  }

  /** Throws `not_found` for the first of `threadIds` the firm does not have. */
  async #requireThreads(firmId: string, threadIds: readonly string[]): Promise<void> {
    const wanted = [...new Set(threadIds)];
    if (wanted.length === 0) return;
    const rows = await this.#q(firmId, "SELECT id FROM threads WHERE firm_id = $1 AND id = ANY($2::text[])", [
      firmId,
      wanted,
    ]);
    const found = new Set(rows.map((r) => r.id as string));
    const missing = wanted.find((id) => !found.has(id));
    if (missing !== undefined) throw new NotFoundError("thread", missing);
  }

  async attachThreadKeysBatch(
    firmId: string,
    entries: readonly ThreadKeysEntry[],
  ): Promise<ThreadKeyConflict[][]> {
    assertStorable(entries, "entries");
    return this.#atomic(async (db) => {
      await db.#requireThreads(
        firmId,
        entries.map((e) => e.threadId),
      );
      // The first entry naming a key is the one that may attach it, as in one call per entry.
      const proposed = new Map<string, string>();
      for (const { threadId, keys } of entries)
        for (const key of keys) if (!proposed.has(key)) proposed.set(key, threadId);
      if (proposed.size === 0) return entries.map(() => []);
      await db.#q(
        firmId,
        `INSERT INTO thread_keys (firm_id, key, thread_id) SELECT $1, u.k, u.t FROM unnest($2::text[], $3::text[]) AS u(k, t)
         ON CONFLICT (firm_id, key) DO NOTHING`,
        [firmId, [...proposed.keys()], [...proposed.values()]],
      );
      const rows = await db.#q(
        firmId,
        "SELECT key, thread_id FROM thread_keys WHERE firm_id = $1 AND key = ANY($2::text[])",
        [firmId, [...proposed.keys()]],
      );
      const owners = new Map(rows.map((r) => [r.key as string, r.thread_id as string]));
      return entries.map(({ threadId, keys }) =>
        [...new Set(keys)].flatMap((key) => {
          const owner = owners.get(key);
          return owner === undefined || owner === threadId ? [] : [{ key, threadId: owner }];
        }),
      );
    });
  }

  async addSubjectEntriesBatch(firmId: string, entries: readonly ThreadSubjectEntries[]): Promise<void> {
    assertStorable(entries, "entries");
    await this.#atomic(async (db) => {
      await db.#requireThreads(
        firmId,
        entries.map((e) => e.threadId),
      );
      const rows = entries.flatMap(({ threadId, entries: list }) =>
        list.map((entry) => ({ threadId, entry })),
      );
      if (rows.length === 0) return;
      await db.#q(
        firmId,
        `INSERT INTO thread_subjects (firm_id, key, at, open, thread_id)
         SELECT $1, k, a, o, t FROM unnest($2::text[], $3::timestamptz[], $4::boolean[], $5::text[]) AS e(k, a, o, t)`,
        [
          firmId,
          rows.map((r) => r.entry.key),
          rows.map((r) => r.entry.at.toISOString()),
          rows.map((r) => r.entry.open),
          rows.map((r) => r.threadId),
        ],
      );
    });
  }

  async listThreadMutesBatch(firmId: string, threadIds: readonly string[]): Promise<Map<string, string[]>> {
    const found = new Map<string, string[]>(threadIds.map((id) => [id, []]));
    if (found.size === 0) return found;
    const rows = await this.#q(
      firmId,
      `SELECT thread_id, member_id FROM thread_mutes WHERE firm_id = $1 AND thread_id = ANY($2::text[])
       ORDER BY member_id COLLATE "C"`,
      [firmId, [...found.keys()]],
    );
    for (const r of rows) found.get(r.thread_id as string)?.push(r.member_id as string);
    return found;
  }

  /** Turns message rows into records, with their filings and sightings. */
  /**
   * The filings and sightings of `rows`. Reads by a list of ids go key by key through lateral
   * lookups (as {@link MESSAGES_BY_DEDUPE_KEY} does): `= ANY($2)` let the planner scan every row
   * of the firm on tables without statistics yet.
   */
  async #hydrate(firmId: string, rows: Row[]): Promise<FiledMessage[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id as string);
    const [filings, sightings] = await Promise.all([
      this.#q(
        firmId,
        `SELECT f.message_id, f.account_id, f.link_ids FROM unnest($2::text[]) AS k(id) CROSS JOIN LATERAL
           (SELECT * FROM message_filings WHERE firm_id = $1 AND message_id = k.id OFFSET 0) AS f
         ORDER BY f.account_id COLLATE "C"`,
        [firmId, ids],
      ),
      this.#q(
        firmId,
        `SELECT s.message_id, s.mailbox_id, s.provider_id, s.folder FROM unnest($2::text[]) AS k(id) CROSS JOIN LATERAL
           (SELECT * FROM message_sightings WHERE firm_id = $1 AND message_id = k.id OFFSET 0) AS s
         ORDER BY s.mailbox_id COLLATE "C", s.provider_id COLLATE "C"`,
        [firmId, ids],
      ),
    ]);
    const filingsOf = new Map<string, FiledMessage["filings"]>();
    for (const f of filings) {
      const list = filingsOf.get(f.message_id) ?? [];
      list.push({ accountId: f.account_id, linkIds: f.link_ids });
      filingsOf.set(f.message_id, list);
    }
    const sightingsOf = new Map<string, FiledMessage["sightings"]>();
    for (const s of sightings) {
      const list = sightingsOf.get(s.message_id) ?? [];
      list.push({ mailboxId: s.mailbox_id, providerId: s.provider_id, folder: s.folder });
      sightingsOf.set(s.message_id, list);
    }
    return rows.map((r) => ({
      id: r.id,
      firmId: r.firm_id,
      dedupeKey: r.dedupe_key,
      messageId: text(r.message_id),
      inReplyTo: r.in_reply_to,
      references: r.refs,
      from: r.from_addrs,
      sender: r.sender,
      replyTo: r.reply_to,
      to: r.to_addrs,
      cc: r.cc,
      bcc: r.bcc,
      subject: r.subject,
      date: r.date,
      direction: r.direction,
      text: text(r.text_body),
      html: text(r.html_body),
      attachments: r.attachments,
      threadId: r.thread_id,
      filings: filingsOf.get(r.id) ?? [],
      sightings: sightingsOf.get(r.id) ?? [],
      removedAt: date(r.removed_at),
      filedAt: r.filed_at,
      sourceKey: text(r.source_key),
      degraded: r.degraded === true,
    }));
  }

  async listThreadMessages(firmId: string, threadId: string): Promise<FiledMessage[]> {
    const rows = await this.#q(
      firmId,
      `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.firm_id = $1 AND m.thread_id = $2 AND m.removed_at IS NULL
       ORDER BY m.date, m.id COLLATE "C"`,
      [firmId, threadId],
    );
    return this.#hydrate(firmId, rows);
  }

  async listAccountThreads(
    firmId: string,
    accountId: string,
    options: ThreadListOptions,
  ): Promise<ThreadView[]> {
    return this.#listThreads(firmId, accountId, options);
  }

  async listFirmThreads(firmId: string, options: ThreadListOptions): Promise<ThreadView[]> {
    return this.#listThreads(firmId, undefined, options);
  }

  /** Threads shown under one account, or under any account (Inbox+) when `accountId` is undefined. */
  async #listThreads(
    firmId: string,
    accountId: string | undefined,
    options: ThreadListOptions,
  ): Promise<ThreadView[]> {
    const after = options.after;
    const rows = await this.#q(
      firmId,
      `WITH shown AS (
         SELECT DISTINCT m.thread_id FROM message_filings f
         JOIN messages m ON m.firm_id = f.firm_id AND m.id = f.message_id AND m.removed_at IS NULL
         WHERE f.firm_id = $1 AND ($2::text IS NULL OR f.account_id = $2)
           AND EXISTS (SELECT 1 FROM links l WHERE l.firm_id = f.firm_id AND l.id = ANY(f.link_ids) AND l.email_sync)
       ), ranked AS (
         SELECT m.thread_id, max(m.date) AS last_activity FROM messages m
         WHERE m.firm_id = $1 AND m.removed_at IS NULL AND m.thread_id IN (SELECT thread_id FROM shown)
         GROUP BY m.thread_id
         HAVING ($3 = 'inbox' OR bool_or(m.direction = 'outbound'))
           AND ($5::timestamptz IS NULL OR max(m.date) < $5
                OR (max(m.date) = $5 AND m.thread_id COLLATE "C" > $6::text COLLATE "C"))
         ORDER BY last_activity DESC, m.thread_id COLLATE "C" LIMIT $4
       )
       SELECT ${MESSAGE_COLUMNS}, r.last_activity FROM ranked r
       JOIN messages m ON m.firm_id = $1 AND m.thread_id = r.thread_id AND m.removed_at IS NULL
       ORDER BY r.last_activity DESC, r.thread_id COLLATE "C", m.date, m.id COLLATE "C"`,
      [
        firmId,
        accountId ?? null,
        options.view,
        options.limit ?? 50,
        after?.lastActivityAt ?? null,
        after?.threadId ?? null,
      ],
    );
    const messages = await this.#hydrate(firmId, rows);
    const views: ThreadView[] = [];
    for (const [index, message] of messages.entries()) {
      const last = views[views.length - 1];
      if (last?.threadId === message.threadId) last.messages.push(message);
      else
        views.push({
          threadId: message.threadId,
          lastActivityAt: (rows[index] as Row).last_activity,
          messages: [message],
        });
    }
    return views;
  }

  async eraseThreadTraces(firmId: string, traces: ThreadTraces): Promise<ThreadTracesRemoved> {
    return this.#atomic(async (db) => {
      const emptied = (
        await db.#q(
          firmId,
          `SELECT t.id FROM threads t WHERE t.firm_id = $1 AND t.id = ANY($2::text[])
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.firm_id = t.firm_id AND m.thread_id = t.id)`,
          [firmId, [...new Set(traces.threadIds)]],
        )
      ).map((r) => r.id as string);
      const keys = await db.#q(
        firmId,
        `DELETE FROM thread_keys WHERE firm_id = $1 AND (key = ANY($2::text[]) OR thread_id = ANY($3::text[]))
         RETURNING key`,
        [firmId, [...new Set(traces.keys)], emptied],
      );
      const suffixes = [...new Set(traces.participants)].map((address) => `:${address}`);
      const subjects = await db.#q(
        firmId,
        `DELETE FROM thread_subjects WHERE firm_id = $1
           AND (thread_id = ANY($2::text[])
                OR EXISTS (SELECT 1 FROM unnest($3::text[]) AS s(suffix)
                           WHERE right(key, length(s.suffix)) = s.suffix))
         RETURNING thread_id`,
        [firmId, emptied, suffixes],
      );
      await db.#q(firmId, "DELETE FROM thread_mutes WHERE firm_id = $1 AND thread_id = ANY($2::text[])", [
        firmId,
        emptied,
      ]);
      const threads = await db.#q(
        firmId,
        "DELETE FROM threads WHERE firm_id = $1 AND id = ANY($2::text[]) RETURNING id",
        [firmId, emptied],
      );
      return { threads: threads.length, keys: keys.length, subjectEntries: subjects.length };
    });
  }

  async setThreadMuted(firmId: string, threadId: string, memberId: string, muted: boolean): Promise<void> {
    await this.#atomic(async (db) => {
      await db.#requireThread(firmId, threadId);
      if (!muted) {
        await db.#q(
          firmId,
          "DELETE FROM thread_mutes WHERE firm_id = $1 AND thread_id = $2 AND member_id = $3",
          [firmId, threadId, memberId],
        );
        return;
      }
      try {
        await db.#q(
          firmId,
          "INSERT INTO thread_mutes (firm_id, thread_id, member_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
          [firmId, threadId, memberId],
        );
      } catch (error) {
        if (sqlState(error) === "23503") throw new NotFoundError("team member", memberId, { cause: error });
        throw error;
      }
    });
  }

  async listThreadMutes(firmId: string, threadId: string): Promise<string[]> {
    const rows = await this.#q(
      firmId,
      `SELECT member_id FROM thread_mutes WHERE firm_id = $1 AND thread_id = $2 ORDER BY member_id COLLATE "C"`,
      [firmId, threadId],
    );
    return rows.map((r) => r.member_id as string);
  }

  // -- filed messages -------------------------------------------------------------------------

  /** Throws `not_found` for the first reference of the batch that is not in the firm. */
  async #checkReferences(firmId: string, messages: readonly MessageToFile[]): Promise<void> {
    const threads = [...new Set(messages.map((m) => m.threadId))];
    const mailboxes = [...new Set(messages.flatMap((m) => m.sightings.map((s) => s.mailboxId)))];
    const accounts = [...new Set(messages.flatMap((m) => m.filings.map((f) => f.accountId)))];
    const links = [...new Set(messages.flatMap((m) => m.filings.flatMap((f) => f.linkIds)))];
    const rows = await this.#q(
      firmId,
      `SELECT 'thread' AS kind, id, NULL AS account_id FROM threads WHERE firm_id = $1 AND id = ANY($2::text[])
       UNION ALL SELECT 'mailbox', id, NULL FROM mailboxes WHERE firm_id = $1 AND id = ANY($3::text[])
       UNION ALL SELECT 'account', id, NULL FROM accounts WHERE firm_id = $1 AND id = ANY($4::text[])
       UNION ALL SELECT 'link', id, account_id FROM links WHERE firm_id = $1 AND id = ANY($5::text[])`,
      [firmId, threads, mailboxes, accounts, links],
    );
    const known = new Set(rows.map((r) => `${r.kind}:${r.id}`));
    const linkAccount = new Map(
      rows.filter((r) => r.kind === "link").map((r) => [r.id as string, r.account_id as string]),
    );
    for (const [index, m] of messages.entries()) {
      if (!known.has(`thread:${m.threadId}`))
        throw new NotFoundError("thread", m.threadId, { details: { index } });
      for (const s of m.sightings) {
        if (!known.has(`mailbox:${s.mailboxId}`))
          throw new NotFoundError("mailbox", s.mailboxId, { details: { index } });
      }
      for (const f of m.filings) {
        if (!known.has(`account:${f.accountId}`))
          throw new NotFoundError("account", f.accountId, { details: { index } });
        for (const linkId of f.linkIds) {
          if (linkAccount.get(linkId) !== f.accountId)
            throw new NotFoundError("link", linkId, { details: { index } });
        }
      }
    }
  }

  /** COPY rows for new messages (the column order of `MESSAGE_COPY_COLUMNS`). */
  #messageRows(
    firmId: string,
    fresh: readonly MessageToFile[],
    ids: readonly string[],
    at: Date,
  ): CopyValue[][] {
    return fresh.map((m, i) => [
      firmId,
      ids[i]!,
      m.dedupeKey,
      m.messageId ?? null,
      json(m.inReplyTo),
      json(m.references),
      json(m.from),
      json(m.sender),
      json(m.replyTo),
      json(m.to),
      json(m.cc),
      json(m.bcc),
      m.subject,
      m.date,
      m.direction,
      m.text ?? null,
      m.html ?? null,
      json(m.attachments),
      m.threadId,
      at,
      m.sourceKey ?? null,
      m.degraded,
    ]);
  }

  /**
   * Runs `copies` inside a savepoint of the current transaction; false, with the savepoint rolled
   * back and nothing written, when they hit a unique key another row already holds (23505). The
   * savepoint's statements go out with the copies rather than in round trips of their own: a
   * failure of theirs fails the copies too.
   */
  async #copyUnlessTaken(copies: (client: PoolClient) => Promise<void>): Promise<boolean> {
    const context = this.#current();
    if (!context) throw new ClientMailError("internal", "COPY runs inside a transaction");
    const { client } = context;
    const name = `clientmail_sp_${++context.savepoints}`;
    const opened = client.query(`SAVEPOINT ${name}`);
    opened.catch(() => undefined); // the copies fail with it
    try {
      await copies(client);
      await Promise.all([opened, client.query(`RELEASE SAVEPOINT ${name}`)]);
      return true;
    } catch (error) {
      if (sqlState(error) !== "23505") transient(error);
      await client.query(`ROLLBACK TO SAVEPOINT ${name}`);
      return false;
    }
  }

  /**
   * Inserts new message rows, skipping dedupe keys the firm already has; returns the rows it
   * inserted. `rows` are their COPY rows (built by the caller while `known`, the keys the firm
   * already has with their ids, was read; undefined with row-level security).
   *
   * Without row-level security, the rows whose keys the firm does not have go by COPY straight
   * into `messages`, inside a savepoint: COPY cannot skip conflicts, so if another transaction
   * filed one of the same keys in between, the savepoint is rolled back and the batch takes the
   * staging path below. With row-level security (COPY FROM refuses tables with policies), and
   * after such a race, the rows travel by COPY into a session-local staging table, then one
   * `INSERT … SELECT … ON CONFLICT DO NOTHING`. Bodies are large, and COPY's text format costs far
   * less to send and parse than arrays of parameters (see bench:store).
   */
  async #insertMessages(
    firmId: string,
    fresh: readonly MessageToFile[],
    ids: readonly string[],
    rows: readonly CopyValue[][],
    known: ReadonlyMap<string, string> | undefined,
  ): Promise<Row[]> {
    const context = this.#current();
    if (!context) throw new ClientMailError("internal", "Messages are inserted inside a transaction");
    const { client } = context;
    if (known) {
      const unknown = fresh.flatMap((m, i) => (known.has(m.dedupeKey) ? [] : [i]));
      if (unknown.length === 0) return [];
      // Fails (23505) on a key filed by another transaction since it was read.
      const copied = await this.#copyUnlessTaken((client) =>
        copyIn(
          client,
          `COPY messages ${MESSAGE_COPY_COLUMNS} FROM STDIN (FORMAT binary)`,
          MESSAGE_COPY_TYPES,
          unknown.map((i) => rows[i]!),
          this.#copyBuffers,
        ),
      );
      if (copied) return unknown.map((i) => ({ id: ids[i], dedupe_key: fresh[i]!.dedupeKey }));
    }
    // Created once per database session; emptied at every commit.
    await client.query(
      `CREATE TEMP TABLE IF NOT EXISTS clientmail_incoming_messages
         (LIKE messages INCLUDING DEFAULTS EXCLUDING CONSTRAINTS) ON COMMIT DELETE ROWS`,
    );
    await client.query("TRUNCATE clientmail_incoming_messages");
    await copyIn(
      client,
      `COPY clientmail_incoming_messages ${MESSAGE_COPY_COLUMNS} FROM STDIN (FORMAT binary)`,
      MESSAGE_COPY_TYPES,
      rows,
      this.#copyBuffers,
    ).catch(transient);
    // Key order, so two workers filing overlapping batches take their locks in the same order.
    return this.#q(
      firmId,
      `INSERT INTO messages SELECT * FROM clientmail_incoming_messages ORDER BY dedupe_key COLLATE "C"
       ON CONFLICT (firm_id, dedupe_key) DO NOTHING
       RETURNING id, dedupe_key`,
    );
  }

  /**
   * Writes the sightings and filings of a batch whose messages are all new by COPY, inside a
   * savepoint; false (and nothing written) when a sighting is already in the firm (23505).
   */
  async #copyFilings(
    sightingRows: readonly CopyValue[][],
    filingRows: readonly CopyValue[][],
  ): Promise<boolean> {
    return this.#copyUnlessTaken(async (client) => {
      await copyIn(
        client,
        "COPY message_sightings (firm_id, mailbox_id, provider_id, message_id, folder) FROM STDIN (FORMAT binary)",
        SIGHTING_COPY_TYPES,
        sightingRows,
        this.#copyBuffers,
      );
      await copyIn(
        client,
        "COPY message_filings (firm_id, message_id, account_id, link_ids) FROM STDIN (FORMAT binary)",
        FILING_COPY_TYPES,
        filingRows,
        this.#copyBuffers,
      );
    });
  }

  #outcomes(
    messages: readonly MessageToFile[],
    idOf: ReadonlyMap<string, string>,
    created: ReadonlySet<string>,
  ): FileOutcome[] {
    const reported = new Set<string>();
    return messages.map((m) => {
      const id = idOf.get(m.dedupeKey) as string;
      const isNew = created.has(m.dedupeKey) && !reported.has(m.dedupeKey);
      reported.add(m.dedupeKey);
      return { dedupeKey: m.dedupeKey, id, created: isNew };
    });
  }

  async fileMessages(firmId: string, messages: readonly MessageToFile[], at: Date): Promise<FileOutcome[]> {
    assertStorable(messages, "messages");
    if (messages.length === 0) return [];
    return this.#atomic(async (db) => {
      // The first occurrence of a key in the batch is the one inserted.
      const firsts = new Map<string, MessageToFile>();
      for (const m of messages) if (!firsts.has(m.dedupeKey)) firsts.set(m.dedupeKey, m);
      // Rows go in key order, so two workers filing overlapping batches take their locks in the
      // same order instead of deadlocking.
      const fresh = [...firsts.values()].sort((a, b) => byCodePoint(a.dedupeKey, b.dedupeKey));
      const proposedIds = fresh.map(() => db.#newId());
      // The server checks the references and reads the keys the firm already has (not with
      // row-level security: see #insertMessages) while the COPY lines are built here.
      const reads = Promise.all([
        db.#checkReferences(firmId, messages),
        db.#rls ? undefined : db.#q(firmId, MESSAGES_BY_DEDUPE_KEY, [firmId, fresh.map((m) => m.dedupeKey)]),
      ]);
      reads.catch(() => undefined); // awaited below; a rejection is not unhandled meanwhile
      const rows = db.#messageRows(firmId, fresh, proposedIds, at);
      const [, existing] = await reads;
      const known = existing && new Map(existing.map((r) => [r.dedupe_key as string, r.id as string]));
      const inserted = await db.#insertMessages(firmId, fresh, proposedIds, rows, known);
      const idOf = new Map(inserted.map((r) => [r.dedupe_key as string, r.id as string]));
      const created = new Set(idOf.keys());
      for (const [key, id] of known ?? []) if (!idOf.has(key)) idOf.set(key, id);
      // Read only with row-level security, or for keys another transaction filed meanwhile.
      const missing = fresh.map((m) => m.dedupeKey).filter((key) => !idOf.has(key));
      if (missing.length > 0) {
        const existing = await db.#q(firmId, MESSAGES_BY_DEDUPE_KEY, [firmId, missing]);
        for (const r of existing) idOf.set(r.dedupe_key, r.id);
      }

      const sightingRows = messages
        .flatMap((m) => m.sightings.map((s) => ({ messageId: idOf.get(m.dedupeKey) as string, ...s })))
        .sort((a, b) => byCodePoint(a.mailboxId, b.mailboxId) || byCodePoint(a.providerId, b.providerId));
      // One row per (message, account): merge the batch's link ids before the upsert, which may
      // touch a row only once per statement.
      const filings = new Map<string, { messageId: string; accountId: string; linkIds: Set<string> }>();
      for (const m of messages) {
        const messageId = idOf.get(m.dedupeKey) as string;
        for (const f of m.filings) {
          const key = `${messageId}\u0000${f.accountId}`;
          const entry = filings.get(key) ?? { messageId, accountId: f.accountId, linkIds: new Set<string>() };
          for (const linkId of f.linkIds) entry.linkIds.add(linkId);
          filings.set(key, entry);
        }
      }
      const filingRows = [...filings.values()].sort(
        (a, b) => byCodePoint(a.messageId, b.messageId) || byCodePoint(a.accountId, b.accountId),
      );
      // Every message of the batch new: nothing to un-hide and no filing to merge, so the rows go
      // by COPY (unless a sighting is already there: then the statement below).
      if (
        !db.#rls &&
        created.size === firsts.size &&
        (await db.#copyFilings(
          sightingRows.map((s) => [firmId, s.mailboxId, s.providerId, s.messageId, s.folder]),
          filingRows.map((f) => [firmId, f.messageId, f.accountId, [...f.linkIds].sort(byCodePoint)]),
        ))
      ) {
        return db.#outcomes(messages, idOf, created);
      }
      // Sightings, the un-hiding of messages seen again (F8) and filings in one round trip.
      await db.#q(
        firmId,
        `WITH added AS (
           INSERT INTO message_sightings (firm_id, mailbox_id, provider_id, message_id, folder)
           SELECT $1, u.* FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS u
           ON CONFLICT (firm_id, mailbox_id, provider_id) DO NOTHING
           RETURNING message_id
         ), unhidden AS (
           UPDATE messages SET removed_at = NULL
           WHERE firm_id = $1 AND id IN (SELECT message_id FROM added) AND removed_at IS NOT NULL
           RETURNING id
         ), filed AS (
           INSERT INTO message_filings AS f (firm_id, message_id, account_id, link_ids)
           SELECT $1, u.message_id, u.account_id, u.link_ids::text[]
           FROM unnest($6::text[], $7::text[], $8::text[]) AS u(message_id, account_id, link_ids)
           ON CONFLICT (firm_id, message_id, account_id) DO UPDATE
             SET link_ids = ARRAY(SELECT x FROM (SELECT DISTINCT unnest(f.link_ids || EXCLUDED.link_ids) AS x) AS d
                                 ORDER BY x COLLATE "C")
             WHERE NOT (EXCLUDED.link_ids <@ f.link_ids)
           RETURNING message_id
         )
         SELECT (SELECT count(*) FROM added) AS sightings, (SELECT count(*) FROM unhidden) AS unhidden,
           (SELECT count(*) FROM filed) AS filings`,
        [
          firmId,
          sightingRows.map((s) => s.mailboxId),
          sightingRows.map((s) => s.providerId),
          sightingRows.map((s) => s.messageId),
          sightingRows.map((s) => s.folder),
          filingRows.map((f) => f.messageId),
          filingRows.map((f) => f.accountId),
          filingRows.map((f) => arrayLiteral([...f.linkIds].sort(byCodePoint))),
        ],
      );
      return db.#outcomes(messages, idOf, created);
    });
  }

  async getMessage(firmId: string, messageId: string): Promise<FiledMessage | undefined> {
    const rows = await this.#q(
      firmId,
      `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.firm_id = $1 AND m.id = $2`,
      [firmId, messageId],
    );
    return (await this.#hydrate(firmId, rows))[0];
  }

  async getMessages(firmId: string, messageIds: readonly string[]): Promise<FiledMessage[]> {
    if (messageIds.length === 0) return [];
    const rows = await this.#q(
      firmId,
      `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.firm_id = $1 AND m.id = ANY($2::text[])`,
      [firmId, [...new Set(messageIds)]],
    );
    return this.#hydrate(firmId, rows);
  }

  async findMessagesByDedupeKeys(firmId: string, keys: readonly string[]): Promise<Map<string, string>> {
    const rows = await this.#q(firmId, MESSAGES_BY_DEDUPE_KEY, [firmId, [...keys]]);
    return new Map(rows.map((r) => [r.dedupe_key as string, r.id as string]));
  }

  async findMessagesByMessageIds(firmId: string, messageIds: readonly string[]): Promise<FiledMessage[]> {
    if (messageIds.length === 0) return [];
    const rows = await this.#q(
      firmId,
      `SELECT ${MESSAGE_COLUMNS} FROM unnest($2::text[]) AS k(message_id) CROSS JOIN LATERAL
         (SELECT * FROM messages WHERE firm_id = $1 AND message_id = k.message_id OFFSET 0) AS m`,
      [firmId, [...new Set(messageIds)]],
    );
    return this.#hydrate(firmId, rows);
  }

  async listSightings(firmId: string, mailboxId: string): Promise<string[]> {
    const rows = await this.#q(
      firmId,
      'SELECT provider_id FROM message_sightings WHERE firm_id = $1 AND mailbox_id = $2 ORDER BY provider_id COLLATE "C"',
      [firmId, mailboxId],
    );
    return rows.map((r) => r.provider_id as string);
  }

  async removeSightings(
    firmId: string,
    mailboxId: string,
    providerIds: readonly string[],
    at: Date,
  ): Promise<SightingRemoval> {
    return this.#atomic(async (db) => {
      const firm = await db.#q(firmId, "SELECT deletion_mode FROM firms WHERE id = $1", [firmId]);
      if (!firm[0]) return { orphaned: [], hidden: false };
      const removed = await db.#q(
        firmId,
        `DELETE FROM message_sightings WHERE firm_id = $1 AND mailbox_id = $2 AND provider_id = ANY($3::text[])
         RETURNING message_id`,
        [firmId, mailboxId, [...providerIds]],
      );
      const touched = [...new Set(removed.map((r) => r.message_id as string))];
      if (touched.length === 0) return { orphaned: [], hidden: false };
      const orphanRows = await db.#q(
        firmId,
        `SELECT m.id FROM messages m WHERE m.firm_id = $1 AND m.id = ANY($2::text[])
           AND NOT EXISTS (SELECT 1 FROM message_sightings s WHERE s.firm_id = m.firm_id AND s.message_id = m.id)
         ORDER BY m.id COLLATE "C"`,
        [firmId, touched],
      );
      const orphaned = orphanRows.map((r) => r.id as string);
      const hide = firm[0].deletion_mode === "mirror";
      if (hide && orphaned.length > 0) {
        await db.#q(
          firmId,
          "UPDATE messages SET removed_at = $3 WHERE firm_id = $1 AND id = ANY($2::text[])",
          [firmId, orphaned, at],
        );
      }
      return { orphaned, hidden: hide && orphaned.length > 0 };
    });
  }

  async eraseMessages(firmId: string, messageIds: readonly string[]): Promise<number> {
    return this.#atomic(async (db) => {
      const ids = [...new Set(messageIds)];
      await db.#q(firmId, "DELETE FROM message_filings WHERE firm_id = $1 AND message_id = ANY($2::text[])", [
        firmId,
        ids,
      ]);
      await db.#q(
        firmId,
        "DELETE FROM message_sightings WHERE firm_id = $1 AND message_id = ANY($2::text[])",
        [firmId, ids],
      );
      const rows = await db.#q(
        firmId,
        "DELETE FROM messages WHERE firm_id = $1 AND id = ANY($2::text[]) RETURNING id",
        [firmId, ids],
      );
      return rows.length;
    });
  }

  async findMessagesInvolving(
    firmId: string,
    involving: { linkIds: readonly string[]; addresses: readonly string[] },
  ): Promise<FiledMessage[]> {
    if (involving.linkIds.length === 0 && involving.addresses.length === 0) return [];
    const rows = await this.#q(
      firmId,
      `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.firm_id = $1 AND (
         EXISTS (SELECT 1 FROM message_filings f WHERE f.firm_id = m.firm_id AND f.message_id = m.id
                   AND f.link_ids && $2::text[])
         OR EXISTS (SELECT 1 FROM jsonb_array_elements(m.from_addrs || m.sender || m.reply_to || m.to_addrs || m.cc || m.bcc) e
                    WHERE e->>'address' = ANY($3::text[])))
       ORDER BY m.id COLLATE "C"`,
      [firmId, [...new Set(involving.linkIds)], [...new Set(involving.addresses)]],
    );
    return this.#hydrate(firmId, rows);
  }

  // -- quarantine -----------------------------------------------------------------------------

  async putQuarantine(firmId: string, entries: readonly QuarantineEntry[]): Promise<void> {
    assertStorable(entries, "entries");
    if (entries.length === 0) return;
    await this.#atomic(async (db) => {
      const mailboxIds = [...new Set(entries.map((e) => e.mailboxId))];
      const known = await db.#q(
        firmId,
        "SELECT id FROM mailboxes WHERE firm_id = $1 AND id = ANY($2::text[])",
        [firmId, mailboxIds],
      );
      const missing = mailboxIds.find((id) => !known.some((r) => r.id === id));
      if (missing !== undefined) throw new NotFoundError("mailbox", missing);
      await db.#q(
        firmId,
        `INSERT INTO quarantine (firm_id, mailbox_id, provider_id, reason, detail, attempts, first_attempt_at,
                                 last_attempt_at, next_attempt_at)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::integer[],
                                  $7::timestamptz[], $8::timestamptz[], $9::timestamptz[])
         ON CONFLICT (firm_id, mailbox_id, provider_id) DO UPDATE SET
           reason = EXCLUDED.reason, detail = EXCLUDED.detail, attempts = EXCLUDED.attempts,
           first_attempt_at = EXCLUDED.first_attempt_at, last_attempt_at = EXCLUDED.last_attempt_at,
           next_attempt_at = EXCLUDED.next_attempt_at`,
        [
          firmId,
          entries.map((e) => e.mailboxId),
          entries.map((e) => e.providerId),
          entries.map((e) => e.reason),
          entries.map((e) => e.detail),
          entries.map((e) => e.attempts),
          entries.map((e) => e.firstAttemptAt.toISOString()),
          entries.map((e) => e.lastAttemptAt.toISOString()),
          entries.map((e) => e.nextAttemptAt.toISOString()),
        ],
      );
    });
  }

  async listQuarantine(firmId: string, filter: QuarantineFilter = {}): Promise<QuarantineEntry[]> {
    const rows = await this.#q(
      firmId,
      `SELECT mailbox_id, provider_id, reason, detail, attempts, first_attempt_at, last_attempt_at, next_attempt_at
         FROM quarantine
        WHERE firm_id = $1 AND ($2::text IS NULL OR mailbox_id = $2) AND ($3::timestamptz IS NULL OR next_attempt_at <= $3)
        ORDER BY next_attempt_at, mailbox_id COLLATE "C", provider_id COLLATE "C"
        LIMIT $4`,
      [firmId, filter.mailboxId ?? null, filter.dueAt?.toISOString() ?? null, filter.limit ?? null],
    );
    return rows.map((r) => ({
      mailboxId: r.mailbox_id,
      providerId: r.provider_id,
      reason: r.reason,
      detail: r.detail,
      attempts: r.attempts,
      firstAttemptAt: r.first_attempt_at,
      lastAttemptAt: r.last_attempt_at,
      nextAttemptAt: r.next_attempt_at,
    }));
  }

  async removeQuarantine(firmId: string, mailboxId: string, providerIds: readonly string[]): Promise<number> {
    if (providerIds.length === 0) return 0;
    const rows = await this.#q(
      firmId,
      "DELETE FROM quarantine WHERE firm_id = $1 AND mailbox_id = $2 AND provider_id = ANY($3::text[]) RETURNING 1",
      [firmId, mailboxId, [...providerIds]],
    );
    return rows.length;
  }

  // -- push registrations ---------------------------------------------------------------------

  async putPushRegistration(firmId: string, record: PushRegistrationRecord): Promise<void> {
    assertStorable(record, "record");
    await this.#atomic(async (db) => {
      const known = await db.#q(firmId, "SELECT 1 FROM mailboxes WHERE firm_id = $1 AND id = $2", [
        firmId,
        record.mailboxId,
      ]);
      if (known.length === 0) throw new NotFoundError("mailbox", record.mailboxId);
      await db.#q(
        firmId,
        `INSERT INTO push_registrations (firm_id, subscription_id, mailbox_id, provider, resource, secret_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (firm_id, subscription_id) DO UPDATE SET
           mailbox_id = EXCLUDED.mailbox_id, provider = EXCLUDED.provider, resource = EXCLUDED.resource,
           secret_hash = EXCLUDED.secret_hash, expires_at = EXCLUDED.expires_at`,
        [
          firmId,
          record.subscriptionId,
          record.mailboxId,
          record.provider,
          record.resource,
          record.secretHash,
          record.expiresAt.toISOString(),
        ],
      );
    });
  }

  async getPushRegistration(
    firmId: string,
    subscriptionId: string,
  ): Promise<PushRegistrationRecord | undefined> {
    const rows = await this.#q(
      firmId,
      "SELECT * FROM push_registrations WHERE firm_id = $1 AND subscription_id = $2",
      [firmId, subscriptionId],
    );
    return rows[0] ? pushRegistrationFromRow(rows[0]) : undefined;
  }

  async listPushRegistrations(firmId: string, mailboxId: string): Promise<PushRegistrationRecord[]> {
    const rows = await this.#q(
      firmId,
      `SELECT * FROM push_registrations WHERE firm_id = $1 AND mailbox_id = $2
        ORDER BY subscription_id COLLATE "C"`,
      [firmId, mailboxId],
    );
    return rows.map(pushRegistrationFromRow);
  }

  async removePushRegistration(firmId: string, subscriptionId: string): Promise<boolean> {
    const rows = await this.#q(
      firmId,
      "DELETE FROM push_registrations WHERE firm_id = $1 AND subscription_id = $2 RETURNING 1",
      [firmId, subscriptionId],
    );
    return rows.length > 0;
  }

  // -- attachments ----------------------------------------------------------------------------

  async claimAttachment(firmId: string, accountId: string, contentHash: string): Promise<boolean> {
    try {
      const rows = await this.#q(
        firmId,
        `INSERT INTO saved_attachments (firm_id, account_id, content_hash) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING content_hash`,
        [firmId, accountId, contentHash],
      );
      return rows.length > 0;
    } catch (error) {
      if (sqlState(error) === "23503") throw new NotFoundError("account", accountId, { cause: error });
      throw error;
    }
  }

  async isAttachmentSaved(firmId: string, accountId: string, contentHash: string): Promise<boolean> {
    const rows = await this.#q(
      firmId,
      "SELECT 1 FROM saved_attachments WHERE firm_id = $1 AND account_id = $2 AND content_hash = $3",
      [firmId, accountId, contentHash],
    );
    return rows.length > 0;
  }

  // -- notifications --------------------------------------------------------------------------

  async createNotification(firmId: string, input: NewNotification, at: Date): Promise<Notification> {
    assertStorable(input, "input");
    return this.#atomic(async (db) => {
      let rows: Row[];
      try {
        rows = await db.#q(
          firmId,
          `INSERT INTO notifications (firm_id, id, member_id, kind, payload, dedupe_key, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (firm_id, member_id, dedupe_key) DO NOTHING RETURNING *`,
          [firmId, db.#newId(), input.memberId, input.kind, json(input.payload), orNull(input.dedupeKey), at],
        );
      } catch (error) {
        if (sqlState(error) === "23503")
          throw new NotFoundError("team member", input.memberId, { cause: error });
        throw error;
      }
      if (rows[0]) return notificationOf(rows[0]);
      const existing = await db.#q(
        firmId,
        "SELECT * FROM notifications WHERE firm_id = $1 AND member_id = $2 AND dedupe_key = $3",
        [firmId, input.memberId, input.dedupeKey],
      );
      return notificationOf(existing[0] as Row);
    });
  }

  async createNotifications(
    firmId: string,
    inputs: readonly NewNotification[],
    at: Date,
  ): Promise<Notification[]> {
    assertStorable(inputs, "inputs");
    if (inputs.length === 0) return [];
    return this.#atomic(async (db) => {
      const members = [...new Set(inputs.map((i) => i.memberId))];
      const known = new Set(
        (
          await db.#q(firmId, "SELECT id FROM members WHERE firm_id = $1 AND id = ANY($2::text[])", [
            firmId,
            members,
          ])
        ).map((r) => r.id as string),
      );
      const unknown = inputs.find((i) => !known.has(i.memberId));
      if (unknown) throw new NotFoundError("team member", unknown.memberId);
      // One row per dedupe key (the first input naming it) and per input without one.
      const keyOf = (i: NewNotification) =>
        i.dedupeKey === undefined ? undefined : `${i.memberId}\u0000${i.dedupeKey}`;
      const idOfKey = new Map<string, string>();
      const rowOf = inputs.map((input) => {
        const key = keyOf(input);
        if (key === undefined) return { input, id: db.#newId(), first: true };
        const existing = idOfKey.get(key);
        if (existing !== undefined) return { input, id: existing, first: false };
        const id = db.#newId();
        idOfKey.set(key, id);
        return { input, id, first: true };
      });
      const fresh = rowOf.filter((r) => r.first);
      const inserted = await db.#q(
        firmId,
        `INSERT INTO notifications (firm_id, id, member_id, kind, payload, dedupe_key, created_at)
         SELECT $1, u.id, u.member_id, u.kind, u.payload::jsonb, u.dedupe_key, $7
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(id, member_id, kind, payload, dedupe_key)
         ON CONFLICT (firm_id, member_id, dedupe_key) DO NOTHING RETURNING *`,
        [
          firmId,
          fresh.map((r) => r.id),
          fresh.map((r) => r.input.memberId),
          fresh.map((r) => r.input.kind),
          fresh.map((r) => json(r.input.payload)),
          fresh.map((r) => orNull(r.input.dedupeKey)),
          at,
        ],
      );
      const byId = new Map(inserted.map((r) => [r.id as string, notificationOf(r)]));
      const already = fresh.filter((r) => !byId.has(r.id));
      const byKey = new Map<string, Notification>();
      if (already.length > 0) {
        const rows = await db.#q(
          firmId,
          `SELECT n.* FROM notifications n
             JOIN unnest($2::text[], $3::text[]) AS u(member_id, dedupe_key)
               ON n.member_id = u.member_id AND n.dedupe_key = u.dedupe_key
           WHERE n.firm_id = $1`,
          [firmId, already.map((r) => r.input.memberId), already.map((r) => r.input.dedupeKey as string)],
        );
        for (const r of rows)
          byKey.set(`${r.member_id as string}\u0000${r.dedupe_key as string}`, notificationOf(r));
      }
      return rowOf.map((r) => {
        const key = keyOf(r.input);
        return (byId.get(r.id) ?? (key === undefined ? undefined : byKey.get(key)))!;
      });
    });
  }

  async listNotifications(firmId: string, memberId: string, now: Date): Promise<Notification[]> {
    const rows = await this.#q(
      firmId,
      `SELECT * FROM notifications WHERE firm_id = $1 AND member_id = $2 AND dismissed_at IS NULL
         AND (snoozed_until IS NULL OR snoozed_until <= $3)
       ORDER BY created_at DESC, id COLLATE "C" DESC`,
      [firmId, memberId, now],
    );
    return rows.map(notificationOf);
  }

  async snoozeNotification(firmId: string, notificationId: string, until: Date): Promise<boolean> {
    const rows = await this.#q(
      firmId,
      "UPDATE notifications SET snoozed_until = $3 WHERE firm_id = $1 AND id = $2 AND dismissed_at IS NULL RETURNING id",
      [firmId, notificationId, until],
    );
    return rows.length > 0;
  }

  async dismissNotification(firmId: string, notificationId: string, at: Date): Promise<boolean> {
    const rows = await this.#q(
      firmId,
      "UPDATE notifications SET dismissed_at = COALESCE(dismissed_at, $3) WHERE firm_id = $1 AND id = $2 RETURNING id",
      [firmId, notificationId, at],
    );
    return rows.length > 0;
  }

  // -- audit ----------------------------------------------------------------------------------

  async deleteNotifications(firmId: string, field: string, values: readonly string[]): Promise<number> {
    if (values.length === 0) return 0;
    const rows = await this.#q(
      firmId,
      "DELETE FROM notifications WHERE firm_id = $1 AND payload ->> $2 = ANY($3::text[]) AND jsonb_typeof(payload -> $2) = 'string' RETURNING id",
      [firmId, field, [...new Set(values)]],
    );
    return rows.length;
  }

  async appendAudit(firmId: string, entry: NewAuditEntry, at: Date): Promise<AuditEntry> {
    assertStorable(entry, "entry");
    try {
      const rows = await this.#q(
        firmId,
        `INSERT INTO audit_entries (firm_id, id, actor, action, subject, details, at) VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING *`,
        [firmId, this.#newId(), entry.actor, entry.action, orNull(entry.subject), json(entry.details), at],
      );
      return auditOf(rows[0] as Row);
    } catch (error) {
      throw this.#translate(error, firmId);
    }
  }

  async listAudit(firmId: string, limit = 100): Promise<AuditEntry[]> {
    const rows = await this.#q(
      firmId,
      "SELECT * FROM audit_entries WHERE firm_id = $1 ORDER BY at DESC, seq DESC LIMIT $2",
      [firmId, limit],
    );
    return rows.map(auditOf);
  }

  // -- outbox ---------------------------------------------------------------------------------

  async createOutbox(firmId: string, input: NewOutboxMessage, at: Date): Promise<OutboxMessage> {
    assertStorable(input, "input");
    return this.#atomic(async (db) => {
      const refs = await db.#q(
        firmId,
        `SELECT (SELECT count(*) FROM mailboxes WHERE firm_id = $1 AND id = $2)::int AS mailboxes,
                (SELECT count(*) FROM accounts WHERE firm_id = $1 AND id = ANY($3::text[]))::int AS accounts,
                (SELECT count(*) FROM threads WHERE firm_id = $1 AND id = $4)::int AS threads`,
        [firmId, input.mailboxId, [...new Set(input.accountIds)], orNull(input.threadId)],
      );
      const found = refs[0] as Row;
      if (found.mailboxes === 0) throw new NotFoundError("mailbox", input.mailboxId);
      if (found.accounts !== new Set(input.accountIds).size)
        throw new NotFoundError("account", input.accountIds.join(","));
      if (input.threadId !== undefined && found.threads === 0)
        throw new NotFoundError("thread", input.threadId);
      const rows = await db.#q(
        firmId,
        `INSERT INTO outbox (firm_id, id, mailbox_id, actor, account_ids, thread_id, draft, send_at, state, attempts, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'scheduled', 0, $9) RETURNING *`,
        [
          firmId,
          db.#newId(),
          input.mailboxId,
          json(input.actor),
          input.accountIds,
          orNull(input.threadId),
          json(input.draft),
          input.sendAt,
          at,
        ],
      );
      return outboxOf(rows[0] as Row);
    });
  }

  async getOutbox(firmId: string, outboxId: string): Promise<OutboxMessage | undefined> {
    const rows = await this.#q(firmId, "SELECT * FROM outbox WHERE firm_id = $1 AND id = $2", [
      firmId,
      outboxId,
    ]);
    return rows[0] ? outboxOf(rows[0]) : undefined;
  }

  async listOutbox(firmId: string, filter: OutboxFilter = {}): Promise<OutboxMessage[]> {
    const rows = await this.#q(
      firmId,
      `SELECT * FROM outbox WHERE firm_id = $1 AND ($2::text IS NULL OR state = $2)
         AND ($3::text IS NULL OR $3 = ANY(account_ids)) AND ($4::text IS NULL OR mailbox_id = $4)
       ORDER BY send_at, id COLLATE "C"`,
      [firmId, orNull(filter.state), orNull(filter.accountId), orNull(filter.mailboxId)],
    );
    return rows.map(outboxOf);
  }

  async listDueOutbox(firmId: string, now: Date, limit: number): Promise<OutboxMessage[]> {
    const rows = await this.#q(
      firmId,
      `SELECT * FROM outbox WHERE firm_id = $1 AND state = 'scheduled' AND send_at <= $2
       ORDER BY send_at, id COLLATE "C" LIMIT $3`,
      [firmId, now, limit],
    );
    return rows.map(outboxOf);
  }

  async updateScheduledOutbox(
    firmId: string,
    outboxId: string,
    patch: Partial<Pick<NewOutboxMessage, "draft" | "sendAt" | "accountIds">>,
  ): Promise<OutboxMessage | undefined> {
    assertStorable(patch, "patch");
    return this.#atomic(async (db) => {
      if (patch.accountIds !== undefined) {
        const wanted = [...new Set(patch.accountIds)];
        const found = await db.#q(
          firmId,
          "SELECT id FROM accounts WHERE firm_id = $1 AND id = ANY($2::text[])",
          [firmId, wanted],
        );
        if (found.length !== wanted.length) throw new NotFoundError("account", wanted.join(","));
      }
      const rows = await db.#q(
        firmId,
        `UPDATE outbox SET draft = COALESCE($3::jsonb, draft), send_at = COALESCE($4, send_at),
           account_ids = COALESCE($5, account_ids)
         WHERE firm_id = $1 AND id = $2 AND state = 'scheduled' RETURNING *`,
        [
          firmId,
          outboxId,
          patch.draft === undefined ? null : json(patch.draft),
          orNull(patch.sendAt),
          orNull(patch.accountIds),
        ],
      );
      return rows[0] ? outboxOf(rows[0]) : undefined;
    });
  }

  async cancelOutbox(firmId: string, outboxId: string): Promise<boolean> {
    const rows = await this.#q(
      firmId,
      "UPDATE outbox SET state = 'cancelled' WHERE firm_id = $1 AND id = $2 AND state = 'scheduled' RETURNING id",
      [firmId, outboxId],
    );
    return rows.length > 0;
  }

  async claimOutbox(firmId: string, outboxId: string, claimedBy: string): Promise<boolean> {
    assertStorable(claimedBy, "claimedBy");
    // Compare-and-set on state: concurrent claimers serialise on the row and only the first
    // still sees 'scheduled'.
    const rows = await this.#q(
      firmId,
      `UPDATE outbox SET state = 'submitting', claimed_by = $3, attempts = attempts + 1
       WHERE firm_id = $1 AND id = $2 AND state = 'scheduled' RETURNING id`,
      [firmId, outboxId, claimedBy],
    );
    return rows.length > 0;
  }

  async reclaimOutbox(
    firmId: string,
    outboxId: string,
    fromClaimedBy: string,
    toClaimedBy: string,
  ): Promise<boolean> {
    assertStorable(toClaimedBy, "toClaimedBy");
    const rows = await this.#q(
      firmId,
      `UPDATE outbox SET claimed_by = $4, attempts = attempts + 1
       WHERE firm_id = $1 AND id = $2 AND state = 'submitting' AND claimed_by = $3 RETURNING id`,
      [firmId, outboxId, fromClaimedBy, toClaimedBy],
    );
    return rows.length > 0;
  }

  async markOutboxSent(
    firmId: string,
    outboxId: string,
    claimedBy: string,
    sent: { at: Date; messageId: string },
  ): Promise<boolean> {
    assertStorable(sent, "sent");
    const rows = await this.#q(
      firmId,
      `UPDATE outbox SET state = 'sent', sent_at = $4, message_id = $5, last_error = NULL
       WHERE firm_id = $1 AND id = $2 AND state = 'submitting' AND claimed_by = $3 RETURNING id`,
      [firmId, outboxId, claimedBy, sent.at, sent.messageId],
    );
    return rows.length > 0;
  }

  async markOutboxFailed(
    firmId: string,
    outboxId: string,
    claimedBy: string,
    failure: { error: string; retryAt: Date | undefined },
  ): Promise<boolean> {
    assertStorable(failure, "failure");
    const rows = await this.#q(
      firmId,
      `UPDATE outbox SET state = CASE WHEN $5::timestamptz IS NULL THEN 'failed' ELSE 'scheduled' END,
         send_at = COALESCE($5, send_at), claimed_by = NULL, last_error = $4
       WHERE firm_id = $1 AND id = $2 AND state = 'submitting' AND claimed_by = $3 RETURNING id`,
      [firmId, outboxId, claimedBy, failure.error, orNull(failure.retryAt)],
    );
    return rows.length > 0;
  }

  async releaseFailedOutbox(
    firmId: string,
    outboxId: string,
    release: { sendAt: Date } | { sentAt: Date; messageId: string },
  ): Promise<boolean> {
    assertStorable(release, "release");
    const rows =
      "sendAt" in release
        ? await this.#q(
            firmId,
            `UPDATE outbox SET state = 'scheduled', send_at = $3, claimed_by = NULL, last_error = NULL
             WHERE firm_id = $1 AND id = $2 AND state = 'failed' RETURNING id`,
            [firmId, outboxId, release.sendAt],
          )
        : await this.#q(
            firmId,
            `UPDATE outbox SET state = 'sent', sent_at = $3, message_id = $4, claimed_by = NULL, last_error = NULL
             WHERE firm_id = $1 AND id = $2 AND state = 'failed' RETURNING id`,
            [firmId, outboxId, release.sentAt, release.messageId],
          );
    return rows.length > 0;
  }
}

/** Creates a store on the caller's pool. Run {@link migrate} first. */
export function createPostgresStore(settings: PostgresStoreSettings): Store {
  return new PostgresStore(settings);
}

function pushRegistrationFromRow(row: Row): PushRegistrationRecord {
  return {
    mailboxId: row.mailbox_id as string,
    subscriptionId: row.subscription_id as string,
    provider: row.provider as PushRegistrationRecord["provider"],
    resource: row.resource as string,
    secretHash: row.secret_hash as string,
    expiresAt: row.expires_at as Date,
  };
}
