/**
 * One page of a mailbox's changes, in two phases.
 *
 * **Prepare** (no writes): make the envelopes storable, decide filing on envelopes alone (F1), find
 * which client messages the firm already has, and fetch content only for the others (and for
 * copies whose attachments this mailbox auto-saves, F9). A connection-level failure is thrown and
 * nothing is marked (R1); a message the provider could not deliver on its own comes back as
 * unreadable.
 *
 * **Write** (one transaction, with the cursor): re-decide with the links as they are now (F7),
 * settle identity under the firm's threading lock (F5, R5), thread (H1–H3), file, quarantine what
 * failed on its own (R2, R4), record Message-ID collisions, remove deleted copies (F8) and move the
 * cursor (Y6). A crash anywhere replays the page; filing is idempotent.
 */
import { ClientMailError } from "../errors.js";
import {
  decideFiling,
  normalizeMessageId,
  parseMessageIdList,
  type FilingDecision,
} from "../domain/filing.js";
import type {
  Envelope,
  FetchedMessage,
  FetchResult,
  ProviderEnvelope,
  UnreadableMessage,
} from "../domain/envelope.js";
import { isUnreadable } from "../domain/envelope.js";
import { identityKey, messageFingerprint, sameMessage } from "../domain/identity.js";
import type { MailboxId, MessageRecordId, ThreadId } from "../domain/model.js";
import { unstorableIssues } from "../domain/storable.js";
import type { ThreadingMessage } from "../domain/threading.js";
import type { MailProvider } from "../ports/mail-provider.js";
import type {
  AuditStore,
  FiledMessage,
  FilingStore,
  MessageToFile,
  QuarantineEntry,
  SightingRemoval,
  Store,
} from "../ports/store.js";
import { codeOf, emitFiled, type EffectDependencies, type FiledEffect } from "./after-commit.js";
import { saveAttachmentsJobFor, stageCopy, unstage, type StagedCopy } from "./attachments.js";
import { notifyNewMail, type NewMailItem } from "./new-mail.js";
import { directoryAtCommit, type FirmContext } from "./directory.js";
import { intakeContent, intakeEnvelope, storedText } from "./intake.js";
import { quarantineAttempt } from "./quarantine.js";
import { syncJob } from "./sync-job.js";
import { copySubjectEntries, threadPage, type KnownCopy, type ThreadMerge } from "./store-threading.js";

/** What page filing needs from its host. */
export interface PageFilingDependencies extends EffectDependencies {
  random: () => number;
  /** See `SyncDependencies.scheduleRetries`. */
  scheduleRetries?: boolean | undefined;
}

/** The cursor write that goes with a page (absent for a targeted backfill or a quarantine retry). */
export interface PageCommit {
  token: number;
  cursor: string;
  removed: readonly string[];
}

type Content = FetchedMessage & { envelope: Envelope };

/** A message that may be filed, with what identifies it. */
interface Candidate {
  envelope: Envelope;
  normalizedId: string | undefined;
  fingerprint: string;
}

/** A page after phase one. */
export interface PreparedPage {
  candidates: Candidate[];
  /**
   * Copies that are not client mail now but whose message the firm already filed (e.g. after a
   * UIDVALIDITY change gave them new ids): their sighting is recorded, so F8 keeps following them.
   */
  relinks: Candidate[];
  content: Map<string, Content>;
  /** What each fetched copy left in the BlobStore (source, attachments to save), by provider id. */
  staged: Map<string, StagedCopy>;
  unreadable: UnreadableMessage[];
  /** Quarantined ids this page retries: those not unreadable again leave the quarantine. */
  retried: ReadonlySet<string>;
}

/** What a written page did. */
export interface PageOutcome {
  /** Messages created. */
  filed: number;
  /** Messages that left the firm's view (F8). */
  removed: number;
  /** Provider ids put into (or kept in) quarantine. */
  quarantined: string[];
}

/** A message of the page resolved against the store at commit. */
interface Resolved {
  candidate: Candidate;
  decision: Extract<FilingDecision, { filed: true }> | undefined;
  known: FiledMessage | undefined;
  key: string;
  collidesWith: MessageRecordId[];
}

