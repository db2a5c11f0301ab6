/**
 * The sync of one mailbox: list changes as envelopes, decide filing on envelopes alone, fetch
 * content only for what is filed (F1), thread it (H1–H3), and save the page together with the
 * cursor in one transaction under the mailbox's fenced lease (Y6). A crash anywhere replays the
 * page; the idempotent filing makes the replay harmless.
 */
import type { EventEmitter } from "eventemitter3";
import { ClientMailError, RateLimitedError } from "../errors.js";
import {
  parseMessageIdList,
  dedupeKey,
  decideFiling,
  normalizeMessageId,
  FirmDirectory,
  type FilingDecision,
} from "../domain/filing.js";
import {
  isUnreadable,
  type Envelope,
  type FetchedMessage,
  type ProviderEnvelope,
} from "../domain/envelope.js";
import type {
  FirmId,
  Mailbox,
  MailboxId,
  MailboxSyncState,
  MessageRecordId,
  TeamMember,
  ThreadId,
} from "../domain/model.js";
import { newMailRecipients, notificationKey, syncHealthNotices } from "../domain/notifications.js";
import type { ThreadingMessage } from "../domain/threading.js";
import type { Clock } from "../ports/clock.js";
import type { DocumentSink } from "../ports/document-sink.js";
import type { Logger } from "../ports/logger.js";
import type { MailProvider } from "../ports/mail-provider.js";
import type { FiledMessage, MessageToFile, SightingRemoval, Store } from "../ports/store.js";
import { backoffDelay } from "./backoff.js";
import type { SyncEvents } from "./events.js";
import { PageThreader } from "./store-threading.js";

