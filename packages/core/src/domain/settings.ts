/**
 * Contact settings (T1–T11): the four toggles of a link, invitations, the derived portal status,
 * who receives what is sent to an account, and bulk updates. Pure functions over {@link Link}s.
 */
import type { AccountId, Invitation, Link, LinkToggles, NotifyCategory, NotifyPreferences } from "./model.js";
import { notifyCategories } from "./model.js";

/** T3: the account's portal status, derived from its links. */
export type PortalStatus = "activated" | "pending_activation" | "not_activated";

/** Everything on by default: a new address hears about every category until someone opts it out. */
export function defaultNotifyPreferences(): NotifyPreferences {
  return Object.fromEntries(notifyCategories.map((category) => [category, true])) as NotifyPreferences;
}

/** True when the link grants portal access now: login on and its invitation accepted for this address. */
export function hasPortalAccess(link: Pick<Link, "login" | "invitation" | "email">): boolean {
  return link.login && link.invitation?.status === "accepted" && link.invitation.email === link.email;
}

/** True when login is on but the address has not accepted an invitation yet (T2). */
export function isPendingActivation(link: Pick<Link, "login" | "invitation" | "email">): boolean {
  return link.login && !hasPortalAccess(link);
}

/**
 * T3: *activated* when a link has login on and accepted; else *pending activation* when a link has
 * login on and a live invitation; else *not activated*. Never stored: always computed from links.
 */
export function portalStatus(
  links: ReadonlyArray<Pick<Link, "login" | "invitation" | "email">>,
): PortalStatus {
  if (links.some(hasPortalAccess)) return "activated";
  if (
    links.some(
      (link) => link.login && link.invitation?.status === "pending" && link.invitation.email === link.email,
    )
  ) {
    return "pending_activation";
  }
  return "not_activated";
}

/** T8: the account shows an Email tab iff at least one link has email sync on. */
export function showsEmailTab(links: ReadonlyArray<Pick<Link, "emailSync">>): boolean {
  return links.some((link) => link.emailSync);
}

/** T8: the two columns of the accounts list. */
export function accountListFlags(links: ReadonlyArray<Pick<Link, "notify" | "emailSync">>): {
  notify: boolean;
  emailSync: boolean;
} {
  return { notify: links.some((link) => link.notify), emailSync: showsEmailTab(links) };
}

/** T9: may this contact sign proposals, engagement letters and recurring invoices for the account? */
export function maySign(
  links: ReadonlyArray<Pick<Link, "contactId" | "signatory">>,
  contactId: string,
): boolean {
  return links.some((link) => link.contactId === contactId && link.signatory);
}

/** What a send or notification "to an account" is (T5). */
export type Audience =
  | { kind: "email" }
  | { kind: "bulk_email" }
  | { kind: "automation_email" }
  | { kind: "system_notification"; category: NotifyCategory };

/** One address that receives something sent to an account. */
export interface Recipient {
  linkId: string;
  contactId: string;
  email: string;
  /** T6: a system notification to a pending address carries an activation banner until its contact has activated. */
  activationBanner: boolean;
}

/**
 * T5/T6: the recipients of something sent to an account are exactly the links with notify on
 * (and, for a system notification, the category enabled). An address appears once even when two
 * contacts of the account share it. Pending activation does not stop delivery (T6).
 */
export function recipientsFor(links: readonly Link[], audience: Audience): Recipient[] {
  // T6: per contact — another contact of the account being active does not remove the banner.
  const activatedContacts = new Set(links.filter(hasPortalAccess).map((link) => link.contactId));
  const seen = new Set<string>();
  const recipients: Recipient[] = [];
  for (const link of links) {
    if (!link.notify || link.unlinkedAt) continue;
    if (audience.kind === "system_notification" && !link.notifyPreferences[audience.category]) continue;
    if (seen.has(link.email)) continue;
    seen.add(link.email);
    recipients.push({
      linkId: link.id,
      contactId: link.contactId,
      email: link.email,
      activationBanner:
        audience.kind === "system_notification" &&
        isPendingActivation(link) &&
        !activatedContacts.has(link.contactId),
    });
  }
  return recipients;
}

