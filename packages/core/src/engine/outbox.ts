/**
 * The outbox worker (S4, S5, P1–P5): the `outbox.send` job that puts one queued message on the
 * wire, effectively once.
 *
 * - **Claim.** The job claims the message with a compare-and-set `scheduled -> submitting`
 *   ({@link OutboxStore.claimOutbox}); a cancelled or edited-later message is left alone. Jobs of
 *   one message share a key, so two runs of it never overlap.
 * - **Permission at the moment of sending** (P1–P5): the actor (a member, or an automation as its
 *   named member) must still be allowed to use the mailbox, and the mailbox must not be stopped.
 *   A refusal fails the message with its reason; an automation's refusal is reported as failing
 *   to the firm's owner and admins in Inbox+ (N4).
 * - **After a crash.** A run that finds the message still `submitting` knows that an earlier run
 *   died after claiming it (the queue hands a job out again only once its lock expired), perhaps
 *   after the provider accepted it. It takes the claim over ({@link OutboxStore.reclaimOutbox}) and
 *   looks the message up in the mailbox's sent mail by its Message-ID
 *   ({@link MailSender.findSent}): found -> recorded as sent; not found -> sent again or held for
 *   a person (`afterCrash`), and that decision is written to the audit trail before anything else
 *   happens.
 * - **Sent.** Marking the message sent, filing it into its thread (S5) and the audit entry (P4)
 *   are one transaction. The copy that later comes back through sync carries the same Message-ID
 *   and the same fingerprint, so filing recognises it instead of storing it twice.
 */
import { ClientMailError } from "../errors.js";
import { decideFiling, FirmDirectory, normalizeMessageId, parseMessageIdList } from "../domain/filing.js";
import { identityKey, sameMessage } from "../domain/identity.js";
import type { FirmId, Mailbox, MailboxId, MemberId } from "../domain/model.js";
import { notificationKey, type NotificationSubject } from "../domain/notifications.js";
import { draftOf, type DraftAddress, type OutboxDraft } from "../domain/outgoing.js";
import { maySendFrom, type SendPermission } from "../domain/permissions.js";
import type { ThreadingMessage } from "../domain/threading.js";
import type { Clock } from "../ports/clock.js";
import type { DocumentSource } from "../ports/document-source.js";
import type { Job, JobHandler, JobQueue, NewJob } from "../ports/job-queue.js";
import type { Logger } from "../ports/logger.js";
import type { MailSender, OutgoingMessage, SendReceipt } from "../ports/mail-sender.js";
import type { OutboxActor, OutboxMessage, Store } from "../ports/store.js";
import { codeOf } from "./after-commit.js";
import type { EventEmitter } from "eventemitter3";
import type { SyncEvents } from "./events.js";
import { threadPage } from "./store-threading.js";
import type { SenderFactory } from "./provider-pool.js";

/** The job name of a queued message. */
export const outboxSendJob = "outbox.send";

/**
 * The job that sends one queued message at `runAt`. Enqueue it in the transaction that created
 * (or rescheduled) the message, so no process death loses it (R8).
 */
export function outboxJob(firmId: FirmId, outboxId: string, runAt: Date): NewJob {
  return {
    name: outboxSendJob,
    payload: { firmId, outboxId },
    key: `${outboxSendJob}:${firmId}:${outboxId}`,
    group: firmId,
    runAt,
    maxAttempts: 10,
  };
}

/**
 * The error of a message held for a person after a crash (`afterCrash: "hold"`); a person
 * releases it with the facade's `releaseHeld` (send it again, or record it as sent).
 */
export const heldAfterCrashError =
  "held for a person: a worker stopped while sending this message and it is not in the mailbox's sent mail; it may or may not have gone out";

/** What to do with a message found `submitting` after a crash and not found in sent mail. */
export type AfterCrashPolicy = "resend" | "hold";