function toThreadingMessage(
  key: string,
  envelope: Envelope,
  messageId: string | undefined,
  isInternal: (address: string) => boolean,
): ThreadingMessage {
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
    messageId,
    inReplyTo: envelope.inReplyTo.flatMap((id) => parseMessageIdList(id)),
    references: envelope.references.flatMap((id) => parseMessageIdList(id)),
    providerThreads: envelope.providerThreadId
      ? [{ mailboxId: envelope.mailboxId, threadId: envelope.providerThreadId }]
      : [],
    subject: envelope.subject,
    date: envelope.date,
    externalParticipants: [...new Set(participants.map((p) => p.address).filter((a) => !isInternal(a)))],
  };
}

function groupFilings(
  decision: Extract<FilingDecision, { filed: true }>,
): Array<{ accountId: string; linkIds: string[] }> {
  return decision.accountIds.map((accountId) => ({
    accountId,
    linkIds: decision.matches.filter((m) => m.accountId === accountId).map((m) => m.linkId),
  }));
}

function candidateOf(envelope: Envelope): Candidate {
  return {
    envelope,
    normalizedId: normalizeMessageId(envelope.messageId),
    fingerprint: messageFingerprint(envelope),
  };
}

/**
 * H1: a listing may leave out the threading headers (Graph's delta never selects them); the
 * fetched source always has them. The candidate keeps its identity (the listing's fingerprint,
 * the same for every copy of the message) and threads by the headers the message really carries.
 */
function withFetchedThreading(candidate: Candidate, fetched: Content | undefined): Candidate {
  if (!fetched) return candidate;
  const { inReplyTo, references } = fetched.envelope;
  if (inReplyTo.length === 0 && references.length === 0) return candidate;
  return { ...candidate, envelope: { ...candidate.envelope, inReplyTo, references } };
}

/** Files pages of one mailbox. One per pass. */
export class PageFiler {
  constructor(
    private readonly deps: PageFilingDependencies,
    private readonly context: FirmContext,
    private readonly provider: MailProvider,
  ) {}

  private get firmId(): string {
    return this.context.firmId;
  }

  private get mailboxId(): MailboxId {
    return this.context.mailbox.id;
  }

  /** Phase one for listed envelopes. With `relink`, copies of already-filed messages are found too. */
  async prepare(
    envelopes: readonly ProviderEnvelope[],
    options: {
      signal?: AbortSignal | undefined;
      relink?: boolean;
      /** Envelopes the listing could not read (R2): quarantined with the page. */
      unreadable?: readonly UnreadableMessage[] | undefined;
    } = {},
  ): Promise<PreparedPage> {
    const candidates: Candidate[] = [];
    const others: Candidate[] = [];
    for (const listed of envelopes) {
      const envelope = intakeEnvelope(listed, this.mailboxId);
      if (decideFiling(this.context.directory, envelope).filed) candidates.push(candidateOf(envelope));
      else if (options.relink && envelope.messageId !== undefined) others.push(candidateOf(envelope));
    }
    const ids = [...candidates, ...others].flatMap((c) => (c.normalizedId ? [c.normalizedId] : []));
    const records = ids.length > 0 ? await this.deps.store.findMessagesByMessageIds(this.firmId, ids) : [];
    const knownOf = (c: Candidate) =>
      c.normalizedId === undefined
        ? undefined
        : records.find((r) => sameMessage(r, c.envelope, c.fingerprint));
    // F9: a copy in a mailbox that auto-saves attachments is fetched even when the message was
    // filed through another mailbox first; the per-account claim keeps each file saved once.
    const autoSave = Boolean(this.deps.documents) && this.context.mailbox.settings.autoSaveAttachments;
    const toFetch = candidates.filter((c) => {
      const known = knownOf(c);
      return !known || (autoSave && known.attachments.length > 0);
    });
    const { content, staged, unreadable } = await this.fetch(
      toFetch.map((c) => c.envelope.providerId),
      options.signal,
    );
    return {
      candidates: candidates.map((c) => withFetchedThreading(c, content.get(c.envelope.providerId))),
      relinks: others.filter((c) => knownOf(c) !== undefined),
      content,
      staged,
      unreadable: [...(options.unreadable ?? []), ...unreadable],
      retried: new Set(),
    };
  }

  /** Whether this mailbox's attachments go to the accounts' documents (F9). */
  private get savesAttachments(): boolean {
    return Boolean(this.deps.documents) && this.context.mailbox.settings.autoSaveAttachments;
  }