/** A side effect the host (or the engine) must carry out after a settings change is saved. */
export type SettingsEffect =
  | {
      type: "send_invitation";
      linkId: string;
      email: string;
      token: string;
      customMessage: string | undefined;
    }
  | { type: "invalidate_invitation"; linkId: string; token: string }
  | { type: "backfill_address"; email: string }
  | { type: "stop_filing_address"; email: string };

/** What a settings change needs from its caller: the time and fresh invitation tokens. */
export interface SettingsContext {
  now: Date;
  newToken: () => string;
}

/** A change to some of a link's toggles. */
export interface TogglePatch extends Partial<LinkToggles> {
  notifyPreferences?: Partial<NotifyPreferences> | undefined;
  /** T2: with login turned on, whether to send the invitation now (default) or leave it for later. */
  sendInvitation?: boolean | undefined;
  customMessage?: string | undefined;
}

function invite(
  link: Link,
  ctx: SettingsContext,
  customMessage: string | undefined,
): [Invitation, SettingsEffect] {
  const invitation: Invitation = {
    token: ctx.newToken(),
    email: link.email,
    status: "pending",
    sentAt: ctx.now,
    acceptedAt: undefined,
    customMessage,
  };
  return [
    invitation,
    { type: "send_invitation", linkId: link.id, email: link.email, token: invitation.token, customMessage },
  ];
}

/**
 * Applies a toggle change to one link (T1: settings are per link). Returns the new link and the
 * effects: T2 invitations, T7 backfill when email sync turns on, F7 when it turns off.
 * An unchanged toggle produces no effect, so applying the same patch twice is harmless.
 */