/** What the outbox worker needs. */
export interface OutboxDependencies {
  store: Store;
  queue: JobQueue;
  clock: Clock;
  logger: Logger;
  /** The sender of a mailbox. The caller owns senders (opens, reuses and closes them). */
  senderFor: (firmId: FirmId, mailbox: Mailbox) => MailSender | Promise<MailSender>;
  /** Reads attachments; required when a message has any. */
  documentSource?: DocumentSource | undefined;
  /** Default `resend`: the lookup is authoritative for every provider clientmail ships. */
  afterCrash?: AfterCrashPolicy | undefined;
  /** How far before the send time the sent-mail lookup searches. Default 1 day. */
  lookupMarginMs?: number | undefined;
  events?: EventEmitter<SyncEvents> | undefined;
  /** Names this process in claims. */
  holder: string;
}

/** Who sent, as the audit trail names them (P4). */
export function actorName(actor: OutboxActor): string {
  return actor.kind === "member" ? actor.memberId : `automation:${actor.name}`;
}

/** P1, P2, P5 at send time: whether the actor may still send from the mailbox. */
export async function permissionAtSend(
  store: Store,
  firmId: FirmId,
  message: Pick<OutboxMessage, "actor" | "mailboxId">,
): Promise<SendPermission> {
  const [mailbox, member] = await Promise.all([
    store.getMailbox(firmId, message.mailboxId),
    store.getMember(firmId, message.actor.memberId),
  ]);
  if (!mailbox)
    return { ok: false, reason: "mailbox_not_found", message: "The mailbox to send from no longer exists" };
  if (!member)
    return {
      ok: false,
      reason: "not_a_team_member",
      message: `The team member ${message.actor.kind === "automation" ? "this automation runs as " : ""}is no longer in the firm`,
    };
  return maySendFrom(member.id, mailbox);
}

/**
 * N4 (P2, P5): tells the firm's owner and admins that an automation fails to send, with the reason.
 * Idempotent per automation and member (the notice's key).
 */
export async function reportFailingAutomation(
  store: Store,
  firmId: FirmId,
  automation: { name: string; mailboxId: MailboxId | undefined; reason: string },
  at: Date,
): Promise<MemberId[]> {
  const admins = (await store.listMembers(firmId)).filter((m) => m.role !== "employee");
  const subject: NotificationSubject = {
    kind: "automation_failing",
    automationId: automation.name,
    mailboxId: automation.mailboxId,
    reason: automation.reason,
  };
  for (const admin of admins) {
    await store.createNotification(
      firmId,
      {
        memberId: admin.id,
        kind: subject.kind,
        payload: { ...subject },
        dedupeKey: notificationKey(admin.id, subject),
      },
      at,
    );
  }
  return admins.map((a) => a.id);
}

/** The message as a sender takes it. */
export async function outgoingMessage(
  firmId: FirmId,
  outbox: OutboxMessage,
  draft: OutboxDraft,
  documents: DocumentSource | undefined,
): Promise<OutgoingMessage> {
  const attachments = [];
  for (const [index, attachment] of draft.attachments.entries()) {
    const document = await documents?.getDocument(firmId, attachment.documentId, {
      accountIds: outbox.accountIds,
    });
    if (!document)
      throw new ClientMailError(
        "not_found",
        `Attachment ${index + 1} (${attachment.filename}) is no longer among the firm's documents`,
        { details: { field: `attachments.${index}`, documentId: attachment.documentId } },
      );
    const chunks: Uint8Array[] = [];
    for await (const chunk of document.content()) chunks.push(chunk);
    const content = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    let offset = 0;
    for (const chunk of chunks) {
      content.set(chunk, offset);
      offset += chunk.byteLength;
    }
    attachments.push({ filename: attachment.filename, contentType: attachment.contentType, content });
  }
  return {
    messageId: draft.messageId,
    from: draft.from,
    to: draft.to,
    cc: draft.cc,
    bcc: draft.bcc,
    subject: draft.subject,
    text: draft.text,
    html: draft.html,
    inReplyTo: draft.inReplyTo,
    references: draft.references,
    replyToProvider: draft.replyToProvider,
    attachments,
    // S4/S5: the Date is the scheduled time, so every attempt carries the same Date and the copy
    // that comes back through sync has the fingerprint the filed record has.
    date: outbox.sendAt,
  };
}

