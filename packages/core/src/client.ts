/**
 * `createClientMail`: the front door. It gives the facade the CRM side calls, with the mailbox
 * sync attached (`cm.sync`, `cm.start()`, `cm.close()`). Every input is validated with the core's
 * zod schemas; every change that spans several records runs in one store transaction, so a
 * failure halfway leaves nothing half-written. Side effects the host carries out (sending an
 * invitation) are emitted as typed events after commit; backfills of newly synced addresses run
 * inside (a queued job, or — without a queue — a backfill after the commit).
 */
import { EventEmitter } from "eventemitter3";
import { parse as parseCsv } from "csv-parse/sync";
import { z } from "zod";
import type { InvitationHandler } from "./engine/invitations.js";
import {
  ClientMailError,
  NotFoundError,
  PermissionDeniedError,
  ValidationError,
  type ValidationIssue,
} from "./errors.js";
import { normalizeAddress } from "./domain/addresses.js";
import type {
  Account,
  AccountId,
  Contact,
  ContactId,
  Firm,
  FirmId,
  Link,
  LinkId,
  Mailbox,
  MailboxId,
  MemberId,
  MessageRecordId,
  TeamMember,
} from "./domain/model.js";
import {
  accountInputSchema,
  bulkUpdateSchema,
  contactInputSchema,
  firmInputSchema,
  idSchema,
  linkSettingsSchema,
  mailboxSettingsSchema,
  multiLineText,
  parseInput,
  singleLineText,
  teamMemberInputSchema,
  type AccountInput,
  type BulkUpdateInput,
  type ContactInput,
  type LinkSettings,
} from "./domain/schemas.js";
import {
  acceptInvitation,
  accountListFlags,
  applyToggles,
  bulkUpdateReport,
  defaultNotifyPreferences,
  planBulkUpdate,
  portalStatus,
  showsEmailTab,
  type BulkUpdateReport,
  type PortalStatus,
  type SettingsEffect,
  type TogglePatch,
} from "./domain/settings.js";
import {
  notificationKey,
  snoozeDurationMs,
  syncHealthNotices,
  teamSyncStatus,
  type MemberSyncStatus,
} from "./domain/notifications.js";
import { storeCredentials } from "./engine/credentials.js";
import { systemClock, type Clock } from "./ports/clock.js";
import type { Keyring } from "./ports/keyring.js";
import { silentLogger, type Logger } from "./ports/logger.js";
import type {
  DirectoryStore,
  FiledMessage,
  Notification,
  OutboxMessage,
  QuarantineEntry,
  Store,
  ThreadView,
} from "./ports/store.js";
import type { JobQueue } from "./ports/job-queue.js";
import { syncJob } from "./engine/worker.js";
import type { BlobStore } from "./ports/blob-store.js";
import type { DocumentSink } from "./ports/document-sink.js";
import { emitEffects, enqueueEffects, type FacadeContext } from "./facade/context.js";
import {
  addContactAddress,
  deleteAccount,
  deleteContact,
  deleteLink,
  linkContact,
  listAccounts,
  removeContactAddress,
  replaceLinkAddress,
  updateUnlinkedEmail,
  type ContactAddressInput,
} from "./facade/contacts.js";
import {
  accountThreadsPage,
  inboxPlus,
  type InboxThread,
  type ThreadPage,
  type ThreadPageInput,
} from "./facade/threads.js";
import { updateMemberNotifications, type MemberNotificationsInput } from "./facade/members.js";
import { eraseContact, type ErasureReport } from "./facade/erasure.js";
import type { LinkSettingsInput } from "./domain/schemas.js";
import type { DocumentSource } from "./ports/document-source.js";
import { defaultSendLimits, type SendLimits } from "./domain/outgoing.js";
import {
  cancelMessage,
  notifyClients,
  releaseHeldMessage,
  replyInThread,
  rescheduleMessage,
  scheduledView,
  scheduleWeeklyDigests,
  sendMessages,
  type ClientNotificationInput,
  type ReleaseHeldInput,
  type ReplyInput,
  type RescheduleInput,
  type ScheduledItem,
  type SendInput,
  type SendResult,
  type SendingContext,
  type WeeklyDigestInput,
} from "./facade/sending.js";
import { exportMessageAsEml, messageSource, type EmlExport } from "./facade/message-source.js";
import type { RenderableBodyOptions } from "./content/renderable-body.js";
import {
  getMailbox,
  isThreadMuted,
  listMailboxes,
  renderThread,
  threadMessages,
} from "./facade/mail-reads.js";
import type { Metrics } from "./ports/metrics.js";
import type { SyncEvents } from "./engine/events.js";
import {
  ClientMailSync,
  type ProvidersSetting,
  type SendersSetting,
  type SyncOptions,
} from "./facade/sync-control.js";
import { checkClientMailSettings } from "./facade/settings.js";
import { updateFirm, type FirmPatchInput } from "./facade/firm.js";
import {
  renderedAccountThreads,
  renderedMessage,
  type RenderedMessage,
  type RenderedThreadView,
} from "./facade/content.js";

/** Events the facade emits after a change is committed. */
export interface ClientMailEvents {
  /**
   * T2: the host sends the portal invitation email (with the token in its link). Without a queue
   * only: with one, workers hand it to their `invitations` handler (R8, see `createWorker`).
   */
  "invitation.requested": [
    { firmId: FirmId; linkId: LinkId; email: string; token: string; customMessage: string | undefined },
  ];
  /** T4: a token stopped working. Without a queue only, like `invitation.requested`. */
  "invitation.invalidated": [{ firmId: FirmId; linkId: LinkId; token: string }];
  /** T7/Y5: email sync was turned on for these addresses; run `SyncService.backfillAddresses`. */
  "backfill.requested": [{ firmId: FirmId; addresses: string[] }];
  /** N4: a bulk update finished; its report was delivered as a notification. */
  "bulk_update.completed": [{ firmId: FirmId; memberId: MemberId; report: BulkUpdateReport }];
  /** A link was created (T1), including an unlinked email kept by an address change (T4). */
  "link.created": [{ firmId: FirmId; link: Link }];
  /** A link was deleted (with its address, contact or account, or an unlinked email's login off). */
  "link.deleted": [{ firmId: FirmId; linkId: LinkId; accountId: AccountId; contactId: string }];
  "contact.deleted": [{ firmId: FirmId; contactId: string }];
  "account.deleted": [{ firmId: FirmId; accountId: AccountId }];
  /** N1: a member's notification settings changed. */
  "member.updated": [{ firmId: FirmId; member: TeamMember }];
  /** R10: a contact was erased; the report holds counts only. */
  "contact.erased": [{ firmId: FirmId; contactId: string; by: MemberId; report: ErasureReport }];
}

