/**
 * The directory role of the Store: who the firm is — its members, its mailboxes with their
 * settings, connections and credentials, and its clients (accounts, contacts, the links between
 * them and their invitations). Filing, the facade and the keyring read and change it; the sync
 * engine reads it at the start of a pass and again at commit (F7).
 *
 * It keeps the rules of every Store role (see {@link Store}).
 */
import type {
  Account,
  AccountId,
  AccountKind,
  Contact,
  ContactId,
  Firm,
  FirmId,
  Invitation,
  Link,
  LinkId,
  LinkToggles,
  Mailbox,
  MailboxId,
  MailboxSettings,
  MemberId,
  MemberRole,
  NewMailNotifyPreference,
  NotifyPreferences,
  ProviderKind,
  TeamMember,
} from "../../domain/model.js";

export interface NewFirm {
  name: string;
  internalDomains: string[];
  deletionMode: Firm["deletionMode"];
}

export type FirmPatch = Partial<NewFirm>;

export interface NewTeamMember {
  name: string;
  /** Normalised address; unique per firm. */
  email: string;
  role: MemberRole;
  newMailNotifications: NewMailNotifyPreference;
  timeZone: string;
}

export type TeamMemberPatch = Partial<NewTeamMember>;

export interface NewMailbox {
  provider: ProviderKind;
  /** Normalised address; unique per firm. */
  address: string;
  displayName: string;
  /** Must be a member of the same firm; becomes the first connection. */
  ownerMemberId: MemberId;
  settings: MailboxSettings;
}

export interface MailboxCredential {
  mailboxId: MailboxId;
  /** Keyring ciphertext. */
  ciphertext: string;
}

export interface NewAccount {
  name: string;
  kind: AccountKind;
}

export type AccountPatch = Partial<NewAccount>;

export interface NewContact {
  firstName: string;
  lastName: string;
}

export type ContactPatch = Partial<NewContact>;

export interface NewLink extends LinkToggles {
  accountId: AccountId;
  contactId: ContactId;
  /** Normalised address (T12). (firm, account, contact, email) is unique. */
  email: string;
  notifyPreferences: NotifyPreferences;
}

export type LinkPatch = Partial<LinkToggles> & {
  email?: string;
  notifyPreferences?: NotifyPreferences;
};

/** Filters for {@link DirectoryStore.listLinks}; all given filters must match. */
export interface LinkFilter {
  accountId?: AccountId;
  contactId?: ContactId;
  /** Normalised address. */
  email?: string;
  emailSync?: boolean;
}

/**
 * Firms, team members, mailboxes (settings, connections, credentials), accounts, contacts,
 * links and invitations. A mailbox's sync state and latest audit are read here, with the mailbox,
 * and written through {@link SyncStateStore}.
 */
export interface DirectoryStore {
  // Firms ---------------------------------------------------------------------------------

  /** Creates a firm with a new id. */
  createFirm(input: NewFirm): Promise<Firm>;
  /** The firm, or `undefined`. */
  getFirm(firmId: FirmId): Promise<Firm | undefined>;
  /** Throws `not_found` for an unknown firm. */
  updateFirm(firmId: FirmId, patch: FirmPatch): Promise<Firm>;
  /** Every firm's id, for workers that iterate over firms (the one cross-firm read). */
  listFirmIds(): Promise<FirmId[]>;

  // Team members ----------------------------------------------------------------------------

  /** Throws `conflict` when the firm already has a member with this email. */
  createMember(firmId: FirmId, input: NewTeamMember): Promise<TeamMember>;
  getMember(firmId: FirmId, memberId: MemberId): Promise<TeamMember | undefined>;
  /** Ordered by name. */
  listMembers(firmId: FirmId): Promise<TeamMember[]>;
  /** Throws `not_found`, or `conflict` for a duplicate email. */
  updateMember(firmId: FirmId, memberId: MemberId, patch: TeamMemberPatch): Promise<TeamMember>;

  // Mailboxes -------------------------------------------------------------------------------