const addresses = (list: readonly DraftAddress[]) =>
  list.map((a) => (a.name ? { address: a.address, name: a.name } : { address: a.address }));

/**
 * S5: files a sent message into its thread at once, inside the caller's transaction, as sync
 * would file the provider's copy (F1: only when a participant is a client address with email sync
 * on; H1: by its reply headers and the provider's thread id). Its identity is the one sync
 * computes, so the copy is recognised when it comes back. Returns the record id, or undefined
 * when the message is not client mail.
 */
export async function fileSentMessage(
  tx: Store,
  firmId: FirmId,
  mailboxId: MailboxId,
  draft: OutboxDraft,
  date: Date,
  receipt:
    (Pick<SendReceipt, "providerThreadId"> & Partial<Pick<SendReceipt, "messageId" | "from">>) | undefined,
  at: Date,
): Promise<string | undefined> {
  // One query at a time: a transaction is one connection.
  const firm = await tx.getFirm(firmId);
  const members = await tx.listMembers(firmId);
  const mailboxes = await tx.listMailboxes(firmId);
  const directory = FirmDirectory.build({
    internalAddresses: [...members.map((m) => m.email), ...mailboxes.map((m) => m.address)],
    internalDomains: firm?.internalDomains ?? [],
    links: await tx.listLinks(firmId, { emailSync: true }),
  });
  // The message as it went out: a provider that gave it its own Message-ID (Gmail, Graph's
  // createReply) or From (Gmail's send-as) sends a copy back through sync that carries those, so
  // the record is filed under them (S5: recognised, not stored twice).
  const sentFrom =
    receipt?.from !== undefined && receipt.from.toLowerCase() !== draft.from.address.toLowerCase()
      ? { address: receipt.from.toLowerCase() }
      : draft.from;
  const sentMessageId = receipt?.messageId ?? draft.messageId;
  const envelope = {
    from: addresses([sentFrom]),
    sender: [],
    replyTo: [],
    to: addresses(draft.to),
    cc: addresses(draft.cc),
    bcc: addresses(draft.bcc),
  };
  const decision = decideFiling(directory, envelope);
  if (!decision.filed) return undefined;
  const messageId = normalizeMessageId(sentMessageId);
  const source = { ...envelope, subject: draft.subject, date, messageId: sentMessageId };
  await tx.lockThreads(firmId);
  if (messageId) {
    const known = (await tx.findMessagesByMessageIds(firmId, [messageId])).find((r) =>
      sameMessage(r, source),
    );
    if (known) return known.id;
  }
  const key = identityKey(source, draft.text ?? draft.html);
  const inReplyTo = parseMessageIdList(draft.inReplyTo);
  const references = parseMessageIdList(draft.references);
  const participants = [...envelope.to, ...envelope.cc, ...envelope.bcc].map((a) => a.address);
  const threading: ThreadingMessage = {
    id: key,
    messageId,
    inReplyTo,
    references,
    providerThreads: receipt?.providerThreadId ? [{ mailboxId, threadId: receipt.providerThreadId }] : [],
    subject: draft.subject,
    date,
    externalParticipants: [...new Set(participants.filter((a) => !directory.isInternal(a)))],
  };
  const threaded = await threadPage(tx, firmId, [threading], []);
  const [outcome] = await tx.fileMessages(
    firmId,
    [
      {
        ...envelope,
        subject: draft.subject,
        date,
        dedupeKey: key,
        messageId,
        inReplyTo,
        references,
        direction: "outbound",
        text: draft.text,
        html: draft.html,
        attachments: [],
        sourceKey: undefined,
        degraded: false,
        threadId: threaded.threadOf.get(key)!,
        filings: decision.accountIds.map((accountId) => ({
          accountId,
          linkIds: decision.matches.filter((m) => m.accountId === accountId).map((m) => m.linkId),
        })),
        // The provider's copy adds its sighting when sync sees it (F5, F8).
        sightings: [],
      },
    ],
    at,
  );
  return outcome?.id;
}

/** The result of one run of the job, for logs and tests. */
export type OutboxRunResult =
  | "not_due"
  | "skipped"
  | "sent"
  | "found_after_crash"
  | "held_after_crash"
  | "refused"
  | "failed"
  | "retry_later";