  /** Phase one for quarantined messages due for another attempt (R2): fetch first, then decide. */
  async prepareRetry(providerIds: readonly string[], signal?: AbortSignal): Promise<PreparedPage> {
    const { content, staged, unreadable } = await this.fetch(providerIds, signal);
    const candidates = [...content.values()].map((message) => candidateOf(message.envelope));
    return {
      candidates,
      relinks: [],
      content,
      staged,
      unreadable,
      retried: new Set(providerIds),
    };
  }

  /**
   * Fetches content, and puts each copy's source (R11) and, when they will be saved, its
   * attachments (F9) into the BlobStore before the page commits, so nothing the commit refers to
   * can be lost. R7: each copy is staged as it arrives, while the provider still holds its bytes
   * (a provider may release them once the fetch ends), streamed and never held whole here.
   */
  private async fetch(
    providerIds: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<{
    content: Map<string, Content>;
    staged: Map<string, StagedCopy>;
    unreadable: UnreadableMessage[];
  }> {
    const content = new Map<string, Content>();
    const staged = new Map<string, StagedCopy>();
    const unreadable: UnreadableMessage[] = [];
    if (providerIds.length === 0) return { content, staged, unreadable };
    const { blobs } = this.deps;
    const take = async (ids: readonly string[]) => {
      const results: AsyncIterable<FetchResult> = this.provider.fetch(ids, { signal });
      for await (const result of results) {
        if (isUnreadable(result)) {
          unreadable.push(result);
          continue;
        }
        const message = intakeContent(result, this.mailboxId);
        const { providerId } = message.envelope;
        if (blobs)
          staged.set(
            providerId,
            await stageCopy(blobs, this.firmId, this.mailboxId, message, this.savesAttachments),
          );
        content.set(providerId, message);
      }
    };
    try {
      await take(providerIds);
    } catch (error) {
      if (signal?.aborted || !ClientMailError.hasCode(error, "transient")) throw error;
      await this.isolateConnectionKiller(
        providerIds.filter((id) => !content.has(id) && !unreadable.some((u) => u.providerId === id)),
        content,
        unreadable,
        take,
        error,
      );
    }
    return { content, staged, unreadable };
  }

  /**
   * R1 when a batch fails at connection level: an outage, or one message that makes the server drop
   * the connection every time it is fetched (some servers do, on a message they cannot read). The
   * ids are fetched one at a time, in up to three rounds; each later round first fetches a message
   * that worked, to prove the connection healthy. A message whose fetch dropped the connection in
   * every round while others came through failed on its own: it is set aside as `server_refused`.
   * When nothing comes through, the failure is the connection's: it is thrown, and nothing is
   * marked.
   */
  private async isolateConnectionKiller(
    pending: readonly string[],
    content: Map<string, Content>,
    unreadable: UnreadableMessage[],
    take: (ids: readonly string[]) => Promise<void>,
    batchError: unknown,
  ): Promise<void> {
    const rounds = 3;
    let remaining = [...pending];
    let probe = content.keys().next().value;
    const settled = (id: string) => content.has(id) || unreadable.some((u) => u.providerId === id);
    for (let round = 1; round <= rounds && remaining.length > 0; round++) {
      if (probe !== undefined && round > 1) await take([probe]); // throws: the connection is down
      let succeeded = round > 1;
      let failuresInARow = 0;
      const failed: string[] = [];
      for (const id of remaining) {
        try {
          await take([id]);
          succeeded = true;
          failuresInARow = 0;
          probe ??= settled(id) && content.has(id) ? id : probe;
        } catch (error) {
          if (!ClientMailError.hasCode(error, "transient")) throw error;
          failed.push(id);
          failuresInARow += 1;
          // Two in a row before anything came through: an outage, not a message.
          if (!succeeded && failuresInARow >= 2) throw batchError;
        }
      }
      if (!succeeded) throw batchError;
      remaining = failed;
    }
    for (const providerId of remaining) {
      unreadable.push({
        providerId,
        unreadable: {
          reason: "server_refused",
          detail:
            "the server dropped the connection each time this message was fetched, while others came through",
        },
      });
    }
  }

  /** Phase two: one transaction with the cursor, then the effects. */
  async write(prepared: PreparedPage, commit: PageCommit | undefined): Promise<PageOutcome> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const written = await store.transaction((tx) => this.commit(tx, prepared, commit, now));
    for (const merge of written.merges)
      this.deps.events?.emit("thread.merged", { firmId: this.firmId, ...merge });
    for (const entry of written.quarantined) {
      this.deps.logger.warn("message quarantined", {
        firmId: this.firmId,
        mailboxId: this.mailboxId,
        providerId: entry.providerId,
        reason: entry.reason,
        attempts: entry.attempts,
      });
      this.deps.events?.emit("message.quarantined", {
        firmId: this.firmId,
        mailboxId: this.mailboxId,
        providerId: entry.providerId,
        reason: entry.reason,
        attempts: entry.attempts,
      });
    }
    emitFiled(this.deps, this.firmId, this.mailboxId, written.filed);
    await this.cleanUp(prepared, written.filed);
    const removed = written.removal ? this.reportRemoval(written.removal) : 0;
    return {
      filed: written.filed.filter((f) => f.created).length,
      removed,
      quarantined: written.quarantined.map((e) => e.providerId),
    };
  }

