/**
 * N1 inside the page's transaction (R8): the notifications of new inbound client mail are rows of
 * the store, so they are written with the messages they announce — a crash loses none, and the
 * per-(member, message) dedupe key makes a replayed page add none.
 */
import type { MailboxId, MessageRecordId } from "../domain/model.js";
import { newMailRecipients, notificationKey } from "../domain/notifications.js";
import type { MessageToFile, NotificationStore, ThreadStore } from "../ports/store.js";
import type { FirmContext } from "./directory.js";

/** Notifies the members who want to hear of this new inbound message, except those who muted its thread. */
export async function notifyNewMail(
  tx: ThreadStore & NotificationStore,
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
  const muted = new Set(await tx.listThreadMutes(context.firmId, message.threadId));
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
    await tx.createNotification(
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
