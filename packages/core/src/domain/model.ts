/**
 * The records of a firm. Plain data: every rule that reads them lives in its own module.
 * Ids are opaque strings chosen by the store; every record names its firm.
 */

export type FirmId = string;
export type MemberId = string;
export type MailboxId = string;
export type AccountId = string;
export type ContactId = string;
export type LinkId = string;
export type MessageRecordId = string;
export type ThreadId = string;

/** The tenant: an accounting firm. */
export interface Firm {
  id: FirmId;
  name: string;
  /** Domains the firm declares as its own (F2), lower-case ASCII. */
  internalDomains: string[];
  /** What happens to a filed message once every mailbox it was seen in has deleted it (F8). */
  deletionMode: "mirror" | "retain";
  createdAt: Date;
}

export type MemberRole = "owner" | "admin" | "employee";

/** How a team member wants to hear about new client mail (N1). */
export type NewMailNotifyPreference = "all" | "my_mailboxes" | "none";

/** A person working at the firm. */
export interface TeamMember {
  id: MemberId;
  firmId: FirmId;
  name: string;
  email: string;
  role: MemberRole;
  newMailNotifications: NewMailNotifyPreference;
  timeZone: string;
}

export type ProviderKind = "gmail" | "graph" | "imap";

/** The sync state of a mailbox (N5). */
export type MailboxSyncState =
  | { status: "connecting" }
  | { status: "backfilling"; done: number; estimated: number | undefined }
  | { status: "live" }
  | {
      status: "retrying";
      attempt: number;
      nextAttemptAt: Date;
      /** The failure's code. */
      lastError: string;
      /** Why, in a log-safe sentence (no secrets, no server text), e.g. the TLS/port hint. */
      lastErrorMessage?: string | undefined;
    }
  /** Waiting for the provider's rate limit or quota to reset (R6): normal operation, not a failure. */
  | { status: "throttled"; until: Date }
  | { status: "stopped"; reason: MailboxStopReason; at: Date };

export type MailboxStopReason = "auth_revoked" | "repeated_failures" | "disconnected_by_user";

/** Who connected a mailbox, and when. A shared mailbox has several. */
export interface MailboxConnection {
  memberId: MemberId;
  connectedAt: Date;
}

/** A connected email account (Y1, Y3). */
export interface Mailbox {
  id: MailboxId;
  firmId: FirmId;
  provider: ProviderKind;
  /** The mailbox's own address (normalised); always internal (F2). */
  address: string;
  displayName: string;
  /** The member who connected it first and owns its settings. */
  ownerMemberId: MemberId;
  connections: MailboxConnection[];
  settings: MailboxSettings;
  state: MailboxSyncState;
  /** When a sync pass last completed without error (N5). */
  lastSyncedAt: Date | undefined;
  /** The latest completeness audit of this mailbox (R1, R2), if one ran. */
  verification: MailboxVerification | undefined;
}

/**
 * What the completeness audit found: every client message the mailbox lists is filed or in
 * quarantine ("verified complete at `at`"), or how many were missing and what became of them.
 */
export interface MailboxVerification {
  at: Date;
  /** True when nothing was missing. */
  complete: boolean;
  /** Client messages the listing showed (by the filing decision at `at`). */
  clientMessages: number;
  /** Client messages that were neither filed nor in quarantine. */
  missing: number;
  /** Of the missing, filed by the audit. */
  repaired: number;
  /** Of the missing, put into quarantine with a reason by the audit. */
  quarantined: number;
}

/** The settings the mailbox's owner controls (Y3). */
export interface MailboxSettings {
  autoSaveAttachments: boolean;
  allowOthersToSend: boolean;
  /** HTML; appended only to mail sent through clientmail (S3). */
  signatureHtml: string;
}

export type AccountKind = "person" | "family" | "business";

/** A client account. */
export interface Account {
  id: AccountId;
  firmId: FirmId;
  name: string;
  kind: AccountKind;
  createdAt: Date;
}

/** A person; linked to accounts through {@link Link}s. */
export interface Contact {
  id: ContactId;
  firmId: FirmId;
  firstName: string;
  lastName: string;
}

/** The categories of system notification an address can opt out of (T5). */
export const notifyCategories = [
  "documents_uploads",
  "documents_signatures",
  "documents_approvals",
  "messages_and_tasks",
  "proposals",
  "organizers",
  "invoices_and_payments",
  "client_requests",
  "transactions_digest",
] as const;

export type NotifyCategory = (typeof notifyCategories)[number];

export type NotifyPreferences = Record<NotifyCategory, boolean>;

/** The state of a portal invitation (T2, T4). */
export type InvitationStatus = "pending" | "accepted" | "invalidated";

export interface Invitation {
  /** Opaque, unguessable; works only while `status` is `pending`. */
  token: string;
  /** The address it was sent to. */
  email: string;
  status: InvitationStatus;
  sentAt: Date;
  acceptedAt: Date | undefined;
  customMessage: string | undefined;
}

/** The four toggles of a link (T1). */
export interface LinkToggles {
  login: boolean;
  notify: boolean;
  emailSync: boolean;
  signatory: boolean;
}

/** One (account, contact, email address) triple and its settings (T1). */
export interface Link extends LinkToggles {
  id: LinkId;
  firmId: FirmId;
  accountId: AccountId;
  contactId: ContactId;
  /** Normalised address (T12). */
  email: string;
  notifyPreferences: NotifyPreferences;
  /** The newest invitation for this link, if any was ever sent. */
  invitation: Invitation | undefined;
  /**
   * T4: set when this is an "unlinked email": an address the firm replaced with a new one, kept
   * only so the client keeps portal access until the new address is activated. It keeps its
   * login (and accepted invitation); notify, email sync and signatory are off. Turning its login
   * off removes it. Stores always return it (`undefined` for an ordinary link).
   */
  unlinkedAt?: Date | undefined;
}