/** Settings of {@link createClientMail}. */
export interface ClientMailSettings {
  store: Store;
  /** Encrypts mailbox credentials given to {@link ClientMail.connectMailbox}. */
  keyring?: Keyring | undefined;
  /**
   * Opens a mailbox's provider from its decrypted credentials: one factory, or one per provider
   * kind (`{ imap: (mailbox, secret) => createImapProvider(JSON.parse(secret!)) }`). Needed by
   * `cm.sync` and `cm.start()`.
   */
  providers?: ProvidersSetting | undefined;
  /**
   * Opens a mailbox's sender from its decrypted credentials (one factory, or one per provider
   * kind), for the workers `cm.start()` runs with a queue: they then send the outbox (S4).
   */
  senders?: SendersSetting | undefined;
  /**
   * T2, T4: sends or withdraws the invitation emails, in the workers `cm.start()` runs with a
   * queue (the invitations are jobs of the change's transaction). Without it, those jobs wait for
   * a worker that has one.
   */
  invitations?: InvitationHandler | undefined;
  /** Tuning of the attached sync (holder name, poll interval, concurrency, pacing). */
  sync?: SyncOptions | undefined;
  /** Counters and histograms for the host's exporter; see the Metrics port. Default: none. */
  metrics?: Metrics | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  /** Makes invitation tokens. Defaults to 32 random bytes, base64url. */
  newToken?: (() => string) | undefined;
  /**
   * Durable work (R8): with a queue, the backfill that turning email sync on asks for (T7) and
   * the invitations to send or withdraw (T2, T4) are jobs enqueued in the same transaction as the
   * change, run by the workers (invitations go to their `invitations` handler); without one, the
   * facade emits `backfill.requested` and the `invitation.*` events after the commit.
   */
  queue?: JobQueue | undefined;
  /** R10: where `eraseContact` deletes the erased contact's saved documents (needs `delete`). */
  documents?: DocumentSink | undefined;
  /** Reads the host's documents attached to outgoing mail (S1). */
  documentSource?: DocumentSource | undefined;
  /** Limits checked before a message is queued; defaults in {@link defaultSendLimits}. */
  sendLimits?: Partial<SendLimits> | undefined;
  /** Random hex for Message-IDs (S4). Defaults to 16 random bytes. */
  randomHex?: (() => string) | undefined;
  /**
   * R11: the BlobStore the sync engine keeps each filed message's original source in (the same
   * one given to the workers); needed by {@link ClientMail.exportMessageAsEml}, and where
   * `eraseContact` deletes the sources of erased messages (R10).
   */
  blobs?: BlobStore | undefined;
}

/** An account with what the CRM shows about it (T3, T8). */
export interface AccountOverview {
  account: Account;
  links: Link[];
  portalStatus: PortalStatus;
  showsEmailTab: boolean;
  notify: boolean;
  emailSync: boolean;
}

/** The outcome of a CSV import (T11). */
export interface ImportReport {
  accountsCreated: number;
  contactsCreated: number;
  linksCreated: number;
  /** Rows that were rejected, 1-based as in a spreadsheet (the header is row 1). */
  rowErrors: Array<{ row: number; issues: ValidationIssue[] }>;
}

function randomToken(): string {
  const bytes = new Uint8Array(32);
  globalThis.crypto.getRandomValues(bytes);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A change to one link's toggles (T1, T2, T7). */
export const linkPatchSchema = z.strictObject({
  login: z.boolean().optional(),
  notify: z.boolean().optional(),
  emailSync: z.boolean().optional(),
  signatory: z.boolean().optional(),
  notifyPreferences: linkSettingsSchema.shape.notifyPreferences,
  sendInvitation: z.boolean().optional(),
  invitationMessage: multiLineText().max(5000).optional(),
});
export type LinkPatchInput = z.input<typeof linkPatchSchema>;

const tokenSchema = singleLineText().min(1, "a non-empty invitation token").max(1000);

/** What {@link ClientMail.importClients} takes as the file. */
const csvInputSchema = z.union([z.string(), z.instanceof(Uint8Array)], {
  error: "the CSV file as text (string) or bytes (Uint8Array)",
});

const csvBoolean = z
  .string()
  .trim()
  .toLowerCase()
  .transform((value, ctx) => {
    if (["", "no", "n", "false", "0", "off"].includes(value)) return false;
    if (["yes", "y", "true", "1", "on"].includes(value)) return true;
    ctx.addIssue({ code: "custom", message: "yes/no, true/false, 1/0, on/off or empty" });
    return z.NEVER;
  });

/** The columns of a client-list CSV (T11). Toggle columns are optional. */
const csvRowSchema = z.object({
  account_name: singleLineText().trim().min(1, "a non-empty account name").max(200, "at most 200 characters"),
  account_kind: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(["person", "family", "business"])),
  first_name: singleLineText().trim().min(1, "a non-empty first name").max(200, "at most 200 characters"),
  last_name: singleLineText().trim().max(200, "at most 200 characters").default(""),
  email: z.string(),
  login: csvBoolean.default(false),
  notify: csvBoolean.default(true),
  email_sync: csvBoolean.default(false),
  signatory: csvBoolean.default(false),
});

/**
 * Creates the facade over a store, with the mailbox sync attached when `providers` are given.
 * Settings are validated: a missing store, a keyring or queue without their methods, or a bad
 * sync option is a ValidationError naming the setting.
 */
export function createClientMail(settings: ClientMailSettings): ClientMail {
  checkClientMailSettings(settings);
  return new ClientMail(settings);
}

/**
 * The facade the CRM side calls. See {@link createClientMail}. It also emits the sync engine's
 * events (`message.filed`, `sync.state`, ...) for the passes its attached sync runs.
 */
export class ClientMail extends EventEmitter<ClientMailEvents & SyncEvents> {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly newToken: () => string;
  private readonly keyring: Keyring | undefined;
  private readonly queue: JobQueue | undefined;
  private readonly files: { documents: DocumentSink | undefined; blobs: BlobStore | undefined };
  private readonly settingsForSending: ClientMailSettings;
  private readonly blobs: BlobStore | undefined;
  /**
   * Mailbox sync control: a pass now (`syncMailbox`), targeted backfills, audits, stopping a
   * mailbox (Y4), push notifications. Needs `providers` in the settings.
   */
  readonly sync: ClientMailSync;

