/**
 * N1 inside the page's transaction (R8): the notifications of new inbound client mail are rows of
 * the store, so they are written with the messages they announce — a crash loses none, and the
 * per-(member, message) dedupe key makes a replayed page add none. A page's notices take two
 * round trips whatever its size: the mutes of its threads, then the notifications.
 */
import type { MailboxId, MessageRecordId } from "../domain/model.js";
import { newMailRecipients, notificationKey } from "../domain/notifications.js";
import type { MessageToFile, NewNotification, NotificationStore, ThreadStore } from "../ports/store.js";
import type { FirmContext } from "./directory.js";

/** A message of the page that may be announced. */
export interface NewMailItem {
  recordId: MessageRecordId;
  message: MessageToFile;
}

/**
 * Notifies the members who want to hear of each new inbound message, except those who muted its
 * thread. Messages that are not inbound are skipped.
 */
export async function notifyNewMail(
  tx: ThreadStore & NotificationStore,
  context: FirmContext,
  mailboxId: MailboxId,
  items: readonly NewMailItem[],
  now: Date,
): Promise<void> {
  const factsOf = (message: MessageToFile) => ({
    direction: message.direction,
    threadId: message.threadId,
    mailboxIds: [mailboxId],
  });
  // Mutes are read only for messages someone would be notified of at all.
  const candidates = items.filter(
    ({ message }) =>
      message.direction === "inbound" &&
      newMailRecipients(factsOf(message), context.members, context.mailboxes, () => false).length > 0,
  );
  if (candidates.length === 0) return;
  const mutes = await tx.listThreadMutesBatch(context.firmId, [
    ...new Set(candidates.map(({ message }) => message.threadId)),
  ]);
  const inputs: NewNotification[] = [];
  for (const { recordId, message } of candidates) {
    const muted = new Set(mutes.get(message.threadId) ?? []);
    const recipients = newMailRecipients(factsOf(message), context.members, context.mailboxes, (memberId) =>
      muted.has(memberId),
    );
    const accountIds = message.filings.map((f) => f.accountId);
    for (const memberId of recipients) {
      inputs.push({
        memberId,
        kind: "new_client_mail",
        payload: {
          threadId: message.threadId,
          messageRecordId: recordId,
          accountIds,
          subject: message.subject,
        },
        dedupeKey: notificationKey(memberId, {
          kind: "new_client_mail",
          threadId: message.threadId,
          messageId: recordId,
          accountIds,
        }),
      });
    }
  }
  if (inputs.length > 0) await tx.createNotifications(context.firmId, inputs, now);
}