  /**
   * Staged blobs that nothing refers to after the commit go: sources of copies that did not create
   * a message, and attachments no job will save. Best effort: a leftover is only wasted space.
   */
  private async cleanUp(
    prepared: PreparedPage,
    filed: ReadonlyArray<FiledEffect & { jobEnqueued: boolean }>,
  ): Promise<void> {
    const { blobs } = this.deps;
    if (!blobs || prepared.staged.size === 0) return;
    const keepSource = new Set<string>();
    const keepFiles = new Set<string>();
    for (const effect of filed) {
      if (effect.created && effect.message.sourceKey) keepSource.add(effect.message.sightings[0]!.providerId);
      if (effect.jobEnqueued) for (const s of effect.message.sightings) keepFiles.add(s.providerId);
    }
    for (const [providerId, staged] of prepared.staged) {
      try {
        await unstage(
          blobs,
          keepFiles.has(providerId) ? { sourceKey: staged.sourceKey, files: [] } : staged,
          keepSource.has(providerId),
        );
      } catch (error) {
        this.deps.logger.warn("could not remove a staged blob", { firmId: this.firmId, code: codeOf(error) });
      }
    }
  }

  /** F8: emits `message.removed` for messages that left the firm's view; returns how many did. */
  reportRemoval(removal: SightingRemoval): number {
    if (!removal.hidden || removal.orphaned.length === 0) return 0;
    this.deps.events?.emit("message.removed", {
      firmId: this.firmId,
      mailboxId: this.mailboxId,
      messageRecordIds: removal.orphaned,
    });
    return removal.orphaned.length;
  }