/** What the engine needs from its host. */
export interface SyncDependencies {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Where auto-saved attachments go (F9). Without it, attachments are never saved. */
  documents?: DocumentSink | undefined;
  events?: EventEmitter<SyncEvents> | undefined;
  /** Jitter source; injectable for tests. */
  random?: (() => number) | undefined;
  /** Waits; injectable for tests. Rejects when `signal` aborts. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

/** One mailbox to sync. */
export interface MailboxSyncOptions {
  firmId: FirmId;
  mailboxId: MailboxId;
  provider: MailProvider;
  /** Names this worker in the lease (for operators); the fencing token is what protects writes. */
  holder: string;
  /** Lease length; renewed between pages. Default 2 minutes. */
  leaseTtlMs?: number | undefined;
  /** Consecutive failed passes before the mailbox is stopped as `repeated_failures` (N2). Default 10. */
  maxConsecutiveFailures?: number | undefined;
  /** Fetch attempts of one message before it is set aside. Default 3. */
  poisonThreshold?: number | undefined;
}

/** The outcome of one sync pass. */
export interface SyncPassResult {
  /** False when another worker holds the lease; nothing was done. */
  ran: boolean;
  examined: number;
  filed: number;
  removed: number;
  resynced: boolean;
  setAside: string[];
}

/** How often the stored backfill progress is refreshed. */
const progressIntervalMs = 2_000;

/** The cursor write that goes with a page (absent for a targeted backfill). */
interface PageCommit {
  token: number;
  cursor: string;
  removed: readonly string[];
}

interface PageEntry {
  envelope: Envelope;
  decision: Extract<FilingDecision, { filed: true }>;
  normalizedId: string | undefined;
  knownRecord: FiledMessage | undefined;
  content: FetchedMessage | undefined;
  key: string;
}

/** A page after phase one: what will be filed, with its content. */
interface PreparedPage {
  entries: PageEntry[];
  fetched: Map<string, FetchedMessage>;
  setAside: string[];
}

interface PageOutcome {
  filed: number;
  removed: number;
  setAside: string[];
}

interface FirmContext {
  directory: FirmDirectory;
  members: TeamMember[];
  mailbox: Mailbox;
  mailboxes: Mailbox[];
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => (signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    if (signal?.aborted) return reject(aborted());
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Builds the filing directory of a firm from the store (F2: members, mailboxes, domains). */
export async function loadDirectory(
  store: Store,
  firmId: FirmId,
): Promise<{ directory: FirmDirectory; mailboxes: Mailbox[]; members: TeamMember[] }> {
  const [firm, members, mailboxes, links] = await Promise.all([
    store.getFirm(firmId),
    store.listMembers(firmId),
    store.listMailboxes(firmId),
    store.listLinks(firmId, { emailSync: true }),
  ]);
  if (!firm)
    throw new ClientMailError("not_found", `Firm ${JSON.stringify(firmId)} was not found`, {
      details: { firmId },
    });
  const directory = FirmDirectory.build({
    internalAddresses: [...members.map((m) => m.email), ...mailboxes.map((m) => m.address)],
    internalDomains: firm.internalDomains,
    links,
  });
  return { directory, mailboxes, members };
}

/** Syncs one mailbox. Create one per mailbox and worker; it keeps no state between passes but failure counts. */
export class MailboxSync {
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private consecutiveFailures = 0;
  private readonly fetchFailures = new Map<string, number>();

  constructor(
    private readonly deps: SyncDependencies,
    private readonly options: MailboxSyncOptions,
  ) {
    this.random = deps.random ?? Math.random;
    this.sleep = deps.sleep ?? defaultSleep;
  }

  private get firmId(): FirmId {
    return this.options.firmId;
  }

  private get mailboxId(): MailboxId {
    return this.options.mailboxId;
  }

  /**
   * One pass: takes the lease, applies every page of changes since the saved cursor (a full
   * listing on the first pass or after `cursor_expired`), and marks the mailbox live. Provider
   * failures are thrown to the caller ({@link run} retries them).
   */
  async syncOnce(signal?: AbortSignal): Promise<SyncPassResult> {
    const { store } = this.deps;
    const ttl = this.options.leaseTtlMs ?? 120_000;
    const token = await store.acquireLease(this.firmId, this.mailboxId, this.options.holder, ttl);
    const result: SyncPassResult = {
      ran: false,
      examined: 0,
      filed: 0,
      removed: 0,
      resynced: false,
      setAside: [],
    };
    if (token === undefined) return result;
    result.ran = true;
    try {
      const context = await this.loadContext();
      let cursor = await store.getCursor(this.firmId, this.mailboxId);
      for (let attempt = 0; ; attempt++) {
        try {
          await this.applyChanges(context, cursor, token, result, signal);
          break;
        } catch (error) {
          if (!ClientMailError.hasCode(error, "cursor_expired") || attempt > 0) throw error;
          // Y6: the provider no longer accepts the cursor. Forget it (fenced) and list everything;
          // idempotent filing keeps the resync free of duplicates, and nothing filed is deleted.
          this.deps.logger.warn("cursor expired; running a full resync", {
            firmId: this.firmId,
            mailboxId: this.mailboxId,
          });
          await store.setCursor(this.firmId, this.mailboxId, token, undefined);
          this.deps.events?.emit("sync.resync", { firmId: this.firmId, mailboxId: this.mailboxId });
          result.resynced = true;
          cursor = undefined;
        }
      }
      await this.setState({ status: "live" }, this.deps.clock.now());
      this.consecutiveFailures = 0;
      return result;
    } finally {
      await store.releaseLease(this.firmId, this.mailboxId, token).catch((error: unknown) => {
        this.deps.logger.warn("could not release lease", {
          firmId: this.firmId,
          mailboxId: this.mailboxId,
          code: codeOf(error),
        });
      });
    }
  }

  /**
   * Y5: files the history with the given client addresses found by the provider's server-side
   * search. Needs no lease: it writes no cursor, and filing is idempotent.
   */
  async backfillAddresses(
    addresses: readonly string[],
    signal?: AbortSignal,
  ): Promise<{ examined: number; filed: number }> {
    const context = await this.loadContext();
    let examined = 0;
    let filed = 0;
    for await (const batch of this.options.provider.search({ addresses: [...addresses] }, { signal })) {
      examined += batch.length;
      const outcome = await this.fileEnvelopes(context, batch, undefined);
      filed += outcome.filed;
    }
    return { examined, filed };
  }

  /**
   * Runs continuously until `signal` aborts: a pass, then waits for a push hint (or the poll
   * interval) and runs again. Failures are retried with backoff honouring Retry-After (Y7);
   * revoked credentials or too many consecutive failures stop the mailbox and notify (N2).
   */
  async run(signal: AbortSignal, options: { pollIntervalMs?: number } = {}): Promise<void> {
    const pollIntervalMs = options.pollIntervalMs ?? 5 * 60_000;
    let wake: (() => void) | undefined;
    let pending = false;
    const hint = () => {
      pending = true;
      wake?.();
    };
    signal.addEventListener("abort", () => wake?.(), { once: true });
    let subscription: { stop(): Promise<void> } | undefined;
    try {
      subscription = await this.options.provider.watch(hint, { signal });
    } catch (error) {
      this.deps.logger.warn("push unavailable; polling", {
        firmId: this.firmId,
        mailboxId: this.mailboxId,
        code: codeOf(error),
      });
    }
    try {
      while (!signal.aborted) {
        pending = false;
        const outcome = await this.passWithRetry(signal);
        if (outcome === "stopped") return;
        if (pending) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollIntervalMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
          if (signal.aborted || pending) wake();
        });
        wake = undefined;
      }
    } finally {
      await subscription?.stop().catch(() => undefined);
    }
  }

