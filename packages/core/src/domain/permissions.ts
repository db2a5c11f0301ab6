/**
 * Sending on behalf of others (P1–P5): who may send from which mailbox, as whom an automation
 * sends, and which mailbox a reply goes out from. Refusals are values with a reason, so callers
 * can explain them; {@link assertMaySend} turns them into typed errors.
 */
import { PermissionDeniedError, type PermissionRefusalReason } from "../errors.js";
import type { Mailbox, MailboxId, MemberId } from "./model.js";

/** Who pressed send (P4): a team member, or an automation running as a named team member. */
export type Actor =
  | { kind: "member"; memberId: MemberId }
  | { kind: "automation"; automationId: string; runAsMemberId: MemberId };

/** The member whose rights an actor uses (P2: an automation has exactly its named member's rights). */
export function actingMember(actor: Actor): MemberId {
  return actor.kind === "member" ? actor.memberId : actor.runAsMemberId;
}

export type SendPermission =
  { ok: true; mailboxId: MailboxId } | { ok: false; reason: PermissionRefusalReason; message: string };

export type MailboxForSending = Pick<
  Mailbox,
  "id" | "address" | "ownerMemberId" | "connections" | "settings" | "state"
>;

/**
 * P1: a member may send from a mailbox they connected themselves (a shared mailbox is sendable by
 * every member who connected it), or from one whose owner allows team members to send on their
 * behalf. P5: never from a mailbox whose sync is stopped.
 */
export function maySendFrom(memberId: MemberId, mailbox: MailboxForSending): SendPermission {
  const connected = mailbox.connections.some((connection) => connection.memberId === memberId);
  if (!connected && !mailbox.settings.allowOthersToSend) {
    return {
      ok: false,
      reason: "not_connected_and_not_delegated",
      message: `You did not connect ${mailbox.address} and its owner has not allowed team members to send on their behalf`,
    };
  }
  if (mailbox.state.status === "stopped") {
    return {
      ok: false,
      reason: "mailbox_sync_stopped",
      message: `Sync of ${mailbox.address} is stopped (${mailbox.state.reason}); reconnect it to send from it`,
    };
  }
  return { ok: true, mailboxId: mailbox.id };
}

/**
 * P2: an automation sends from exactly the mailbox it was configured with, with its named member's
 * rights; it never falls back to another address.
 */
export function automationSender(
  actor: Extract<Actor, { kind: "automation" }>,
  mailbox: MailboxForSending | undefined,
): SendPermission {
  if (!mailbox)
    return { ok: false, reason: "mailbox_not_found", message: "The automation's mailbox no longer exists" };
  return maySendFrom(actor.runAsMemberId, mailbox);
}

/**
 * P3: a reply goes out from the mailbox the thread's last inbound message arrived in, if the
 * sender may use it; otherwise from the sender's own mailbox; otherwise it is refused with why.
 * `ownMailboxes` are the mailboxes the member connected, in preference order.
 */
export function defaultReplyMailbox(
  memberId: MemberId,
  lastInboundMailbox: MailboxForSending | undefined,
  ownMailboxes: readonly MailboxForSending[],
): SendPermission {
  const reasons: string[] = [];
  if (lastInboundMailbox) {
    const permission = maySendFrom(memberId, lastInboundMailbox);
    if (permission.ok) return permission;
    reasons.push(permission.message);
  }
  for (const mailbox of ownMailboxes) {
    if (!mailbox.connections.some((connection) => connection.memberId === memberId)) continue;
    const permission = maySendFrom(memberId, mailbox);
    if (permission.ok) return permission;
    reasons.push(permission.message);
  }
  return {
    ok: false,
    reason: "no_usable_mailbox",
    message:
      reasons.length > 0
        ? `No mailbox can send this reply: ${reasons.join("; ")}`
        : "You have no connected mailbox to send from",
  };
}

/** Throws a {@link PermissionDeniedError} for a refusal; returns the mailbox id otherwise. */
export function assertMaySend(permission: SendPermission): MailboxId {
  if (permission.ok) return permission.mailboxId;
  throw new PermissionDeniedError(permission.reason, permission.message);
}

/** P4: what every sent message records. */
export interface SendAttribution {
  mailboxId: MailboxId;
  actor: Actor;
}