  constructor(settings: ClientMailSettings) {
    super();
    this.store = settings.store;
    this.clock = settings.clock ?? systemClock;
    this.logger = settings.logger ?? silentLogger;
    this.newToken = settings.newToken ?? randomToken;
    this.keyring = settings.keyring;
    this.queue = settings.queue;
    this.files = { documents: settings.documents, blobs: settings.blobs };
    this.settingsForSending = settings;
    this.blobs = settings.blobs;
    this.sync = new ClientMailSync({
      store: settings.store,
      keyring: settings.keyring,
      providers: settings.providers,
      senders: settings.senders,
      invitations: settings.invitations,
      queue: settings.queue,
      blobs: settings.blobs,
      documents: settings.documents,
      metrics: settings.metrics,
      clock: this.clock,
      logger: this.logger,
      events: this as unknown as EventEmitter<SyncEvents>,
      options: settings.sync,
    });
    // T7/Y5 without a queue: the attached sync runs the backfill after the commit.
    if (settings.providers !== undefined && !settings.queue)
      this.on("backfill.requested", ({ firmId, addresses }) =>
        this.sync.backfillInBackground(firmId, addresses),
      );
  }

  /**
   * Starts syncing in this process: with a queue, a worker taking every durable job (passes,
   * backfills, attachment saves, erasure, outbox); without one, a loop following each mailbox.
   * Mailboxes connected later are followed too. Idempotent; needs `providers`.
   */
  async start(): Promise<void> {
    await this.sync.start();
  }

  /**
   * Stops everything {@link start} and the sync calls started and closes every provider
   * connection, so the process can exit. The store, queue and database pool passed in stay open:
   * they are the host's to close. Idempotent.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    await this.sync.close(options);
  }

  // Firms and team ------------------------------------------------------------------------

  /** Creates a firm; `internalDomains` are validated and normalised (F2). */
  async createFirm(input: z.input<typeof firmInputSchema>): Promise<Firm> {
    return this.store.createFirm(parseInput(firmInputSchema, input));
  }

  /** Adds a team member (their address becomes internal, F2). */
  async addMember(firmId: FirmId, input: z.input<typeof teamMemberInputSchema>): Promise<TeamMember> {
    checkIds({ firmId });
    return this.store.createMember(firmId, parseInput(teamMemberInputSchema, input));
  }

  /** One firm; throws `not_found` when there is none with this id. */
  async getFirm(firmId: FirmId): Promise<Firm> {
    checkIds({ firmId });
    const firm = await this.store.getFirm(firmId);
    if (!firm) throw new NotFoundError("Firm", firmId);
    return firm;
  }

  /** The firm's team members, in the order they were added. */
  async listMembers(firmId: FirmId): Promise<TeamMember[]> {
    checkIds({ firmId });
    return this.store.listMembers(firmId);
  }

  /** One team member; throws `not_found` when the firm has no such member. */
  async getMember(firmId: FirmId, memberId: MemberId): Promise<TeamMember> {
    checkIds({ firmId, memberId });
    const member = await this.store.getMember(firmId, memberId);
    if (!member) throw new NotFoundError("Team member", memberId);
    return member;
  }

  // Firm settings and contact reads (for host apps' directory screens) --------------------------

  /**
   * Changes the firm's name, internal domains (F2) or deletion mode (F8); at least one field.
   * Throws `not_found` for an unknown firm, `validation_failed` naming the field otherwise.
   */
  async updateFirm(firmId: FirmId, patch: FirmPatchInput): Promise<Firm> {
    return updateFirm(this.facadeContext(), firmId, patch);
  }

  /** One contact; throws `not_found` when the firm has no such contact. */
  async getContact(firmId: FirmId, contactId: ContactId): Promise<Contact> {
    checkIds({ firmId, contactId });
    const contact = await this.store.getContact(firmId, contactId);
    if (!contact) throw new NotFoundError("Contact", contactId);
    return contact;
  }

  /** The firm's contacts, ordered by last name, then first name. */
  async listContacts(firmId: FirmId): Promise<Contact[]> {
    checkIds({ firmId });
    return this.store.listContacts(firmId);
  }

  /**
   * Connects a mailbox for a member (Y1). `credentials` (the provider secret, e.g. a JSON of host
   * and app password, or an OAuth refresh token) are stored only as keyring ciphertext.
   * Y4: connecting the address of a mailbox whose sync was stopped reconnects that mailbox — its
   * filed mail and cursor are kept — instead of creating a second one.
   */
  async connectMailbox(
    firmId: FirmId,
    memberId: MemberId,
    input: {
      provider: Mailbox["provider"];
      address: string;
      displayName?: string;
      settings?: z.input<typeof mailboxSettingsSchema>;
      credentials?: string;
    },
  ): Promise<Mailbox> {
    const parsed = parseInput(
      z.strictObject({
        provider: z.enum(["gmail", "graph", "imap"]),
        address: z.string(),
        displayName: singleLineText().max(200, "at most 200 characters").optional(),
        settings: mailboxSettingsSchema.optional(),
        credentials: z.string().min(1, "a non-empty secret").max(100_000).optional(),
      }),
      input,
    );
    checkIds({ firmId, memberId });
    const address = normalizeAddress(parsed.address, "address");
    const owner = memberId;
    if (parsed.credentials !== undefined && !this.keyring) {
      throw new ClientMailError(
        "unsupported",
        "A keyring is required to store mailbox credentials (settings.keyring)",
        {
          details: { option: "keyring" },
        },
      );
    }
    const now = this.clock.now();
    const mailbox = await this.store.transaction(async (tx) => {
      const stopped = (await tx.listMailboxes(firmId)).find(
        (m) => m.address === address && m.state.status === "stopped",
      );
      let connected: Mailbox;
      if (stopped) {
        if (stopped.provider !== parsed.provider) {
          throw new ValidationError([
            {
              field: "provider",
              value: parsed.provider,
              expected: `${stopped.provider}, the provider ${address} was connected with`,
            },
          ]);
        }
        await tx.addMailboxConnection(firmId, stopped.id, owner, now);
        if (parsed.settings) await tx.updateMailboxSettings(firmId, stopped.id, definedOnly(parsed.settings));
        connected = await tx.setMailboxState(firmId, stopped.id, { status: "connecting" });
        await tx.appendAudit(
          firmId,
          { actor: owner, action: "mailbox.reconnected", subject: stopped.id, details: {} },
          now,
        );
      } else {
        connected = await tx.createMailbox(
          firmId,
          {
            provider: parsed.provider,
            address,
            displayName: parsed.displayName ?? address,
            ownerMemberId: owner,
            settings: {
              autoSaveAttachments: false,
              allowOthersToSend: false,
              signatureHtml: "",
              ...definedOnly(parsed.settings ?? {}),
            },
          },
          now,
        );
      }
      if (parsed.credentials !== undefined) {
        await storeCredentials(tx, this.keyring, firmId, connected.id, parsed.credentials);
      }
      // Y2: with workers, the new mailbox's backfill is a job of this transaction.
      if (this.queue) await this.queue.enqueue(tx, [syncJob(firmId, connected.id)]);
      return connected;
    });
    this.sync.mailboxConnected(firmId, mailbox.id);
    return mailbox;
  }