  /** One pass with Y7's retry policy. Returns `stopped` when the mailbox was stopped. */
  async passWithRetry(signal?: AbortSignal): Promise<"ok" | "stopped"> {
    const maxFailures = this.options.maxConsecutiveFailures ?? 10;
    for (;;) {
      try {
        await this.syncOnce(signal);
        return "ok";
      } catch (error) {
        if (signal?.aborted) throw error;
        if (ClientMailError.hasCode(error, "auth_revoked")) {
          await this.stop("auth_revoked");
          return "stopped";
        }
        this.consecutiveFailures += 1;
        if (this.consecutiveFailures >= maxFailures) {
          await this.stop("repeated_failures");
          return "stopped";
        }
        const retryAfterMs = error instanceof RateLimitedError ? error.retryAfterMs : undefined;
        const delay = backoffDelay(this.consecutiveFailures, retryAfterMs, this.random);
        const now = this.deps.clock.now();
        this.deps.logger.warn("sync pass failed; retrying", {
          firmId: this.firmId,
          mailboxId: this.mailboxId,
          code: codeOf(error),
          attempt: this.consecutiveFailures,
          delayMs: delay,
        });
        await this.setState({
          status: "retrying",
          attempt: this.consecutiveFailures,
          nextAttemptAt: new Date(now.getTime() + delay),
          lastError: codeOf(error),
        });
        await this.sleep(delay, signal);
      }
    }
  }

  private async stop(reason: "auth_revoked" | "repeated_failures"): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock.now();
    await this.setState({ status: "stopped", reason, at: now });
    // N2: every member of the mailbox hears that sync stopped, once (the notice is idempotent).
    const [members, mailboxes] = await Promise.all([
      store.listMembers(this.firmId),
      store.listMailboxes(this.firmId),
    ]);
    const mailbox = mailboxes.find((m) => m.id === this.mailboxId);
    if (!mailbox) return;
    for (const notice of syncHealthNotices(members, [mailbox])) {
      if (notice.subject.kind !== "sync_stopped") continue;
      await store.createNotification(
        this.firmId,
        {
          memberId: notice.memberId,
          kind: "sync_stopped",
          payload: { mailboxId: mailbox.id, address: mailbox.address, reason },
          dedupeKey: notificationKey(notice.memberId, notice.subject),
        },
        now,
      );
    }
  }