/** The handler of {@link outboxSendJob}. */
export function outboxSendHandler(deps: OutboxDependencies): JobHandler {
  return async (job, signal) => {
    await sendQueued(deps, job, signal);
  };
}

/** One run of the `outbox.send` job; see the module comment. */
export async function sendQueued(
  deps: OutboxDependencies,
  job: Job,
  signal: AbortSignal,
): Promise<OutboxRunResult> {
  const { store, clock, logger } = deps;
  const { firmId, outboxId } = job.payload as { firmId: string; outboxId: string };
  const claim = `${deps.holder}:${job.id}:${job.attempt}`;
  const found = await store.getOutbox(firmId, outboxId);
  if (!found || found.state === "sent" || found.state === "cancelled" || found.state === "failed")
    return "skipped";
  let recovering = false;
  if (found.state === "scheduled") {
    if (found.sendAt.getTime() > clock.now().getTime()) {
      // Rescheduled later: the job was due at the earlier time (keys keep the earlier run-at).
      await deps.queue.enqueue(store, [outboxJob(firmId, outboxId, found.sendAt)]);
      return "not_due";
    }
    if (!(await store.claimOutbox(firmId, outboxId, claim))) return "skipped";
  } else {
    // `submitting`: the run that claimed it died (runs of one key never overlap).
    if (!(await store.reclaimOutbox(firmId, outboxId, found.claimedBy ?? "", claim))) return "skipped";
    recovering = true;
  }
  const message = (await store.getOutbox(firmId, outboxId))!;
  const draft = draftOf(message.draft);
  const log = { firmId, outboxId, mailboxId: message.mailboxId, attempt: message.attempts };

  // P1, P2, P5: checked now, not only when the message was composed.
  const permission = await permissionAtSend(store, firmId, message);
  const mailbox = await store.getMailbox(firmId, message.mailboxId);

  // After a crash, settle first whether the dead run's message went out: a message that left is
  // recorded as sent, whatever changed since. A failure to look is thrown: the message stays
  // `submitting` and the next run looks again.
  let sender: MailSender | undefined;
  if (recovering && mailbox) {
    sender = await deps.senderFor(firmId, mailbox);
    const since = new Date(message.sendAt.getTime() - (deps.lookupMarginMs ?? 24 * 60 * 60_000));
    const lookup = await sender.findSent(draft.messageId, { signal, since });
    if (lookup.found) {
      const receipt = { messageId: lookup.messageId, from: mailbox.address };
      await markSent(deps, message, draft, claim, receipt, "found_after_crash");
      logger.info("queued message found in sent mail after a crash", log);
      return "found_after_crash";
    }
  }
  if (!permission.ok || !mailbox) {
    const reason = permission.ok ? "mailbox_not_found" : permission.reason;
    await refuse(
      deps,
      message,
      claim,
      reason,
      permission.ok ? "The mailbox no longer exists" : permission.message,
    );
    logger.warn("queued message refused at send time", { ...log, reason });
    return "refused";
  }
  if (recovering) {
    if ((deps.afterCrash ?? "resend") === "hold") {
      const reason = heldAfterCrashError;
      await store.transaction(async (tx) => {
        await tx.markOutboxFailed(firmId, outboxId, claim, { error: reason, retryAt: undefined });
        await tx.appendAudit(
          firmId,
          {
            actor: "system",
            action: "outbox.held_after_crash",
            subject: `outbox:${outboxId}`,
            details: { mailboxId: message.mailboxId, messageId: draft.messageId },
          },
          clock.now(),
        );
      });
      return "held_after_crash";
    }
    // The decision to send again is recorded before the second submission.
    await store.appendAudit(
      firmId,
      {
        actor: "system",
        action: "outbox.resend_after_crash",
        subject: `outbox:${outboxId}`,
        details: { mailboxId: message.mailboxId, messageId: draft.messageId, attempts: message.attempts },
      },
      clock.now(),
    );
  }
  let outgoing: OutgoingMessage;
  try {
    sender ??= await deps.senderFor(firmId, mailbox);
    outgoing = await outgoingMessage(firmId, message, draft, deps.documentSource);
  } catch (error) {
    // Nothing was submitted: safe to put back (or fail for good).
    return await afterSendFailure(deps, message, claim, error, false);
  }
  let receipt: SendReceipt;
  try {
    receipt = await sender.send(outgoing, { signal });
  } catch (error) {
    return await afterSendFailure(deps, message, claim, error, true);
  }
  await markSent(deps, message, draft, claim, receipt, "sent");
  logger.info("queued message sent", log);
  return "sent";
}