  private async commit(
    tx: Store,
    prepared: PreparedPage,
    commit: PageCommit | undefined,
    now: Date,
  ): Promise<{
    filed: Array<FiledEffect & { jobEnqueued: boolean }>;
    merges: ThreadMerge[];
    quarantined: QuarantineEntry[];
    removal: SightingRemoval | undefined;
  }> {
    const firmId = this.firmId;
    const failed: UnreadableMessage[] = [...prepared.unreadable];
    let filed: Array<FiledEffect & { jobEnqueued: boolean }> = [];
    let merges: ThreadMerge[] = [];
    const settled = new Set<string>();

    if (prepared.candidates.length > 0 || prepared.relinks.length > 0) {
      // F7: a toggle turned off while the page was fetched files nothing more through it.
      const directory = await directoryAtCommit(tx, this.context);
      await tx.lockThreads(firmId);
      const resolved = await this.resolve(tx, prepared, directory);
      for (const r of resolved) settled.add(r.candidate.envelope.providerId);
      // Client mail no longer: retried quarantine entries that are not client mail now leave it too.
      for (const c of prepared.candidates) settled.add(c.envelope.providerId);

      const newOnes = new Map<string, Resolved>();
      for (const r of resolved) if (!r.known && r.decision && !newOnes.has(r.key)) newOnes.set(r.key, r);
      const threaded = await threadPage(
        tx,
        firmId,
        [...newOnes.values()].map((r) =>
          toThreadingMessage(
            r.key,
            r.candidate.envelope,
            // R5: a message whose Message-ID another message already carries does not thread through it.
            r.collidesWith.length > 0 ? undefined : r.candidate.normalizedId,
            (address) => directory.isInternal(address),
          ),
        ),
        resolved.flatMap((r): KnownCopy[] => {
          if (!r.known || !r.decision) return [];
          const { envelope } = r.candidate;
          const keys = envelope.providerThreadId ? [`pt:${this.mailboxId}:${envelope.providerThreadId}`] : [];
          // H1: participants only this copy shows (a Bcc on the sender's copy) link it by subject too.
          const subjects = copySubjectEntries(
            toThreadingMessage(r.key, envelope, undefined, (address) => directory.isInternal(address)),
            r.known,
          );
          return keys.length > 0 || subjects.length > 0
            ? [{ threadId: r.known.threadId, keys, subjects }]
            : [];
        }),
      );
      merges = threaded.merges;

      const batch: Array<{ message: MessageToFile; resolved: Resolved }> = [];
      for (const r of resolved) {
        const { envelope } = r.candidate;
        const content = prepared.content.get(envelope.providerId);
        const staged = prepared.staged.get(envelope.providerId);
        const threadId: ThreadId = r.known
          ? threaded.resolve(r.known.threadId)
          : threaded.threadOf.get(r.key)!;
        batch.push({
          resolved: r,
          message: {
            dedupeKey: r.key,
            messageId: r.candidate.normalizedId,
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
            direction: r.decision?.direction ?? r.known?.direction ?? "inbound",
            text: storedText(content),
            html: content?.html,
            attachments: (content?.attachments ?? []).map((a) => ({
              filename: a.filename,
              contentType: a.contentType,
              size: a.size,
              contentHash: a.contentHash,
              ...(a.contentId === undefined ? {} : { contentId: a.contentId }),
            })),
            sourceKey: staged?.sourceKey,
            degraded: content?.degraded === true,
            threadId,
            filings: r.decision ? groupFilings(r.decision) : [],
            sightings: [
              { mailboxId: this.mailboxId, providerId: envelope.providerId, folder: envelope.folder },
            ],
          },
        });
      }
      const { outcomes, unstorable } = await this.file(tx, batch);
      failed.push(...unstorable);
      filed = [];
      const jobs = [];
      // Client messages the firm had already seen in this mailbox before this page.
      const seenHere = new Set(
        resolved
          .filter((r) => r.known?.sightings.some((s) => s.mailboxId === this.mailboxId))
          .map((r) => r.key),
      );
      const announce: NewMailItem[] = [];
      for (const { providerIds, ...effect } of outcomes) {
        // N1, in this transaction: a crash cannot lose the notice, a replay cannot double it. A
        // message new to this mailbox notifies too, though another mailbox filed it first: the
        // members who hear of this mailbox's mail are told whichever copy the engine saw first.
        const newHere = !seenHere.has(effect.message.dedupeKey) && effect.message.filings.length > 0;
        if (effect.created || newHere) announce.push({ recordId: effect.recordId, message: effect.message });
        // F9, R8: the save is a job of this transaction.
        const staged = prepared.staged.get(providerIds[0]!);
        const accountIds = effect.message.filings.map((f) => f.accountId);
        const enqueue =
          this.savesAttachments && staged !== undefined && staged.files.length > 0 && accountIds.length > 0;
        if (enqueue)
          jobs.push(
            saveAttachmentsJobFor(this.firmId, this.mailboxId, providerIds[0]!, accountIds, staged.files),
          );
        filed.push({ ...effect, jobEnqueued: enqueue });
      }
      await notifyNewMail(tx, this.context, this.mailboxId, announce, now);
      if (jobs.length > 0) await this.requireQueue().enqueue(tx, jobs);
      await this.recordCollisions(tx, resolved, outcomes, now);
    }

    // R2: what failed on its own is quarantined with the page; what was retried and settled leaves.
    const quarantined = await this.quarantine(tx, failed, now);
    const failedIds = new Set(failed.map((f) => f.providerId));
    const leaving = [...prepared.retried].filter((id) => !failedIds.has(id));
    const settledIds = [...settled].filter((id) => !failedIds.has(id));
    const released = [...new Set([...leaving, ...settledIds])];
    if (released.length > 0) await tx.removeQuarantine(firmId, this.mailboxId, released);

    const removal =
      commit && commit.removed.length > 0
        ? await tx.removeSightings(firmId, this.mailboxId, commit.removed, now)
        : undefined;
    if (commit) await tx.setCursor(firmId, this.mailboxId, commit.token, commit.cursor);
    return { filed, merges, quarantined, removal };
  }