  private async setState(state: MailboxSyncState, lastSyncedAt?: Date): Promise<void> {
    await this.deps.store.setMailboxState(this.firmId, this.mailboxId, state, lastSyncedAt);
    this.deps.events?.emit("sync.state", { firmId: this.firmId, mailboxId: this.mailboxId, state });
  }

  private async loadContext(): Promise<FirmContext> {
    const { directory, mailboxes, members } = await loadDirectory(this.deps.store, this.firmId);
    const mailbox = mailboxes.find((m) => m.id === this.mailboxId);
    if (!mailbox)
      throw new ClientMailError("not_found", `Mailbox ${JSON.stringify(this.mailboxId)} was not found`, {
        details: { mailboxId: this.mailboxId },
      });
    return { directory, mailbox, mailboxes, members };
  }

  private async applyChanges(
    context: FirmContext,
    cursor: string | undefined,
    token: number,
    result: SyncPassResult,
    signal?: AbortSignal,
  ): Promise<void> {
    const { store } = this.deps;
    const backfilling = cursor === undefined || cursor.length === 0;
    let done = 0;
    const { clock } = this.deps;
    const ttl = this.options.leaseTtlMs ?? 120_000;
    let renewedAt = clock.now().getTime();
    let progressAt = renewedAt;
    if (backfilling) await this.setState({ status: "backfilling", done: 0, estimated: undefined });
    // A full listing sees every copy the mailbox still has; what the store remembers beyond that
    // vanished while there was no valid cursor (e.g. before a UIDVALIDITY change) (F8).
    const listed = backfilling ? new Set<string>() : undefined;
    // Pipelined: while page N is written to the store, page N+1 is listed and fetched from the
    // provider. Pages are still committed strictly in order, each with its own cursor.
    let writing: Promise<PageOutcome> | undefined;
    const settle = async () => {
      if (!writing) return;
      const outcome = await writing;
      writing = undefined;
      result.filed += outcome.filed;
      result.removed += outcome.removed;
      result.setAside.push(...outcome.setAside);
    };
    try {
      for await (const page of this.options.provider.changes(cursor, { signal })) {
        result.examined += page.added.length;
        if (listed) for (const envelope of page.added) listed.add(envelope.providerId);
        const prepared = await this.preparePage(context, page.added);
        await settle();
        // Renewed once a third of the lease has passed, not per page: each renewal is a commit.
        // The fenced cursor write is what protects the data either way.
        if (clock.now().getTime() - renewedAt >= ttl / 3) {
          if (!(await store.renewLease(this.firmId, this.mailboxId, token, ttl))) {
            throw new ClientMailError("lease_lost", "Another worker took over this mailbox", {
              details: { mailboxId: this.mailboxId },
            });
          }
          renewedAt = clock.now().getTime();
        }
        writing = this.writePage(context, prepared, { token, cursor: page.cursor, removed: page.removed });
        // Observed now so that a failure is not reported as unhandled while the next page loads.
        writing.catch(() => undefined);
        done += page.added.length;
        if (backfilling) {
          this.deps.events?.emit("sync.progress", {
            firmId: this.firmId,
            mailboxId: this.mailboxId,
            done,
            estimated: page.estimatedTotal,
          });
          // The stored progress (N5) is refreshed every few seconds; events report every page.
          if (!page.done && clock.now().getTime() - progressAt >= progressIntervalMs) {
            await this.setState({ status: "backfilling", done, estimated: page.estimatedTotal });
            progressAt = clock.now().getTime();
          }
        }
        if (page.done) break;
      }
      await settle();
      if (listed) result.removed += await this.removeVanished(listed);
    } finally {
      // Never leave a write running behind a failure: wait for it (its error, if any, loses to the first).
      if (writing) await writing.catch(() => undefined);
    }
  }