  /** Y3/P1: a member connects a shared mailbox another member already connected. */
  async joinMailbox(firmId: FirmId, mailboxId: MailboxId, memberId: MemberId): Promise<Mailbox> {
    checkIds({ firmId, mailboxId, memberId });
    const member = await this.store.getMember(firmId, memberId);
    if (!member) throw new NotFoundError("Team member", memberId);
    return this.store.addMailboxConnection(firmId, mailboxId, memberId, this.clock.now());
  }

  /** Y3: only the mailbox's owner changes its settings. */
  async updateMailboxSettings(
    firmId: FirmId,
    mailboxId: MailboxId,
    by: MemberId,
    patch: z.input<typeof mailboxSettingsSchema>,
  ): Promise<Mailbox> {
    checkIds({ firmId, mailboxId, by });
    const parsed = parseInput(mailboxSettingsSchema, patch);
    const mailbox = await this.store.getMailbox(firmId, mailboxId);
    if (!mailbox) throw new NotFoundError("Mailbox", mailboxId);
    if (mailbox.ownerMemberId !== by) {
      throw new PermissionDeniedError(
        "role_required",
        `Only the owner of ${mailbox.address} can change its settings`,
      );
    }
    return this.store.updateMailboxSettings(firmId, mailboxId, definedOnly(parsed));
  }

  // Accounts, contacts, links ---------------------------------------------------------------

  /**
   * T11: creates an account with its contacts and their settings, all or nothing. An invalid
   * address anywhere rejects the whole input with every issue listed (T12).
   */
  async createAccount(firmId: FirmId, input: AccountInput): Promise<AccountOverview> {
    checkIds({ firmId });
    const parsed = parseInput(accountInputSchema, input);
    const effects: SettingsEffect[] = [];
    const account = await this.store.transaction(async (tx) => {
      const created = await tx.createAccount(
        firmId,
        { name: parsed.name, kind: parsed.kind },
        this.clock.now(),
      );
      for (const contact of parsed.contacts)
        effects.push(...(await this.insertContact(tx, firmId, created.id, contact)));
      await this.enqueueDurable(tx, firmId, effects);
      return created;
    });
    this.emitEffects(firmId, effects);
    return this.accountOverview(firmId, account.id);
  }

  /** T11: adds a contact with its addresses and settings to an account, all or nothing. */
  async addContact(firmId: FirmId, accountId: AccountId, input: ContactInput): Promise<AccountOverview> {
    checkIds({ firmId, accountId });
    const parsed = parseInput(contactInputSchema, input);
    const effects = await this.store.transaction(async (tx) => {
      if (!(await tx.getAccount(firmId, accountId))) throw new NotFoundError("Account", accountId);
      const inserted = await this.insertContact(tx, firmId, accountId, parsed);
      await this.enqueueDurable(tx, firmId, inserted);
      return inserted;
    });
    this.emitEffects(firmId, effects);
    return this.accountOverview(firmId, accountId);
  }

  /** T1/T2/T7: changes one link's toggles. Invitations and backfills follow as events. */
  async updateLink(firmId: FirmId, linkId: LinkId, patch: LinkPatchInput): Promise<Link> {
    checkIds({ firmId, linkId });
    const parsed = parseInput(linkPatchSchema, patch);
    const togglePatch: TogglePatch = {
      login: parsed.login,
      notify: parsed.notify,
      emailSync: parsed.emailSync,
      signatory: parsed.signatory,
      notifyPreferences: parsed.notifyPreferences,
      sendInvitation: parsed.sendInvitation,
      customMessage: parsed.invitationMessage,
    };
    const { link, effects } = await this.store.transaction(async (tx) => {
      const current = await tx.getLink(firmId, linkId);
      if (!current) throw new NotFoundError("Link", linkId);
      // T4: an unlinked email only loses its login, and with it goes.
      if (current.unlinkedAt)
        return {
          link: await updateUnlinkedEmail(tx, firmId, current, parsed),
          effects: [] as SettingsEffect[],
        };
      const result = applyToggles(current, togglePatch, { now: this.clock.now(), newToken: this.newToken });
      const saved = await this.persistLink(tx, firmId, current, result.link);
      await this.enqueueDurable(tx, firmId, result.effects);
      return { link: saved, effects: result.effects };
    });
    this.emitEffects(firmId, effects);
    if (link.unlinkedAt && !link.login)
      this.emit("link.deleted", { firmId, linkId, accountId: link.accountId, contactId: link.contactId });
    return link;
  }

  /**
   * T4: changes a link's address; a pending invitation is invalidated and a new one requested.
   * An address that had portal access stays as an unlinked email with its login until the firm
   * turns that off, so the client keeps access while the new address is pending.
   */
  async changeLinkAddress(firmId: FirmId, linkId: LinkId, email: string): Promise<Link> {
    return replaceLinkAddress(this.facadeContext(), firmId, linkId, email);
  }

  /** T2/T4: accepts a portal invitation. An invalidated or unknown token is refused. */
  async acceptInvitation(firmId: FirmId, token: string): Promise<Link> {
    checkIds({ firmId });
    parseInput(tokenSchema, token, "token");
    return this.store.transaction(async (tx) => {
      const link = await tx.findLinkByInvitationToken(firmId, token);
      if (!link)
        throw new ClientMailError("not_found", "This invitation is not valid", {
          details: { reason: "unknown_token" },
        });
      const result = acceptInvitation(link, token, this.clock.now());
      if (!result.ok)
        throw new ClientMailError("conflict", `This invitation cannot be accepted (${result.reason})`, {
          details: { reason: result.reason },
        });
      return tx.setInvitation(firmId, link.id, result.link.invitation);
    });
  }