  /**
   * Creates a mailbox in state `connecting`, connected by its owner. Throws `not_found` when the
   * owner is not a member of the firm, `conflict` when the address is already connected.
   */
  createMailbox(firmId: FirmId, input: NewMailbox, at: Date): Promise<Mailbox>;
  getMailbox(firmId: FirmId, mailboxId: MailboxId): Promise<Mailbox | undefined>;
  /** Ordered by address. */
  listMailboxes(firmId: FirmId): Promise<Mailbox[]>;
  /** Throws `not_found`. */
  updateMailboxSettings(
    firmId: FirmId,
    mailboxId: MailboxId,
    patch: Partial<MailboxSettings>,
  ): Promise<Mailbox>;
  /** Idempotent: connecting again keeps the first `connectedAt`. Throws `not_found`. */
  addMailboxConnection(firmId: FirmId, mailboxId: MailboxId, memberId: MemberId, at: Date): Promise<Mailbox>;
  /** Returns false when there was no such connection. */
  removeMailboxConnection(firmId: FirmId, mailboxId: MailboxId, memberId: MemberId): Promise<boolean>;
  /**
   * Stores Keyring ciphertext (never plaintext) as the mailbox's credentials; `undefined` deletes
   * them (Y4). Throws `not_found`.
   */
  setMailboxCredentials(firmId: FirmId, mailboxId: MailboxId, ciphertext: string | undefined): Promise<void>;
  /** The ciphertext, or `undefined` when none is stored or the mailbox is unknown. */
  getMailboxCredentials(firmId: FirmId, mailboxId: MailboxId): Promise<string | undefined>;
  /** Every stored credential of the firm (for key rotation). */
  listMailboxCredentials(firmId: FirmId): Promise<MailboxCredential[]>;

  // Accounts, contacts, links ---------------------------------------------------------------

  createAccount(firmId: FirmId, input: NewAccount, at: Date): Promise<Account>;
  getAccount(firmId: FirmId, accountId: AccountId): Promise<Account | undefined>;
  /** Ordered by name. */
  listAccounts(firmId: FirmId): Promise<Account[]>;
  /** Throws `not_found`. */
  updateAccount(firmId: FirmId, accountId: AccountId, patch: AccountPatch): Promise<Account>;
  /** Deletes the account and its links; filed messages stay. False when not found. */
  deleteAccount(firmId: FirmId, accountId: AccountId): Promise<boolean>;

  createContact(firmId: FirmId, input: NewContact): Promise<Contact>;
  getContact(firmId: FirmId, contactId: ContactId): Promise<Contact | undefined>;
  /** Ordered by last name, first name. */
  listContacts(firmId: FirmId): Promise<Contact[]>;
  /** Throws `not_found`. */
  updateContact(firmId: FirmId, contactId: ContactId, patch: ContactPatch): Promise<Contact>;

  /**
   * Throws `not_found` when the account or contact is not in the firm, `conflict` when the
   * (account, contact, email) triple already exists.
   */
  createLink(firmId: FirmId, input: NewLink): Promise<Link>;
  getLink(firmId: FirmId, linkId: LinkId): Promise<Link | undefined>;
  /** Ordered by email. */
  listLinks(firmId: FirmId, filter?: LinkFilter): Promise<Link[]>;
  /** Throws `not_found`, or `conflict` when the new email duplicates a link. */
  updateLink(firmId: FirmId, linkId: LinkId, patch: LinkPatch): Promise<Link>;
  /** False when not found. */
  deleteLink(firmId: FirmId, linkId: LinkId): Promise<boolean>;
  /** Replaces the link's invitation (`undefined` clears it). Throws `not_found`. */
  setInvitation(firmId: FirmId, linkId: LinkId, invitation: Invitation | undefined): Promise<Link>;
  /** The link whose current invitation has this token, or `undefined`. */
  findLinkByInvitationToken(firmId: FirmId, token: string): Promise<Link | undefined>;
}