  /** After a full listing: removes the sightings of copies the listing did not see (F8). */
  private async removeVanished(listed: ReadonlySet<string>): Promise<number> {
    const { store, clock } = this.deps;
    const vanished = (await store.listSightings(this.firmId, this.mailboxId)).filter((id) => !listed.has(id));
    if (vanished.length === 0) return 0;
    return this.reportRemoval(
      await store.removeSightings(this.firmId, this.mailboxId, vanished, clock.now()),
    );
  }

  /** F8: emits `message.removed` for messages that left the firm's view; returns how many did. */
  private reportRemoval(removal: SightingRemoval): number {
    if (!removal.hidden || removal.orphaned.length === 0) return 0;
    this.deps.events?.emit("message.removed", {
      firmId: this.firmId,
      mailboxId: this.mailboxId,
      messageRecordIds: removal.orphaned,
    });
    return removal.orphaned.length;
  }

  /**
   * The two phases for a batch of envelopes: decide on envelopes, fetch only what is filed and
   * not yet known, then write everything — with the cursor and deletions when given — in one
   * transaction.
   */
  private async fileEnvelopes(
    context: FirmContext,
    envelopes: readonly ProviderEnvelope[],
    page: PageCommit | undefined,
  ): Promise<PageOutcome> {
    return this.writePage(context, await this.preparePage(context, envelopes), page);
  }

  /**
   * Phase one, on envelopes alone: decide filing, skip what the firm already has, and fetch
   * content only for what is filed (F1). Reads the store but writes nothing.
   */
  private async preparePage(
    context: FirmContext,
    envelopes: readonly ProviderEnvelope[],
  ): Promise<PreparedPage> {
    const { store } = this.deps;
    const candidates: Array<{ envelope: Envelope; decision: Extract<FilingDecision, { filed: true }> }> = [];
    for (const providerEnvelope of envelopes) {
      const decision = decideFiling(context.directory, providerEnvelope);
      if (decision.filed)
        candidates.push({ envelope: { ...providerEnvelope, mailboxId: this.mailboxId }, decision });
    }

    // Seen through another mailbox already (F5)? Then only the sighting is new: no fetch.
    const midKeys = candidates.flatMap(({ envelope }) => {
      const id = normalizeMessageId(envelope.messageId);
      return id ? [`mid:${id}`] : [];
    });
    const known =
      midKeys.length > 0
        ? await store.findMessagesByDedupeKeys(this.firmId, midKeys)
        : new Map<string, MessageRecordId>();
    const knownRecords = new Map<MessageRecordId, FiledMessage>();
    for (const recordId of new Set(known.values())) {
      const record = await store.getMessage(this.firmId, recordId);
      if (record) knownRecords.set(recordId, record);
    }
    // F9: a copy in a mailbox that auto-saves attachments is fetched even when the message was
    // filed through another mailbox first; the per-account claim keeps each file saved once.
    const autoSave = Boolean(this.deps.documents) && context.mailbox.settings.autoSaveAttachments;
    const toFetch = candidates.filter(({ envelope }) => {
      const id = normalizeMessageId(envelope.messageId);
      const recordId = id ? known.get(`mid:${id}`) : undefined;
      if (!recordId) return true;
      return autoSave && (knownRecords.get(recordId)?.attachments.length ?? 0) > 0;
    });
    const { fetched, setAside } = await this.fetchContent(toFetch.map(({ envelope }) => envelope.providerId));

    const entries = candidates.flatMap(({ envelope, decision }) => {
      const normalizedId = normalizeMessageId(envelope.messageId);
      const knownId = normalizedId ? known.get(`mid:${normalizedId}`) : undefined;
      const knownRecord = knownId ? knownRecords.get(knownId) : undefined;
      const content = fetched.get(envelope.providerId);
      if (!knownRecord && !content) return []; // vanished, or set aside
      const body = content?.text ?? content?.html ?? "";
      const key = knownRecord?.dedupeKey ?? dedupeKey(envelope.messageId, { ...envelope, body });
      return [{ envelope, decision, normalizedId, knownRecord, content, key }];
    });
    return { entries, fetched, setAside };
  }

