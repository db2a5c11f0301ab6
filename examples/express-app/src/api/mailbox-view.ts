/**
 * A mailbox as the API shows it to one member. Owners and admins see every mailbox with its sync
 * state (N5); an employee sees the mailboxes they connected with their state, and the ones they
 * may send from on their owner's behalf (P1) without it. `canSend` is the SDK's P1/P5 decision
 * for the member asking, with its reason when it is no.
 */
import { maySendFrom, type Mailbox, type TeamMember } from "@clientmail/core";

/** What the API answers for a mailbox. */
export interface MailboxView {
  id: string;
  provider: Mailbox["provider"];
  address: string;
  displayName: string;
  ownerMemberId: string;
  /** Whether the member asking connected it (owner, or joined it as a shared mailbox). */
  connected: boolean;
  canSend: boolean;
  cannotSendReason?: string;
  settings?: Mailbox["settings"];
  connections?: Mailbox["connections"];
  state?: Mailbox["state"];
  lastSyncedAt?: Date | null;
  verification?: Mailbox["verification"] | null;
}

/** Whether `member` sees the mailbox's sync state and settings (N5; their own mailboxes). */
export function seesDetails(member: TeamMember, mailbox: Mailbox): boolean {
  return member.role !== "employee" || isConnected(member, mailbox);
}

/** Whether `member` connected the mailbox (its owner, or a member who joined it). */
export function isConnected(member: TeamMember, mailbox: Mailbox): boolean {
  return mailbox.connections.some((connection) => connection.memberId === member.id);
}

/** Whether `member` sees the mailbox at all. */
export function seesMailbox(member: TeamMember, mailbox: Mailbox): boolean {
  return seesDetails(member, mailbox) || mailbox.settings.allowOthersToSend;
}

/** The mailbox as `member` may see it (call only when {@link seesMailbox}). */
export function mailboxView(member: TeamMember, mailbox: Mailbox): MailboxView {
  const permission = maySendFrom(member.id, mailbox);
  const view: MailboxView = {
    id: mailbox.id,
    provider: mailbox.provider,
    address: mailbox.address,
    displayName: mailbox.displayName,
    ownerMemberId: mailbox.ownerMemberId,
    connected: isConnected(member, mailbox),
    canSend: permission.ok,
    ...(permission.ok ? {} : { cannotSendReason: permission.message }),
  };
  if (!seesDetails(member, mailbox)) return view;
  return {
    ...view,
    settings: mailbox.settings,
    connections: mailbox.connections,
    state: mailbox.state,
    lastSyncedAt: mailbox.lastSyncedAt ?? null,
    verification: mailbox.verification ?? null,
  };
}
