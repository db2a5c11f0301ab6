/**
 * What follows a committed page: events, new-mail notifications (N1) and attachment saves (F9).
 * Each is idempotent, so a replay of the page after a crash repeats nothing visible.
 */
import type { EventEmitter } from "eventemitter3";
import { ClientMailError } from "../errors.js";
import type { FetchedMessage } from "../domain/envelope.js";
import type { MailboxId, MessageRecordId } from "../domain/model.js";
import { newMailRecipients, notificationKey } from "../domain/notifications.js";
import type { Clock } from "../ports/clock.js";
import type { DocumentSink } from "../ports/document-sink.js";
import type { Logger } from "../ports/logger.js";
import type { MessageToFile, Store } from "../ports/store.js";
import type { FirmContext } from "./directory.js";
import type { SyncEvents } from "./events.js";

/** The ports the after-commit effects use. */
export interface EffectDependencies {
  store: Store;
  clock: Clock;
  logger: Logger;
  documents?: DocumentSink | undefined;
  events?: EventEmitter<SyncEvents> | undefined;
}

/** One message a committed page filed or saw again. */
export interface FiledEffect {
  recordId: MessageRecordId;
  created: boolean;
  message: MessageToFile;
  /** The fetched content, when this copy was fetched (attachments are saved from it). */
  content: FetchedMessage | undefined;
}

/** Runs the effects of a committed page, in the order of the page. */
export async function runAfterCommit(
  deps: EffectDependencies,
  context: FirmContext,
  mailboxId: MailboxId,
  filed: readonly FiledEffect[],
  now: Date,
): Promise<void> {
  for (const { recordId, created, message, content } of filed) {
    deps.events?.emit("message.filed", {
      firmId: context.firmId,
      mailboxId,
      messageRecordId: recordId,
      threadId: message.threadId,
      accountIds: message.filings.map((f) => f.accountId),
      direction: message.direction,
      created,
    });
    if (created) await notifyNewMail(deps, context, mailboxId, recordId, message, now);
    if (content) await saveAttachments(deps, context, message, content);
  }
}

/** N1: notifies the members who want to hear of new inbound client mail, except those who muted the thread. */
async function notifyNewMail(
  deps: EffectDependencies,
  context: FirmContext,
  mailboxId: MailboxId,
  recordId: MessageRecordId,
  message: MessageToFile,
  now: Date,
): Promise<void> {
  if (message.direction !== "inbound") return;
  const facts = { direction: message.direction, threadId: message.threadId, mailboxIds: [mailboxId] };
  // Mutes are read only when someone would be notified at all.
  if (newMailRecipients(facts, context.members, context.mailboxes, () => false).length === 0) return;
  const muted = new Set(await deps.store.listThreadMutes(context.firmId, message.threadId));
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
    await deps.store.createNotification(
      context.firmId,
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
async function saveAttachments(
  deps: EffectDependencies,
  context: FirmContext,
  message: MessageToFile,
  content: FetchedMessage,
): Promise<void> {
  const sink = deps.documents;
  if (!sink || !context.mailbox.settings.autoSaveAttachments || content.attachments.length === 0) return;
  const { store } = deps;
  for (const filing of message.filings) {
    for (const attachment of content.attachments) {
      if (!(await store.claimAttachment(context.firmId, filing.accountId, attachment.contentHash))) continue;
      try {
        const saved = await sink.save({
          firmId: context.firmId,
          accountId: filing.accountId,
          filename: safeFilename(attachment.filename),
          contentType: attachment.contentType,
          size: attachment.size,
          contentHash: attachment.contentHash,
          content: attachment.content(),
        });
        deps.events?.emit("attachment.saved", {
          firmId: context.firmId,
          accountId: filing.accountId,
          documentId: saved.documentId,
          contentHash: attachment.contentHash,
        });
      } catch (error) {
        await store.releaseAttachment(context.firmId, filing.accountId, attachment.contentHash);
        deps.logger.warn("attachment save failed", {
          firmId: context.firmId,
          accountId: filing.accountId,
          code: codeOf(error),
        });
      }
    }
  }
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

/** The code of an error, for logs. */
export function codeOf(error: unknown): string {
  return ClientMailError.isInstance(error) ? error.code : error instanceof Error ? error.name : "unknown";
}
