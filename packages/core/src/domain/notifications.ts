/**
 * Inbox+ notifications (N1–N3, N5): who hears about new client mail, the sync-health notices,
 * and the snooze / dismiss state machine.
 */
import type { Mailbox, MailboxId, MailboxSyncState, MemberId, TeamMember, ThreadId } from "./model.js";

/** What a notification is about. `key` makes creating the same notice twice a no-op. */
export type NotificationSubject =
  | { kind: "new_client_mail"; threadId: ThreadId; messageId: string; accountIds: string[] }
  | { kind: "email_not_synced" }
  | { kind: "sync_stopped"; mailboxId: MailboxId; reason: string }
  | { kind: "bulk_update_report"; reportId: string; report: unknown }
  | { kind: "automation_failing"; automationId: string; mailboxId: MailboxId | undefined; reason: string };

/** N3: a notification is shown, snoozed until a time, or dismissed forever. */
export type NotificationVisibility =
  { status: "active" } | { status: "snoozed"; until: Date } | { status: "dismissed"; at: Date };

/** N3: "remind me later" hides a notification for 24 hours. */
export const snoozeDurationMs = 24 * 60 * 60 * 1000;

/** N3: snoozes for 24 h from `now`. A dismissed notification stays dismissed. */
export function snooze(state: NotificationVisibility, now: Date): NotificationVisibility {
  if (state.status === "dismissed") return state;
  return { status: "snoozed", until: new Date(now.getTime() + snoozeDurationMs) };
}

/** N3: "don't show again". Final: no later snooze or re-raise shows it again. */
export function dismiss(state: NotificationVisibility, now: Date): NotificationVisibility {
  if (state.status === "dismissed") return state;
  return { status: "dismissed", at: now };
}

/** N3: whether the notification is shown at `now`. */
export function isVisible(state: NotificationVisibility, now: Date): boolean {
  if (state.status === "active") return true;
  if (state.status === "snoozed") return now.getTime() >= state.until.getTime();
  return false;
}

/** The stable identity of a notice for one member; equal keys are the same notice. */
export function notificationKey(memberId: MemberId, subject: NotificationSubject): string {
  switch (subject.kind) {
    case "new_client_mail":
      return `${memberId}:new_client_mail:${subject.messageId}`;
    case "email_not_synced":
      return `${memberId}:email_not_synced`;
    case "sync_stopped":
      return `${memberId}:sync_stopped:${subject.mailboxId}`;
    case "bulk_update_report":
      return `${memberId}:bulk_update_report:${subject.reportId}`;
    case "automation_failing":
      return `${memberId}:automation_failing:${subject.automationId}`;
  }
}

/** The facts N1 needs about a newly filed message. */
export interface NewMailFacts {
  direction: "inbound" | "outbound";
  threadId: ThreadId;
  /** Mailboxes the message was seen in. */
  mailboxIds: readonly MailboxId[];
}

/**
 * N1: the members notified of a new filed message. Only inbound mail notifies. A member with
 * preference `all` hears of every one; `my_mailboxes` only of mail seen in a mailbox they
 * connected; `none` never. A member who muted the thread is never notified of it (H4).
 */
export function newMailRecipients(
  message: NewMailFacts,
  members: ReadonlyArray<Pick<TeamMember, "id" | "newMailNotifications">>,
  mailboxes: ReadonlyArray<Pick<Mailbox, "id" | "connections">>,
  mutedBy: (memberId: MemberId, threadId: ThreadId) => boolean,
): MemberId[] {
  if (message.direction !== "inbound") return [];
  const connectedMembers = new Set<MemberId>();
  for (const mailbox of mailboxes) {
    if (!message.mailboxIds.includes(mailbox.id)) continue;
    for (const connection of mailbox.connections) connectedMembers.add(connection.memberId);
  }
  return members
    .filter((member) => {
      if (member.newMailNotifications === "none") return false;
      if (member.newMailNotifications === "my_mailboxes" && !connectedMembers.has(member.id)) return false;
      return !mutedBy(member.id, message.threadId);
    })
    .map((member) => member.id);
}

/** A notice to raise for one member. */
export interface NoticeFor {
  memberId: MemberId;
  subject: NotificationSubject;
}

/**
 * N2: the sync-health notices: "your email is not synced" for a member with no connected
 * mailbox; "sync stopped — reconnect" for every member of a mailbox whose sync stopped on its own
 * (revoked credentials, repeated failures). A mailbox the user disconnected raises nothing.
 */
export function syncHealthNotices(
  members: ReadonlyArray<Pick<TeamMember, "id">>,
  mailboxes: ReadonlyArray<Pick<Mailbox, "id" | "connections" | "state">>,
): NoticeFor[] {
  const notices: NoticeFor[] = [];
  for (const member of members) {
    const own = mailboxes.filter((mailbox) => mailbox.connections.some((c) => c.memberId === member.id));
    const live = own.filter(
      (mailbox) => !(mailbox.state.status === "stopped" && mailbox.state.reason === "disconnected_by_user"),
    );
    if (live.length === 0) notices.push({ memberId: member.id, subject: { kind: "email_not_synced" } });
    for (const mailbox of live) {
      if (mailbox.state.status === "stopped") {
        notices.push({
          memberId: member.id,
          subject: { kind: "sync_stopped", mailboxId: mailbox.id, reason: mailbox.state.reason },
        });
      }
    }
  }
  return notices;
}

/** N5: one member's line in the admin sync-status view. */
export interface MemberSyncStatus {
  memberId: MemberId;
  name: string;
  email: string;
  synced: boolean;
  mailboxes: Array<{
    mailboxId: MailboxId;
    address: string;
    state: MailboxSyncState;
    lastSyncedAt: Date | undefined;
    /** Client messages of this mailbox waiting in quarantine (R2). */
    quarantined: number;
  }>;
}

/** N5: whether each member's email is synced, each mailbox's state, and its last successful sync. */
export function teamSyncStatus(
  members: ReadonlyArray<Pick<TeamMember, "id" | "name" | "email">>,
  mailboxes: ReadonlyArray<Pick<Mailbox, "id" | "address" | "connections" | "state" | "lastSyncedAt">>,
  quarantined: ReadonlyMap<MailboxId, number> = new Map(),
): MemberSyncStatus[] {
  return members.map((member) => {
    const own = mailboxes.filter((mailbox) => mailbox.connections.some((c) => c.memberId === member.id));
    return {
      memberId: member.id,
      name: member.name,
      email: member.email,
      synced: own.some((mailbox) => mailbox.state.status !== "stopped"),
      mailboxes: own.map((mailbox) => ({
        mailboxId: mailbox.id,
        address: mailbox.address,
        state: mailbox.state,
        lastSyncedAt: mailbox.lastSyncedAt,
        quarantined: quarantined.get(mailbox.id) ?? 0,
      })),
    };
  });
}
