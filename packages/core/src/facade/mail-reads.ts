/**
 * Reads a host's mail views need besides the listings: the firm's mailboxes with their settings
 * and sync state (Y3, N5), one mailbox, and one thread's messages rendered safely (H4, H5). Each
 * is scoped by firm: another firm's record is `not_found`, like an unknown one.
 */
import { NotFoundError } from "../errors.js";
import type { FirmId, Mailbox, MailboxId, MemberId, ThreadId } from "../domain/model.js";
import type { FiledMessage } from "../ports/store.js";
import type { RenderableBodyOptions } from "../content/renderable-body.js";
import type { DirectoryStore, ThreadStore } from "../ports/store.js";
import { checkIds } from "./context.js";
import { parseRenderOptions, renderMessage, type RenderedThreadView } from "./content.js";

/** Y3, N5: the firm's mailboxes (stopped ones included), ordered by address. */
export async function listMailboxes(
  store: DirectoryStore,
  firmId: FirmId,
  filter: { memberId?: MemberId } = {},
): Promise<Mailbox[]> {
  const { memberId } = filter;
  checkIds(memberId === undefined ? { firmId } : { firmId, memberId });
  const mailboxes = (await store.listMailboxes(firmId)).filter(
    (mailbox) => memberId === undefined || mailbox.connections.some((c) => c.memberId === memberId),
  );
  return mailboxes.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/** One mailbox of the firm; `not_found` when the firm has none with this id. */
export async function getMailbox(
  store: DirectoryStore,
  firmId: FirmId,
  mailboxId: MailboxId,
): Promise<Mailbox> {
  checkIds({ firmId, mailboxId });
  const mailbox = await store.getMailbox(firmId, mailboxId);
  if (!mailbox) throw new NotFoundError("Mailbox", mailboxId);
  return mailbox;
}

/**
 * H4, H5: one thread with its visible messages, oldest first, each rendered as by
 * `renderMessage` (sanitised HTML, remote images blocked unless allowed). `not_found` for a
 * thread the firm does not have or whose messages all left its view (F8).
 */
export async function renderThread(
  store: ThreadStore,
  firmId: FirmId,
  threadId: ThreadId,
  options?: RenderableBodyOptions,
): Promise<RenderedThreadView> {
  const parsed = parseRenderOptions(options);
  const messages = await threadMessages(store, firmId, threadId);
  return {
    threadId,
    lastActivityAt: new Date(Math.max(...messages.map((message) => message.date.getTime()))),
    messages: messages.map((message) => renderMessage(message, parsed)),
  };
}

/**
 * H5: one thread's visible messages, oldest first, as stored; `not_found` when the firm has no
 * visible message in such a thread.
 */
export async function threadMessages(
  store: ThreadStore,
  firmId: FirmId,
  threadId: ThreadId,
): Promise<FiledMessage[]> {
  checkIds({ firmId, threadId });
  const messages = (await store.listThreadMessages(firmId, threadId)).filter(
    (m) => m.removedAt === undefined,
  );
  if (messages.length === 0) throw new NotFoundError("Thread", threadId);
  return messages;
}

/** H4: whether `memberId` muted the thread (false for a thread nobody muted or the firm lacks). */
export async function isThreadMuted(
  store: ThreadStore,
  firmId: FirmId,
  threadId: ThreadId,
  memberId: MemberId,
): Promise<boolean> {
  checkIds({ firmId, threadId, memberId });
  return (await store.listThreadMutes(firmId, threadId)).includes(memberId);
}