export function applyToggles(
  link: Link,
  patch: TogglePatch,
  ctx: SettingsContext,
): { link: Link; effects: SettingsEffect[] } {
  const effects: SettingsEffect[] = [];
  let next: Link = {
    ...link,
    login: patch.login ?? link.login,
    notify: patch.notify ?? link.notify,
    emailSync: patch.emailSync ?? link.emailSync,
    signatory: patch.signatory ?? link.signatory,
    notifyPreferences: { ...link.notifyPreferences, ...definedOnly(patch.notifyPreferences) },
  };

  if (next.login && !link.login) {
    // T2: login turned back on never restores access by itself — for a family account with an
    // ex-spouse that would be a silent re-grant. Only a live pending invitation is kept; otherwise
    // the address proves itself again by accepting a fresh invitation (now, or sent later).
    const live = link.invitation?.status === "pending" && link.invitation.email === link.email;
    if (!live && (patch.sendInvitation ?? true)) {
      const [invitation, effect] = invite(next, ctx, patch.customMessage);
      next = { ...next, invitation };
      effects.push(effect);
    } else if (!live && link.invitation?.status === "accepted") {
      next = { ...next, invitation: { ...link.invitation, status: "invalidated" } };
    }
  } else if (!next.login && link.login && link.invitation?.status === "pending") {
    // Turning login off withdraws access, including the right to accept a pending invitation.
    next = { ...next, invitation: { ...link.invitation, status: "invalidated" } };
    effects.push({ type: "invalidate_invitation", linkId: link.id, token: link.invitation.token });
  } else if (!next.login && link.login && link.invitation?.status === "accepted") {
    // T2: the acceptance is spent with the access it granted; turning login on again needs a new one.
    next = { ...next, invitation: { ...link.invitation, status: "invalidated" } };
  } else if (next.login && link.login && patch.sendInvitation && !hasPortalAccess(link)) {
    // Resend: a new token replaces the old one.
    if (link.invitation?.status === "pending") {
      effects.push({ type: "invalidate_invitation", linkId: link.id, token: link.invitation.token });
    }
    const [invitation, effect] = invite(next, ctx, patch.customMessage);
    next = { ...next, invitation };
    effects.push(effect);
  }

  if (next.emailSync && !link.emailSync) effects.push({ type: "backfill_address", email: next.email });
  if (!next.emailSync && link.emailSync) effects.push({ type: "stop_filing_address", email: next.email });
  return { link: next, effects };
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * T4: changes a link's address. A pending invitation is invalidated (its token stops working) and,
 * when login is on, a new one goes to the new address. An accepted login does not follow the
 * address either: the new address must accept its own invitation, so access is never granted to
 * an address nobody has proven they own. The safe migration (a second link) is unaffected.
 * `newEmail` must already be normalised.
 */
export function changeLinkAddress(
  link: Link,
  newEmail: string,
  ctx: SettingsContext,
): { link: Link; effects: SettingsEffect[]; unlinked: UnlinkedEmail | undefined } {
  if (newEmail === link.email) return { link, effects: [], unlinked: undefined };
  const effects: SettingsEffect[] = [];
  // T4: an address that has portal access keeps it, as an unlinked email, until the firm turns
  // its login off: replacing it never locks the client out while the new address is pending.
  const unlinked =
    hasPortalAccess(link) && link.invitation
      ? { email: link.email, invitation: link.invitation, notifyPreferences: link.notifyPreferences }
      : undefined;
  let next: Link = { ...link, email: newEmail };
  if (link.invitation?.status === "pending") {
    next = { ...next, invitation: { ...link.invitation, status: "invalidated" } };
    effects.push({ type: "invalidate_invitation", linkId: link.id, token: link.invitation.token });
  }
  if (link.login) {
    const [invitation, effect] = invite(next, ctx, link.invitation?.customMessage);
    next = { ...next, invitation };
    effects.push(effect);
  }
  if (link.emailSync) {
    effects.push(
      { type: "stop_filing_address", email: link.email },
      { type: "backfill_address", email: newEmail },
    );
  }
  return { link: next, effects, unlinked };
}

/**
 * T4: what stays of a replaced address that had portal access: the address, with login on and its
 * accepted invitation, as an "unlinked email" (notify, email sync and signatory off).
 */
export interface UnlinkedEmail {
  email: string;
  invitation: Invitation;
  notifyPreferences: NotifyPreferences;
}

/** Why an invitation could not be accepted. */
export type AcceptRefusal = "unknown_token" | "invalidated" | "already_accepted" | "login_off";

/**
 * T2/T4: accepts an invitation by token. Only the newest, still-pending invitation of a link with
 * login on works; an invalidated token never does.
 */
export function acceptInvitation(
  link: Link,
  token: string,
  now: Date,
): { ok: true; link: Link } | { ok: false; reason: AcceptRefusal } {
  const invitation = link.invitation;
  if (!invitation || !constantTimeEqual(invitation.token, token))
    return { ok: false, reason: "unknown_token" };
  if (invitation.status === "invalidated" || invitation.email !== link.email)
    return { ok: false, reason: "invalidated" };
  if (invitation.status === "accepted") return { ok: false, reason: "already_accepted" };
  if (!link.login) return { ok: false, reason: "login_off" };
  return { ok: true, link: { ...link, invitation: { ...invitation, status: "accepted", acceptedAt: now } } };
}

function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++)
    diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

/** T10: one action per setting. */
export type BulkAction = "do_nothing" | "enable" | "disable";

/** T10: what a bulk update does. */
export interface BulkUpdateRequest {
  accountIds: AccountId[];
  login: BulkAction;
  notify: BulkAction;
  emailSync: BulkAction;
  signatory: BulkAction;
  /** Enabling login: send invitations now (default true), with an optional custom message. */
  sendInvitations?: boolean | undefined;
  invitationMessage?: string | undefined;
  /** Enabling notify: optional custom category preferences. */
  notifyPreferences?: Partial<NotifyPreferences> | undefined;
}

/** One account's part of a bulk update. */
export type BulkAccountPlan =
  | { accountId: AccountId; ok: true; links: Link[]; changedLinks: Link[]; effects: SettingsEffect[] }
  | { accountId: AccountId; ok: false; error: { code: string; message: string } };