  /** T3/T8: an account with its links, portal status and list flags. */
  async accountOverview(firmId: FirmId, accountId: AccountId): Promise<AccountOverview> {
    checkIds({ firmId, accountId });
    const account = await this.store.getAccount(firmId, accountId);
    if (!account) throw new NotFoundError("Account", accountId);
    const links = await this.store.listLinks(firmId, { accountId });
    return {
      account,
      links,
      portalStatus: portalStatus(links),
      showsEmailTab: showsEmailTab(links),
      ...accountListFlags(links),
    };
  }

  /** H5: an account's Email tab (inbox or sent view). */
  async accountThreads(
    firmId: FirmId,
    accountId: AccountId,
    view: "inbox" | "sent" = "inbox",
    limit = 50,
  ): Promise<ThreadView[]> {
    checkIds({ firmId, accountId });
    return this.store.listAccountThreads(firmId, accountId, { view, limit });
  }

  /** H5: the Scheduled view of an account's Email tab: messages waiting to be sent, soonest first. */
  async scheduledMessages(firmId: FirmId, accountId: AccountId): Promise<OutboxMessage[]> {
    checkIds({ firmId, accountId });
    return this.store.listOutbox(firmId, { accountId, state: "scheduled" });
  }

  /**
   * T10: applies a bulk update account by account (each in its own transaction); a failing
   * account does not stop the others. The report goes to `memberId` as an Inbox+ notification (N4).
   */
  async bulkUpdate(firmId: FirmId, memberId: MemberId, input: BulkUpdateInput): Promise<BulkUpdateReport> {
    checkIds({ firmId, memberId });
    const request = parseInput(bulkUpdateSchema, input);
    const linksByAccount = new Map<AccountId, Link[] | undefined>();
    for (const accountId of new Set(request.accountIds)) {
      linksByAccount.set(
        accountId,
        (await this.store.getAccount(firmId, accountId))
          ? await this.store.listLinks(firmId, { accountId })
          : undefined,
      );
    }
    const plans = planBulkUpdate(
      { ...request, notifyPreferences: request.notifyPreferences },
      (accountId) => linksByAccount.get(accountId),
      { now: this.clock.now(), newToken: this.newToken },
    );
    const applied = [];
    const effects: SettingsEffect[] = [];
    for (const plan of plans) {
      if (!plan.ok) {
        applied.push(plan);
        continue;
      }
      try {
        await this.store.transaction(async (tx) => {
          const before = new Map((linksByAccount.get(plan.accountId) ?? []).map((l) => [l.id, l]));
          for (const link of plan.changedLinks)
            await this.persistLink(tx, firmId, before.get(link.id)!, link);
          await this.enqueueDurable(tx, firmId, plan.effects);
        });
        applied.push(plan);
        effects.push(...plan.effects);
      } catch (error) {
        const code = ClientMailError.isInstance(error) ? error.code : "internal";
        this.logger.warn("bulk update failed for an account", { firmId, accountId: plan.accountId, code });
        applied.push({
          accountId: plan.accountId,
          ok: false as const,
          error: { code, message: error instanceof Error ? error.message : "failed" },
        });
      }
    }
    const report = bulkUpdateReport(applied);
    const reportId = this.newToken();
    await this.store.createNotification(
      firmId,
      {
        memberId,
        kind: "bulk_update_report",
        payload: { reportId, ...report },
        dedupeKey: notificationKey(memberId, { kind: "bulk_update_report", reportId, report }),
      },
      this.clock.now(),
    );
    this.emitEffects(firmId, effects);
    this.emit("bulk_update.completed", { firmId, memberId, report });
    return report;
  }