async function markSent(
  deps: OutboxDependencies,
  message: OutboxMessage,
  draft: OutboxDraft,
  claim: string,
  receipt: Pick<SendReceipt, "messageId" | "from"> & Partial<SendReceipt>,
  how: "sent" | "found_after_crash",
): Promise<void> {
  const { store, clock } = deps;
  const now = clock.now();
  const recordId = await store.transaction(async (tx) => {
    if (
      !(await tx.markOutboxSent(message.firmId, message.id, claim, { at: now, messageId: receipt.messageId }))
    )
      throw new ClientMailError("lease_lost", "Another worker took this message over", {
        details: { outboxId: message.id },
      });
    // P4: the mailbox and the actor of every sent message.
    await tx.appendAudit(
      message.firmId,
      {
        actor: actorName(message.actor),
        action: "message.sent",
        subject: `outbox:${message.id}`,
        details: {
          mailboxId: message.mailboxId,
          actor: { ...message.actor },
          messageId: receipt.messageId,
          how,
          ...(receipt.from !== draft.from.address ? { fromRewrittenTo: receipt.from } : {}),
        },
      },
      now,
    );
    return fileSentMessage(
      tx,
      message.firmId,
      message.mailboxId,
      draft,
      receipt.date ?? message.sendAt,
      receipt,
      now,
    );
  });
  deps.events?.emit("message.sent", {
    firmId: message.firmId,
    outboxId: message.id,
    mailboxId: message.mailboxId,
    messageRecordId: recordId,
    messageId: receipt.messageId,
  });
}

/** P2, P5: a refused message fails with its reason; an automation's refusal is reported (N4). */
async function refuse(
  deps: OutboxDependencies,
  message: OutboxMessage,
  claim: string,
  reason: string,
  text: string,
): Promise<void> {
  const { store, clock } = deps;
  const now = clock.now();
  await store.transaction(async (tx) => {
    await tx.markOutboxFailed(message.firmId, message.id, claim, {
      error: `permission_denied (${reason}): ${text}`,
      retryAt: undefined,
    });
    await tx.appendAudit(
      message.firmId,
      {
        actor: actorName(message.actor),
        action: "message.refused",
        subject: `outbox:${message.id}`,
        details: { mailboxId: message.mailboxId, actor: { ...message.actor }, reason },
      },
      now,
    );
    if (message.actor.kind === "automation")
      await reportFailingAutomation(
        tx,
        message.firmId,
        { name: message.actor.name, mailboxId: message.mailboxId, reason: text },
        now,
      );
  });
  if (message.actor.kind === "automation")
    deps.events?.emit("automation.failing", {
      firmId: message.firmId,
      automation: message.actor.name,
      mailboxId: message.mailboxId,
      reason,
    });
}

/**
 * A failed submission. The provider refusing this very message (`validation_failed`: too large,
 * an invalid recipient), the mailbox's credentials (`auth_revoked`), a missing attachment, or any
 * failure that is not retryable before anything was submitted (a sender that cannot be opened:
 * no keyring, a bad setting) fail it for good; a sending limit (`rate_limited`), or a retryable failure before anything was submitted
 * (opening the sender, reading attachments), puts it back for later. Anything else may have
 * happened after the server accepted the message: the message stays `submitting` and the error is
 * thrown, so the queue runs the job again and that run looks the message up before deciding (S4).
 */