  /**
   * F5, R5 under the firm's threading lock: which candidates the firm already has (same
   * Message-ID and same fingerprint, or the same content hash when there is no Message-ID), which
   * are new, and which new ones share a Message-ID with a different message.
   */
  private async resolve(
    tx: FilingStore,
    prepared: PreparedPage,
    directory: Parameters<typeof decideFiling>[0],
  ): Promise<Resolved[]> {
    const firmId = this.firmId;
    const all = [...prepared.candidates, ...prepared.relinks];
    const ids = all.flatMap((c) => (c.normalizedId ? [c.normalizedId] : []));
    const records = ids.length > 0 ? await tx.findMessagesByMessageIds(firmId, ids) : [];
    const relinkIds = new Set(prepared.relinks.map((c) => c.envelope.providerId));
    const fallbackKeys = new Map<string, string>();
    for (const c of prepared.candidates) {
      if (c.normalizedId !== undefined) continue;
      const content = prepared.content.get(c.envelope.providerId);
      if (content)
        fallbackKeys.set(c.envelope.providerId, identityKey(c.envelope, content.text ?? content.html));
    }
    const byFallbackKey = new Map<string, FiledMessage>();
    if (fallbackKeys.size > 0) {
      const found = await tx.findMessagesByDedupeKeys(firmId, [...new Set(fallbackKeys.values())]);
      // One read for all of them, not one per message.
      const fallbackRecords = found.size > 0 ? await tx.getMessages(firmId, [...found.values()]) : [];
      const byId = new Map(fallbackRecords.map((record) => [record.id, record]));
      for (const [key, recordId] of found) {
        const record = byId.get(recordId);
        if (record) byFallbackKey.set(key, record);
      }
    }

    const resolved: Resolved[] = [];
    const newKeysById = new Map<string, string[]>();
    for (const candidate of all) {
      const { envelope, normalizedId } = candidate;
      const relink = relinkIds.has(envelope.providerId);
      const decision = relink ? undefined : decideFiling(directory, envelope);
      if (!relink && !decision?.filed) continue;
      let known: FiledMessage | undefined;
      let key: string | undefined;
      if (normalizedId !== undefined) {
        known = records.find((r) => sameMessage(r, envelope, candidate.fingerprint));
        key = known?.dedupeKey ?? identityKey(envelope, undefined, candidate.fingerprint);
      } else {
        key = fallbackKeys.get(envelope.providerId);
        known = key === undefined ? undefined : byFallbackKey.get(key);
      }
      if (relink && !known) continue;
      // Known when prepared, erased since (R10), and so never fetched: nothing to file.
      if (!known && !prepared.content.has(envelope.providerId)) continue;
      if (key === undefined) continue;
      const collidesWith: MessageRecordId[] = [];
      if (!known && normalizedId !== undefined) {
        for (const r of records) if (r.messageId === normalizedId) collidesWith.push(r.id);
        const earlier = newKeysById.get(normalizedId) ?? [];
        if (earlier.some((k) => k !== key)) collidesWith.push(...earlier.filter((k) => k !== key));
        newKeysById.set(normalizedId, [...earlier, key]);
      }
      resolved.push({
        candidate,
        decision: decision?.filed ? decision : undefined,
        known,
        key,
        collidesWith,
      });
    }
    return resolved;
  }