/** T10: the report delivered as an Inbox+ notification. */
export interface BulkUpdateReport {
  accountsRequested: number;
  accountsUpdated: number;
  accountsFailed: number;
  linksChanged: number;
  invitationsSent: number;
  errors: Array<{ accountId: AccountId; code: string; message: string }>;
}

/**
 * T10: plans a bulk update account by account. `linksOf` returns an account's links, or undefined
 * when the account does not exist (any more). A failing account never stops the others.
 */
export function planBulkUpdate(
  request: BulkUpdateRequest,
  linksOf: (accountId: AccountId) => readonly Link[] | undefined,
  ctx: SettingsContext,
): BulkAccountPlan[] {
  const toggle = (action: BulkAction): boolean | undefined =>
    action === "enable" ? true : action === "disable" ? false : undefined;
  const patch: TogglePatch = {
    login: toggle(request.login),
    notify: toggle(request.notify),
    emailSync: toggle(request.emailSync),
    signatory: toggle(request.signatory),
    sendInvitation: request.sendInvitations ?? true,
    customMessage: request.invitationMessage,
    notifyPreferences: request.notify === "enable" ? request.notifyPreferences : undefined,
  };
  const anyEnable = [request.login, request.notify, request.emailSync, request.signatory].includes("enable");
  const plans: BulkAccountPlan[] = [];
  for (const accountId of new Set(request.accountIds)) {
    const links = linksOf(accountId);
    if (!links) {
      plans.push({
        accountId,
        ok: false,
        error: { code: "not_found", message: `Account ${accountId} no longer exists` },
      });
      continue;
    }
    if (links.length === 0 && anyEnable) {
      plans.push({
        accountId,
        ok: false,
        error: {
          code: "no_contact_address",
          message: `Account ${accountId} has no contact with a valid email address`,
        },
      });
      continue;
    }
    const effects: SettingsEffect[] = [];
    const changedLinks: Link[] = [];
    const nextLinks = links.map((link) => {
      // A bulk "enable login" never re-sends to an address that already has a live invitation.
      // T4: an unlinked email only ever loses its login ("disable for all contacts").
      const result = applyToggles(
        link,
        link.unlinkedAt
          ? { login: patch.login === false ? false : undefined }
          : { ...patch, sendInvitation: link.login ? false : patch.sendInvitation },
        ctx,
      );
      if (!sameSettings(link, result.link)) changedLinks.push(result.link);
      effects.push(...result.effects);
      return result.link;
    });
    plans.push({ accountId, ok: true, links: nextLinks, changedLinks, effects: dedupeEffects(effects) });
  }
  return plans;
}

function dedupeEffects(effects: SettingsEffect[]): SettingsEffect[] {
  const seen = new Set<string>();
  return effects.filter((effect) => {
    const key = JSON.stringify(effect);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sameSettings(a: Link, b: Link): boolean {
  return (
    a.login === b.login &&
    a.notify === b.notify &&
    a.emailSync === b.emailSync &&
    a.signatory === b.signatory &&
    a.invitation === b.invitation &&
    notifyCategories.every((category) => a.notifyPreferences[category] === b.notifyPreferences[category])
  );
}

/** T10: summarises the per-account results (after they were applied) into the report. */
export function bulkUpdateReport(plans: readonly BulkAccountPlan[]): BulkUpdateReport {
  const errors = plans.flatMap((plan) => (plan.ok ? [] : [{ accountId: plan.accountId, ...plan.error }]));
  return {
    accountsRequested: plans.length,
    accountsUpdated: plans.filter((plan) => plan.ok).length,
    accountsFailed: errors.length,
    linksChanged: plans.reduce((sum, plan) => sum + (plan.ok ? plan.changedLinks.length : 0), 0),
    invitationsSent: plans.reduce(
      (sum, plan) =>
        sum + (plan.ok ? plan.effects.filter((effect) => effect.type === "send_invitation").length : 0),
      0,
    ),
    errors,
  };
}