  /**
   * Phase two: thread and file the page, remove deleted copies and move the cursor, all in one
   * transaction; then events, notifications and attachments.
   */
  private async writePage(
    context: FirmContext,
    prepared: PreparedPage,
    page: PageCommit | undefined,
  ): Promise<PageOutcome> {
    const { store, clock } = this.deps;
    const { entries, fetched, setAside } = prepared;
    const now = clock.now();
    const written = await store.transaction(async (tx) => {
      const threader = await PageThreader.start(
        tx,
        this.firmId,
        entries
          .filter((e) => !e.knownRecord)
          .map((e) => toThreadingMessage(e.key, e.envelope, context.directory)),
      );
      const batch: MessageToFile[] = [];
      for (const { envelope, decision, normalizedId, knownRecord, content, key } of entries) {
        let threadId: ThreadId;
        if (knownRecord) {
          threadId = knownRecord.threadId;
          // Its conversation id in this mailbox now leads to the same thread (H1).
          if (envelope.providerThreadId) {
            await tx.attachThreadKeys(this.firmId, threadId, [
              `pt:${this.mailboxId}:${envelope.providerThreadId}`,
            ]);
          }
        } else {
          threadId = await threader.assign(key);
        }
        batch.push({
          dedupeKey: key,
          messageId: normalizedId,
          inReplyTo: envelope.inReplyTo.flatMap((id) => parseMessageIdList(id)),
          references: envelope.references.flatMap((id) => parseMessageIdList(id)),
          from: envelope.from,
          sender: envelope.sender,
          replyTo: envelope.replyTo,
          to: envelope.to,
          cc: envelope.cc,
          bcc: envelope.bcc,
          subject: envelope.subject,
          date: envelope.date,
          direction: decision.direction,
          text: content?.text,
          html: content?.html,
          attachments: (content?.attachments ?? []).map((a) => ({
            filename: a.filename,
            contentType: a.contentType,
            size: a.size,
            contentHash: a.contentHash,
          })),
          threadId,
          filings: groupFilings(decision),
          sightings: [
            { mailboxId: this.mailboxId, providerId: envelope.providerId, folder: envelope.folder },
          ],
        });
      }
      await threader.finish();
      // Threads merged later in the page take the page's earlier messages with them.
      for (const message of batch) message.threadId = threader.resolve(message.threadId);
      const merged = threader.merges;
      // A batch may carry two copies of one message (e.g. Inbox and All Mail); file it once.
      const toFile = mergeDuplicates(batch);
      const outcomes = toFile.length > 0 ? await tx.fileMessages(this.firmId, toFile, now) : [];
      const removal =
        page && page.removed.length > 0
          ? await tx.removeSightings(this.firmId, this.mailboxId, page.removed, now)
          : undefined;
      if (page) await tx.setCursor(this.firmId, this.mailboxId, page.token, page.cursor);
      return { outcomes, removal, filed: toFile, merged };
    });

    // After commit: events, notifications, attachments. Each is idempotent, so a replay of the
    // page after a crash here repeats nothing visible.
    for (const merge of written.merged)
      this.deps.events?.emit("thread.merged", { firmId: this.firmId, ...merge });
    let filed = 0;
    // Outcomes come in the order of the batch that was filed.
    for (const [index, outcome] of written.outcomes.entries()) {
      const message = written.filed[index]!;
      if (outcome.created) filed += 1;
      this.deps.events?.emit("message.filed", {
        firmId: this.firmId,
        mailboxId: this.mailboxId,
        messageRecordId: outcome.id,
        threadId: message.threadId,
        accountIds: message.filings.map((f) => f.accountId),
        direction: message.direction,
        created: outcome.created,
      });
      if (outcome.created) await this.notifyNewMail(context, outcome.id, message, now);
      const content = fetched.get(message.sightings[0]!.providerId);
      if (content) await this.saveAttachments(context, message, content);
    }
    return { filed, removed: written.removal ? this.reportRemoval(written.removal) : 0, setAside };
  }