  /**
   * T11: imports a client list. Columns: `account_name, account_kind, first_name, last_name,
   * email, login, notify, email_sync, signatory`. Rows with the same account name and kind go to
   * one account, rows with the same names in one account to one contact. Each row is all or
   * nothing: a row that fails (validation, an address already linked) is reported with its issues
   * and leaves nothing behind — not the account or contact it would have created — while the
   * other rows are imported. The whole file is one transaction, each row a nested one, so an
   * unexpected failure (the store going away) imports nothing at all. A file that is not UTF-8
   * is refused whole; invitations and backfills are requested only after the commit.
   *
   * @param firmId the firm the clients belong to.
   * @param csv the file, as text or as its bytes.
   * @throws ValidationError when `firmId` is not an id or `csv` is neither a string nor a
   *   `Uint8Array` (e.g. `importClients(csv)` with the firm id left out), or the file is unreadable.
   */
  async importClients(firmId: FirmId, csv: string | Uint8Array): Promise<ImportReport> {
    checkIds({ firmId });
    const file = parseInput(csvInputSchema, csv, "csv");
    let text: string;
    if (typeof file === "string") text = file;
    else {
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(file);
      } catch {
        throw new ValidationError([
          { field: "csv", value: `${file.byteLength} bytes`, expected: "a UTF-8 encoded CSV file" },
        ]);
      }
    }
    let records: Array<Record<string, string>>;
    try {
      records = parseCsv(text.replace(/^\uFEFF/, ""), {
        columns: (header: string[]) => header.map((h) => h.trim().toLowerCase().replace(/\s+/g, "_")),
        skip_empty_lines: true,
        relax_column_count: true,
        trim: false,
      });
    } catch (error) {
      throw new ValidationError([
        {
          field: "csv",
          value: error instanceof Error ? error.message : "unreadable",
          expected: "a CSV file with a header row",
        },
      ]);
    }
    const report: ImportReport = { accountsCreated: 0, contactsCreated: 0, linksCreated: 0, rowErrors: [] };
    const effects: SettingsEffect[] = [];
    await this.store.transaction(async (outer) => {
      // Only rows that committed (to the outer transaction) are remembered, so a later row never
      // reuses an account or contact that a failed row created and rolled back.
      const accounts = new Map<string, AccountId>();
      const contacts = new Map<string, string>();
      for (const [index, record] of records.entries()) {
        const row = index + 2;
        try {
          const parsedRow = parseInput(csvRowSchema, record, `rows.${row}`);
          const link: LinkSettings = parseInput(
            linkSettingsSchema,
            {
              email: parsedRow.email,
              login: parsedRow.login,
              notify: parsedRow.notify,
              emailSync: parsedRow.email_sync,
              signatory: parsedRow.signatory,
            },
            `rows.${row}`,
          );
          const accountKey = `${parsedRow.account_kind}\u0000${parsedRow.account_name}`;
          const contactKey = `${accountKey}\u0000${parsedRow.first_name}\u0000${parsedRow.last_name}`;
          const imported = await outer.transaction(async (tx) => {
            let accountId = accounts.get(accountKey);
            const newAccount = accountId === undefined;
            accountId ??= (
              await tx.createAccount(
                firmId,
                { name: parsedRow.account_name, kind: parsedRow.account_kind },
                this.clock.now(),
              )
            ).id;
            let contactId = contacts.get(contactKey);
            const newContact = contactId === undefined;
            contactId ??= (
              await tx.createContact(firmId, {
                firstName: parsedRow.first_name,
                lastName: parsedRow.last_name,
              })
            ).id;
            const rowEffects = await this.insertLink(tx, firmId, accountId, contactId, link);
            await this.enqueueDurable(tx, firmId, rowEffects);
            return { accountId, newAccount, contactId, newContact, rowEffects };
          });
          accounts.set(accountKey, imported.accountId);
          contacts.set(contactKey, imported.contactId);
          if (imported.newAccount) report.accountsCreated += 1;
          if (imported.newContact) report.contactsCreated += 1;
          report.linksCreated += 1;
          effects.push(...imported.rowEffects);
        } catch (error) {
          if (error instanceof ValidationError) report.rowErrors.push({ row, issues: [...error.issues] });
          else if (ClientMailError.hasCode(error, "conflict")) {
            report.rowErrors.push({
              row,
              issues: [
                {
                  field: `rows.${row}.email`,
                  value: record.email,
                  expected: "an address not already linked to this contact and account",
                },
              ],
            });
          } else throw error;
        }
      }
    });
    this.emitEffects(firmId, effects);
    return report;
  }

  // Reads for a CRM's screens: one thread's messages ------------------------------------------

  /**
   * H5: one thread's visible messages, oldest first, as stored (render them with
   * {@link renderMessage} before showing their HTML). Throws `not_found` when the firm has no
   * visible message in such a thread.
   */
  async threadMessages(firmId: FirmId, threadId: string): Promise<FiledMessage[]> {
    return threadMessages(this.store, firmId, threadId);
  }

  // Notifications and status -----------------------------------------------------------------

  /** N2: raises "your email is not synced" / "sync stopped" notices (idempotent). */
  async refreshSyncHealth(firmId: FirmId): Promise<number> {
    checkIds({ firmId });
    const [members, mailboxes] = await Promise.all([
      this.store.listMembers(firmId),
      this.store.listMailboxes(firmId),
    ]);
    const notices = syncHealthNotices(members, mailboxes);
    for (const notice of notices) {
      await this.store.createNotification(
        firmId,
        {
          memberId: notice.memberId,
          kind: notice.subject.kind,
          payload: { ...notice.subject },
          dedupeKey: notificationKey(notice.memberId, notice.subject),
        },
        this.clock.now(),
      );
    }
    return notices.length;
  }

  /** N3: the member's visible notifications, newest first. */
  async notifications(firmId: FirmId, memberId: MemberId): Promise<Notification[]> {
    checkIds({ firmId, memberId });
    return this.store.listNotifications(firmId, memberId, this.clock.now());
  }

  /** N3: "remind me later": hidden for 24 hours. */
  async snoozeNotification(firmId: FirmId, notificationId: string): Promise<boolean> {
    checkIds({ firmId, notificationId });
    return this.store.snoozeNotification(
      firmId,
      notificationId,
      new Date(this.clock.now().getTime() + snoozeDurationMs),
    );
  }

  /** N3: "don't show again". */
  async dismissNotification(firmId: FirmId, notificationId: string): Promise<boolean> {
    checkIds({ firmId, notificationId });
    return this.store.dismissNotification(firmId, notificationId, this.clock.now());
  }

  /** H4: mutes a thread for one member. */
  async muteThread(firmId: FirmId, threadId: string, memberId: MemberId, muted = true): Promise<void> {
    checkIds({ firmId, threadId, memberId });
    await this.store.setThreadMuted(firmId, threadId, memberId, muted);
  }

  /** N5: the team's sync status; only the firm's owner and admins may see it. */
  async teamSyncStatus(firmId: FirmId, requestedBy: MemberId): Promise<MemberSyncStatus[]> {
    checkIds({ firmId, requestedBy });
    const requester = await this.store.getMember(firmId, requestedBy);
    if (!requester || requester.role === "employee") {
      throw new PermissionDeniedError(
        "role_required",
        "Only the firm's owner and admins can see the team's sync status",
      );
    }
    const [members, mailboxes, quarantine] = await Promise.all([
      this.store.listMembers(firmId),
      this.store.listMailboxes(firmId),
      this.store.listQuarantine(firmId),
    ]);
    const counts = new Map<MailboxId, number>();
    for (const entry of quarantine) counts.set(entry.mailboxId, (counts.get(entry.mailboxId) ?? 0) + 1);
    return teamSyncStatus(members, mailboxes, counts);
  }

  /**
   * R2: the client messages set aside because they failed on their own, with their reason,
   * mailbox, provider id and first and last attempt; soonest retry first. Only the firm's owner
   * and admins may see them.
   */
  async quarantinedMessages(
    firmId: FirmId,
    requestedBy: MemberId,
    filter: { mailboxId?: MailboxId } = {},
  ): Promise<QuarantineEntry[]> {
    const requester = await this.store.getMember(firmId, requestedBy);
    if (!requester || requester.role === "employee") {
      throw new PermissionDeniedError(
        "role_required",
        "Only the firm's owner and admins can see quarantined messages",
      );
    }
    return this.store.listQuarantine(
      firmId,
      filter.mailboxId === undefined ? {} : { mailboxId: filter.mailboxId },
    );
  }

  // Internals --------------------------------------------------------------------------------

  private async insertContact(
    tx: DirectoryStore,
    firmId: FirmId,
    accountId: AccountId,
    contact: z.output<typeof contactInputSchema>,
  ): Promise<SettingsEffect[]> {
    const created = await tx.createContact(firmId, {
      firstName: contact.firstName,
      lastName: contact.lastName,
    });
    const effects: SettingsEffect[] = [];
    for (const link of contact.emails)
      effects.push(...(await this.insertLink(tx, firmId, accountId, created.id, link)));
    return effects;
  }

  private async insertLink(
    tx: DirectoryStore,
    firmId: FirmId,
    accountId: AccountId,
    contactId: string,
    settings: LinkSettings,
  ): Promise<SettingsEffect[]> {
    const blank = await tx.createLink(firmId, {
      accountId,
      contactId,
      email: settings.email,
      login: false,
      notify: settings.notify,
      emailSync: false,
      signatory: settings.signatory,
      notifyPreferences: { ...defaultNotifyPreferences(), ...definedOnly(settings.notifyPreferences ?? {}) },
    });
    const { link, effects } = applyToggles(
      blank,
      {
        login: settings.login,
        emailSync: settings.emailSync,
        sendInvitation: settings.sendInvitation,
        customMessage: settings.invitationMessage,
      },
      { now: this.clock.now(), newToken: this.newToken },
    );
    await this.persistLink(tx, firmId, blank, link);
    return effects;
  }

  private async persistLink(tx: DirectoryStore, firmId: FirmId, before: Link, after: Link): Promise<Link> {
    let saved = await tx.updateLink(firmId, before.id, {
      email: after.email,
      login: after.login,
      notify: after.notify,
      emailSync: after.emailSync,
      signatory: after.signatory,
      notifyPreferences: after.notifyPreferences,
    });
    if (after.invitation !== before.invitation)
      saved = await tx.setInvitation(firmId, before.id, after.invitation);
    return saved;
  }

  /** R8: with a queue, backfills and invitation events are jobs of the caller's transaction. */
  private async enqueueDurable(tx: Store, firmId: FirmId, effects: readonly SettingsEffect[]): Promise<void> {
    await enqueueEffects(this.facadeContext(), tx, firmId, effects);
  }

  private emitEffects(firmId: FirmId, effects: readonly SettingsEffect[]): void {
    emitEffects(this.facadeContext(), firmId, effects);
  }

  // CRM model, paging, member settings, erasure (facade modules) --------------------------------

  private facadeContext(): FacadeContext {
    return {
      store: this.store,
      clock: this.clock,
      logger: this.logger,
      queue: this.queue,
      newToken: this.newToken,
      documents: this.files.documents,
      blobs: this.files.blobs,
      emit: (event, ...args) =>
        void (this.emit as (e: typeof event, ...a: typeof args) => boolean)(event, ...args),
    };
  }

  /** T1/T11: links an existing contact to an account (e.g. a second one), with its settings. */
  async linkContact(
    firmId: FirmId,
    accountId: AccountId,
    contactId: string,
    settings: LinkSettingsInput,
  ): Promise<Link> {
    return linkContact(this.facadeContext(), firmId, accountId, contactId, settings);
  }

  /** T1/T12: adds an address to a contact, in the given accounts or every account it is linked to. */
  async addContactAddress(firmId: FirmId, contactId: string, input: ContactAddressInput): Promise<Link[]> {
    return addContactAddress(this.facadeContext(), firmId, contactId, input);
  }

  /** Removes an address from a contact in every account; returns the links removed. */
  async removeContactAddress(firmId: FirmId, contactId: string, email: string): Promise<Link[]> {
    return removeContactAddress(this.facadeContext(), firmId, contactId, email);
  }

  /** Deletes one link; filed mail stays (F7). */
  async deleteLink(firmId: FirmId, linkId: LinkId): Promise<void> {
    return deleteLink(this.facadeContext(), firmId, linkId);
  }

  /** Deletes a contact and its links; filed mail stays. See {@link ClientMail.eraseContact} for R10. */
  async deleteContact(firmId: FirmId, contactId: string): Promise<void> {
    return deleteContact(this.facadeContext(), firmId, contactId);
  }

  /** Deletes an account and its links; contacts and filed mail stay. */
  async deleteAccount(firmId: FirmId, accountId: AccountId): Promise<void> {
    return deleteAccount(this.facadeContext(), firmId, accountId);
  }

  /** T3/T8: every account with its links, portal status and list flags, ordered by name. */
  async listAccounts(firmId: FirmId): Promise<AccountOverview[]> {
    return listAccounts(this.facadeContext(), firmId);
  }

  /** H5: one page of an account's Email tab; pass `nextCursor` back for the next page. */
  async accountThreadsPage(
    firmId: FirmId,
    accountId: AccountId,
    input?: ThreadPageInput,
  ): Promise<ThreadPage> {
    return accountThreadsPage(this.facadeContext(), firmId, accountId, input);
  }

  /** H4: one page of Inbox+, the firm's client mail across accounts, as `memberId` sees it. */
  async inboxPlus(
    firmId: FirmId,
    memberId: MemberId,
    input?: ThreadPageInput,
  ): Promise<ThreadPage<InboxThread>> {
    return inboxPlus(this.facadeContext(), firmId, memberId, input);
  }

  /** N1: changes a member's new-mail notifications and time zone. */
  async updateMemberNotifications(
    firmId: FirmId,
    memberId: MemberId,
    input: MemberNotificationsInput,
  ): Promise<TeamMember> {
    return updateMemberNotifications(this.facadeContext(), firmId, memberId, input);
  }

  /** R10/F8: erases a contact and everything filed for them; owners and admins only; audited. */
  async eraseContact(firmId: FirmId, contactId: string, by: MemberId): Promise<ErasureReport> {
    return eraseContact(this.facadeContext(), firmId, contactId, by);
  }
  // Sending (S1–S6, P1–P5, T5, T6, H5) ------------------------------------------------------------

  private sending(): SendingContext {
    return {
      store: this.store,
      queue: this.queue,
      clock: this.clock,
      logger: this.logger,
      documentSource: this.settingsForSending.documentSource,
      limits: { ...defaultSendLimits, ...definedOnly(this.settingsForSending.sendLimits ?? {}) },
      randomHex: this.settingsForSending.randomHex ?? randomHex,
    };
  }

  /**
   * S1, S2, S3, T5: sends (or, with `sendAt`, schedules, S4) one message per account. Everything
   * is checked before anything is queued: shortcodes (S2), header-safe values, recipients and
   * size limits, and the actor's right to use the mailbox (P1, P5), which is checked again when
   * the message is sent.
   */
  async send(firmId: FirmId, input: SendInput): Promise<SendResult> {
    checkIds({ firmId });
    return sendMessages(this.sending(), firmId, input);
  }

  /** S6, P3: replies in a thread, by default from the mailbox its last inbound message arrived in. */
  async reply(firmId: FirmId, input: ReplyInput): Promise<OutboxMessage> {
    checkIds({ firmId });
    return replyInThread(this.sending(), firmId, input);
  }

  /** S4: changes the time or texts of a message that is still scheduled. */
  async reschedule(firmId: FirmId, outboxId: string, input: RescheduleInput): Promise<OutboxMessage> {
    checkIds({ firmId, outboxId });
    return rescheduleMessage(this.sending(), firmId, outboxId, input);
  }

  /** S4: cancels a message until a worker has claimed it (then `conflict`). */
  async cancel(firmId: FirmId, outboxId: string, by: MemberId): Promise<void> {
    checkIds({ firmId, outboxId, by });
    return cancelMessage(this.sending(), firmId, outboxId, by);
  }

  /**
   * S4: a person's decision on a message held after an interrupted send (`afterCrash: "hold"`):
   * `resend` queues it again now, `mark_sent` records it as sent; audited. `conflict` when the
   * message is not held.
   */
  async releaseHeld(firmId: FirmId, outboxId: string, input: ReleaseHeldInput): Promise<OutboxMessage> {
    checkIds({ firmId, outboxId });
    return releaseHeldMessage(this.sending(), firmId, outboxId, input);
  }

  /** H5: the Scheduled view: waiting (and whether due), being sent, and failed messages with why. */
  async scheduledView(firmId: FirmId, accountId: AccountId): Promise<ScheduledItem[]> {
    checkIds({ firmId, accountId });
    return scheduledView(this.sending(), firmId, accountId);
  }

  /** T5, T6: a system notification of a category to accounts, with the activation banner per contact. */
  async notifyClients(firmId: FirmId, input: ClientNotificationInput): Promise<SendResult> {
    checkIds({ firmId });
    return notifyClients(this.sending(), firmId, input);
  }

  /** T5: schedules each account's weekly transactions digest for Monday 09:00 in the recipients' time zone. */
  async scheduleWeeklyDigests(firmId: FirmId, input: WeeklyDigestInput): Promise<SendResult> {
    checkIds({ firmId });
    return scheduleWeeklyDigests(this.sending(), firmId, input);
  }

  // Message sources (R11) ---------------------------------------------------------------------

  /**
   * R11: the original source of a filed message, byte for byte, streamed. Any team member of the
   * firm may read it. Throws `not_found` when the message is not the firm's or its source was not
   * kept; needs `settings.blobs`.
   */
  async messageSource(
    firmId: FirmId,
    requestedBy: MemberId,
    messageId: MessageRecordId,
  ): Promise<AsyncIterable<Uint8Array>> {
    checkIds({ firmId, requestedBy, messageId });
    return messageSource({ store: this.store, blobs: this.blobs }, firmId, requestedBy, messageId);
  }

  /** R11: {@link ClientMail.messageSource} as an `.eml` file named after the subject. */
  async exportMessageAsEml(
    firmId: FirmId,
    requestedBy: MemberId,
    messageId: MessageRecordId,
  ): Promise<EmlExport> {
    checkIds({ firmId, requestedBy, messageId });
    return exportMessageAsEml({ store: this.store, blobs: this.blobs }, firmId, requestedBy, messageId);
  }

  // Safe content ---------------------------------------------------------------------------

  /**
   * One filed message as the CRM shows it: HTML sanitised, remote images blocked unless
   * `options.remoteImages` is `"allow"`, `cid:` images through `options.attachmentUrl`, a text
   * for HTML-only mail and attachment names safe to display. `not_found` for a message the firm
   * does not have.
   */
  async renderMessage(
    firmId: FirmId,
    messageId: string,
    options?: RenderableBodyOptions,
  ): Promise<RenderedMessage> {
    return renderedMessage(this.store, firmId, messageId, options);
  }

  /** H5: an account's Email tab like {@link accountThreads}, every message rendered as by {@link renderMessage}. */
  async renderAccountThreads(
    firmId: FirmId,
    accountId: AccountId,
    view: "inbox" | "sent" = "inbox",
    limit = 50,
    options?: RenderableBodyOptions,
  ): Promise<RenderedThreadView[]> {
    return renderedAccountThreads(this.store, firmId, accountId, { view, limit }, options);
  }

  // Mail views: mailboxes and one thread (facade/mail-reads.ts) ---------------------------------

  /**
   * Y3, N5: the firm's mailboxes (stopped ones included) with settings, connections and sync
   * state (never credentials), by address; with `memberId`, only those that member connected (P1).
   */
  async listMailboxes(firmId: FirmId, filter: { memberId?: MemberId } = {}): Promise<Mailbox[]> {
    return listMailboxes(this.store, firmId, filter);
  }

  /** Y3, N5: one mailbox of the firm; `not_found` for an unknown id or another firm's mailbox. */
  async getMailbox(firmId: FirmId, mailboxId: MailboxId): Promise<Mailbox> {
    return getMailbox(this.store, firmId, mailboxId);
  }

  /**
   * H4, H5: one thread's visible messages, oldest first, each rendered as by {@link renderMessage};
   * `not_found` for a thread the firm does not have.
   */
  async renderThread(
    firmId: FirmId,
    threadId: string,
    options?: RenderableBodyOptions,
  ): Promise<RenderedThreadView> {
    return renderThread(this.store, firmId, threadId, options);
  }

  /** H4: whether the member muted the thread (see {@link muteThread}). */
  async isThreadMuted(firmId: FirmId, threadId: string, memberId: MemberId): Promise<boolean> {
    return isThreadMuted(this.store, firmId, threadId, memberId);
  }
}

function randomHex(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * R4: refuses ids that no record can have — missing, empty, too long, with control characters
 * or lone surrogates — with one `validation_failed` naming every bad argument, so a wrong call
 * fails the same way on every store instead of reaching it.
 */
function checkIds(ids: Record<string, unknown>): void {
  const issues: ValidationIssue[] = [];
  for (const [field, value] of Object.entries(ids)) {
    try {
      parseInput(idSchema, value, field);
    } catch (error) {
      if (error instanceof ValidationError) issues.push(...error.issues);
      else throw error;
    }
  }
  if (issues.length > 0) throw new ValidationError(issues);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