async function afterSendFailure(
  deps: OutboxDependencies,
  message: OutboxMessage,
  claim: string,
  error: unknown,
  maybeSubmitted: boolean,
): Promise<OutboxRunResult> {
  const { store, clock } = deps;
  const code = codeOf(error);
  const now = clock.now();
  const retryable = !ClientMailError.isInstance(error) || error.retryable;
  if (ClientMailError.hasCode(error, "rate_limited") || (!maybeSubmitted && retryable)) {
    const waitMs = Number((error as { retryAfterMs?: unknown }).retryAfterMs ?? 60_000);
    const retryAt = new Date(now.getTime() + (Number.isFinite(waitMs) ? waitMs : 60_000));
    await store.transaction(async (tx) => {
      await tx.markOutboxFailed(message.firmId, message.id, claim, { error: codeOf(error), retryAt });
      await deps.queue.enqueue(tx, [outboxJob(message.firmId, message.id, retryAt)]);
    });
    return "retry_later";
  }
  // Nothing was submitted and trying again cannot help (a missing keyring, a bad setting): fail now.
  if (
    !maybeSubmitted ||
    code === "validation_failed" ||
    code === "auth_revoked" ||
    code === "permission_denied" ||
    code === "not_found"
  ) {
    const text = error instanceof Error ? error.message : code;
    await store.transaction(async (tx) => {
      await tx.markOutboxFailed(message.firmId, message.id, claim, {
        error: `${code}: ${text}`.slice(0, 1000),
        retryAt: undefined,
      });
      await tx.appendAudit(
        message.firmId,
        {
          actor: actorName(message.actor),
          action: "message.send_failed",
          subject: `outbox:${message.id}`,
          details: { mailboxId: message.mailboxId, code },
        },
        now,
      );
      if (message.actor.kind === "automation")
        await reportFailingAutomation(
          tx,
          message.firmId,
          { name: message.actor.name, mailboxId: message.mailboxId, reason: `${code}: ${text}` },
          now,
        );
    });
    deps.logger.warn("queued message failed", { firmId: message.firmId, outboxId: message.id, code });
    return "failed";
  }
  // Retryable whatever it was: the next run must get to look the message up.
  throw new ClientMailError(
    "transient",
    "Sending was interrupted; the message will be looked up and settled",
    {
      cause: error,
      retryable: true,
      details: { outboxId: message.id, code },
    },
  );
}

/** Settings of the outbox in {@link createWorker}'s settings. */
export interface OutboxWorkerSettings {
  /**
   * Opens the sender of a mailbox from its decrypted credentials and its share of the worker's
   * pacing, as `providerFor` opens its provider; with it, the worker takes `outbox.send` jobs.
   */
  senderFactory?: SenderFactory | undefined;
  /**
   * Overrides `senderFactory`: the sender of a mailbox, opened by the caller without the
   * worker's credentials or pacing (tests, hosts that hold senders themselves).
   */
  senderFor?: ((firmId: FirmId, mailbox: Mailbox) => MailSender | Promise<MailSender>) | undefined;
  /** Reads attachments of outgoing messages. */
  documentSource?: DocumentSource | undefined;
  /** See {@link OutboxDependencies.afterCrash}. */
  afterCrash?: AfterCrashPolicy | undefined;
}

/**
 * The outbox handler of a worker process: one sender per mailbox, opened on first use and
 * closed by `close` when the worker stops.
 */
export function outboxWorker(
  settings: Omit<OutboxDependencies, "senderFor"> & OutboxWorkerSettings,
): { handler: JobHandler; close: () => Promise<void> } | undefined {
  const open = settings.senderFor;
  if (!open) return undefined;
  const senders = new Map<string, Promise<MailSender>>();
  const senderFor = (firmId: FirmId, mailbox: Mailbox): Promise<MailSender> => {
    const key = `${firmId}:${mailbox.id}`;
    let sender = senders.get(key);
    if (!sender) {
      sender = Promise.resolve(open(firmId, mailbox));
      sender.catch(() => senders.delete(key));
      senders.set(key, sender);
    }
    return sender;
  };
  return {
    handler: outboxSendHandler({ ...settings, senderFor }),
    close: async () => {
      const all = [...senders.values()];
      senders.clear();
      for (const sender of all) await (await sender.catch(() => undefined))?.close();
    },
  };
}