  /** Fetches content, retrying one by one after a failed batch; a message that keeps failing is set aside. */
  private async fetchContent(
    ids: readonly string[],
  ): Promise<{ fetched: Map<string, FetchedMessage>; setAside: string[] }> {
    const fetched = new Map<string, FetchedMessage>();
    const setAside: string[] = [];
    if (ids.length === 0) return { fetched, setAside };
    try {
      for await (const message of this.options.provider.fetch(ids)) {
        if (isUnreadable(message)) setAside.push(message.providerId);
        else fetched.set(message.envelope.providerId, message);
      }
      return { fetched, setAside };
    } catch (error) {
      if (!isPerMessageFailure(error)) throw error;
    }
    const threshold = this.options.poisonThreshold ?? 3;
    for (const id of ids) {
      if (fetched.has(id)) continue;
      for (;;) {
        try {
          for await (const message of this.options.provider.fetch([id])) {
            if (isUnreadable(message)) setAside.push(message.providerId);
            else fetched.set(message.envelope.providerId, message);
          }
          this.fetchFailures.delete(id);
          break;
        } catch (error) {
          if (!isPerMessageFailure(error)) throw error;
          const failures = (this.fetchFailures.get(id) ?? 0) + 1;
          this.fetchFailures.set(id, failures);
          if (failures >= threshold) {
            setAside.push(id);
            this.fetchFailures.delete(id);
            this.deps.logger.error("message set aside after repeated failures", {
              firmId: this.firmId,
              mailboxId: this.mailboxId,
              providerId: id,
              code: codeOf(error),
            });
            this.deps.events?.emit("message.set_aside", {
              firmId: this.firmId,
              mailboxId: this.mailboxId,
              providerId: id,
              error: codeOf(error),
            });
            await this.deps.store.appendAudit(
              this.firmId,
              {
                actor: "sync",
                action: "message.set_aside",
                subject: this.mailboxId,
                details: { providerId: id, code: codeOf(error) },
              },
              this.deps.clock.now(),
            );
            break;
          }
        }
      }
    }
    return { fetched, setAside };
  }

  /** N1: notifies the members who want to hear of new inbound client mail, except those who muted the thread. */
  private async notifyNewMail(
    context: FirmContext,
    recordId: MessageRecordId,
    message: MessageToFile,
    now: Date,
  ): Promise<void> {
    if (message.direction !== "inbound") return;
    const { store } = this.deps;
    const facts = { direction: message.direction, threadId: message.threadId, mailboxIds: [this.mailboxId] };
    // Mutes are read only when someone would be notified at all.
    if (newMailRecipients(facts, context.members, context.mailboxes, () => false).length === 0) return;
    const muted = new Set(await store.listThreadMutes(this.firmId, message.threadId));
    const recipients = newMailRecipients(facts, context.members, context.mailboxes, (memberId) =>
      muted.has(memberId),
    );
    for (const memberId of recipients) {
      const subject = {
        kind: "new_client_mail" as const,
        threadId: message.threadId,
        messageId: recordId,
        accountIds: message.filings.map((f) => f.accountId),
      };
      await store.createNotification(
        this.firmId,
        {
          memberId,
          kind: "new_client_mail",
          payload: {
            threadId: message.threadId,
            messageRecordId: recordId,
            accountIds: subject.accountIds,
            subject: message.subject,
          },
          dedupeKey: notificationKey(memberId, subject),
        },
        now,
      );
    }
  }