  /**
   * Files the batch (copies of one message merged); when the store refuses a value (R4), files the
   * messages one by one and returns those it still refuses, to be quarantined alone.
   */
  private async file(
    tx: Store,
    batch: ReadonlyArray<{ message: MessageToFile; resolved: Resolved }>,
  ): Promise<{ outcomes: Array<FiledEffect & { providerIds: string[] }>; unstorable: UnreadableMessage[] }> {
    const unstorable: UnreadableMessage[] = [];
    const merged = new Map<string, { message: MessageToFile; providerIds: string[] }>();
    for (const { message } of batch) {
      const issues = unstorableIssues(message);
      const providerId = message.sightings[0]!.providerId;
      if (issues.length > 0) {
        unstorable.push({
          providerId,
          unreadable: { reason: "unstorable", detail: `fields: ${issues.map((i) => i.field).join(", ")}` },
        });
        continue;
      }
      const existing = merged.get(message.dedupeKey);
      if (!existing) {
        merged.set(message.dedupeKey, {
          message: { ...message, sightings: [...message.sightings] },
          providerIds: [providerId],
        });
        continue;
      }
      // A batch may carry two copies of one message (e.g. Inbox and All Mail): file it once.
      existing.providerIds.push(providerId);
      for (const sighting of message.sightings) {
        if (!existing.message.sightings.some((s) => s.providerId === sighting.providerId))
          existing.message.sightings.push(sighting);
      }
      for (const filing of message.filings) {
        const same = existing.message.filings.find((f) => f.accountId === filing.accountId);
        if (!same) existing.message.filings.push(filing);
        else same.linkIds = [...new Set([...same.linkIds, ...filing.linkIds])];
      }
    }
    const items = [...merged.values()];
    const effects = (outcomes: Array<{ id: MessageRecordId; created: boolean }>, list: typeof items) =>
      outcomes.map((outcome, index) => {
        const item = list[index]!;
        return {
          recordId: outcome.id,
          created: outcome.created,
          message: item.message,
          providerIds: item.providerIds,
        };
      });
    let filed: Array<FiledEffect & { providerIds: string[] }>;
    if (items.length === 0) filed = [];
    else {
      try {
        filed = effects(
          await tx.transaction((inner) =>
            inner.fileMessages(
              this.firmId,
              items.map((i) => i.message),
              this.deps.clock.now(),
            ),
          ),
          items,
        );
      } catch (error) {
        if (!ClientMailError.hasCode(error, "validation_failed")) throw error;
        filed = [];
        for (const item of items) {
          try {
            const outcome = await tx.transaction((inner) =>
              inner.fileMessages(this.firmId, [item.message], this.deps.clock.now()),
            );
            filed.push(...effects(outcome, [item]));
          } catch (single) {
            if (!ClientMailError.hasCode(single, "validation_failed")) throw single;
            for (const providerId of item.providerIds)
              unstorable.push({ providerId, unreadable: { reason: "unstorable", detail: codeOf(single) } });
          }
        }
      }
    }
    return { outcomes: filed, unstorable };
  }

  /** R5: a new message that shares its Message-ID with a different message is recorded. */
  private async recordCollisions(
    tx: AuditStore,
    resolved: readonly Resolved[],
    outcomes: ReadonlyArray<FiledEffect>,
    now: Date,
  ): Promise<void> {
    for (const r of resolved) {
      if (r.collidesWith.length === 0) continue;
      const outcome = outcomes.find((o) => o.message.dedupeKey === r.key);
      if (!outcome?.created) continue;
      await tx.appendAudit(
        this.firmId,
        {
          actor: "sync",
          action: "message.id_collision",
          subject: this.mailboxId,
          details: {
            providerId: r.candidate.envelope.providerId,
            messageRecordId: outcome.recordId,
            sharesMessageIdWith: r.collidesWith,
          },
        },
        now,
      );
    }
  }

  private requireQueue() {
    if (!this.deps.queue) {
      throw new ClientMailError(
        "unsupported",
        "Saving attachments (documents) needs a job queue (settings.queue)",
        {
          details: { option: "queue" },
        },
      );
    }
    return this.deps.queue;
  }

  private async quarantine(
    tx: Store,
    failed: readonly UnreadableMessage[],
    now: Date,
  ): Promise<QuarantineEntry[]> {
    if (failed.length === 0) return [];
    const current = new Map(
      (await tx.listQuarantine(this.firmId, { mailboxId: this.mailboxId })).map((e) => [e.providerId, e]),
    );
    const entries = failed.map((failure) =>
      quarantineAttempt(current.get(failure.providerId), this.mailboxId, failure, now, this.deps.random),
    );
    await tx.putQuarantine(this.firmId, entries);
    if (this.deps.scheduleRetries && this.deps.queue) {
      const soonest = Math.min(...entries.map((entry) => entry.nextAttemptAt.getTime()));
      await this.deps.queue.enqueue(tx, [syncJob(this.firmId, this.mailboxId, new Date(soonest))]);
    }
    return entries;
  }
}