  /** F9: saves each attachment once per (account, content hash) when the mailbox auto-saves. */
  private async saveAttachments(
    context: FirmContext,
    message: MessageToFile,
    content: FetchedMessage,
  ): Promise<void> {
    const sink = this.deps.documents;
    if (!sink || !context.mailbox.settings.autoSaveAttachments || content.attachments.length === 0) return;
    const { store } = this.deps;
    for (const filing of message.filings) {
      for (const attachment of content.attachments) {
        if (!(await store.claimAttachment(this.firmId, filing.accountId, attachment.contentHash))) continue;
        try {
          const saved = await sink.save({
            firmId: this.firmId,
            accountId: filing.accountId,
            filename: safeFilename(attachment.filename),
            contentType: attachment.contentType,
            size: attachment.size,
            contentHash: attachment.contentHash,
            content: attachment.content(),
          });
          this.deps.events?.emit("attachment.saved", {
            firmId: this.firmId,
            accountId: filing.accountId,
            documentId: saved.documentId,
            contentHash: attachment.contentHash,
          });
        } catch (error) {
          await store.releaseAttachment(this.firmId, filing.accountId, attachment.contentHash);
          this.deps.logger.warn("attachment save failed", {
            firmId: this.firmId,
            accountId: filing.accountId,
            code: codeOf(error),
          });
        }
      }
    }
  }
}

function isPerMessageFailure(error: unknown): boolean {
  // A parse failure or a message-level server error: retry this message alone. Auth, rate and
  // cursor failures concern the whole mailbox and go up to the retry policy.
  if (!ClientMailError.isInstance(error)) return true;
  return error.code === "transient" || error.code === "internal" || error.code === "not_found";
}

function codeOf(error: unknown): string {
  return ClientMailError.isInstance(error) ? error.code : error instanceof Error ? error.name : "unknown";
}

/** Strips path separators and control characters; keeps a usable name. */
export function safeFilename(name: string): string {
  const cleaned = name
    .normalize("NFC")
    // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
    .replace(/[\u0000-\u001f\u007f/\\]/g, "_")
    .replace(/^\.+/, "")
    .trim()
    .slice(0, 200);
  return cleaned === "" ? "attachment" : cleaned;
}

function groupFilings(
  decision: Extract<FilingDecision, { filed: true }>,
): Array<{ accountId: string; linkIds: string[] }> {
  return decision.accountIds.map((accountId) => ({
    accountId,
    linkIds: decision.matches.filter((m) => m.accountId === accountId).map((m) => m.linkId),
  }));
}

function mergeDuplicates(batch: MessageToFile[]): MessageToFile[] {
  const byKey = new Map<string, MessageToFile>();
  for (const message of batch) {
    const existing = byKey.get(message.dedupeKey);
    if (!existing) {
      byKey.set(message.dedupeKey, message);
      continue;
    }
    for (const sighting of message.sightings) {
      if (
        !existing.sightings.some(
          (s) => s.providerId === sighting.providerId && s.mailboxId === sighting.mailboxId,
        )
      )
        existing.sightings.push(sighting);
    }
  }
  return [...byKey.values()];
}

function toThreadingMessage(key: string, envelope: Envelope, directory: FirmDirectory): ThreadingMessage {
  const participants = [
    envelope.from,
    envelope.sender,
    envelope.replyTo,
    envelope.to,
    envelope.cc,
    envelope.bcc,
  ].flat();
  return {
    id: key,
    messageId: normalizeMessageId(envelope.messageId),
    inReplyTo: envelope.inReplyTo.flatMap((id) => parseMessageIdList(id)),
    references: envelope.references.flatMap((id) => parseMessageIdList(id)),
    providerThreads: envelope.providerThreadId
      ? [{ mailboxId: envelope.mailboxId, threadId: envelope.providerThreadId }]
      : [],
    subject: envelope.subject,
    date: envelope.date,
    externalParticipants: [
      ...new Set(participants.map((p) => p.address).filter((a) => !directory.isInternal(a))),
    ],
  };
}
