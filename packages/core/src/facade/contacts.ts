/**
 * The CRM model through the facade: linking an existing contact to another account, adding and
 * removing a contact's addresses, deleting links, contacts and accounts, listing accounts (T8),
 * and changing an address the way T4 asks (the replaced address stays as an "unlinked email"
 * that keeps its login until the firm turns it off). Every call validates its input, runs in one
 * transaction with its backfill enqueued there (R8), and emits its events after the commit.
 */
import { z } from "zod";
import { ValidationError, NotFoundError } from "../errors.js";
import { normalizeAddress } from "../domain/addresses.js";
import type { AccountId, ContactId, FirmId, Link, LinkId } from "../domain/model.js";
import {
  emailSchema,
  idSchema,
  linkSettingsSchema,
  parseInput,
  type LinkSettingsInput,
} from "../domain/schemas.js";
import {
  accountListFlags,
  changeLinkAddress,
  portalStatus,
  showsEmailTab,
  type SettingsEffect,
} from "../domain/settings.js";
import type { DirectoryStore } from "../ports/store.js";
import { withdrawnInvitations } from "../engine/invitations.js";
import type { AccountOverview } from "../client.js";
import {
  checkIds,
  emitEffects,
  enqueueEffects,
  insertLink,
  persistLink,
  type FacadeContext,
} from "./context.js";

/** What {@link addContactAddress} takes: a link's settings, and optionally the accounts. */
export const contactAddressSchema = linkSettingsSchema.extend({
  /** Default: every account the contact is linked to. */
  accountIds: z.array(idSchema).min(1, "at least one account id").max(1000).optional(),
});
export type ContactAddressInput = z.input<typeof contactAddressSchema>;

function emitDeleted(ctx: FacadeContext, firmId: FirmId, links: readonly Link[]): void {
  emitEffects(ctx, firmId, withdrawnInvitations(links));
  for (const link of links)
    ctx.emit("link.deleted", {
      firmId,
      linkId: link.id,
      accountId: link.accountId,
      contactId: link.contactId,
    });
}

/** T1/T11: links an existing contact to an account (a second one, or another address in one). */
export async function linkContact(
  ctx: FacadeContext,
  firmId: FirmId,
  accountId: AccountId,
  contactId: ContactId,
  settings: LinkSettingsInput,
): Promise<Link> {
  checkIds({ firmId, accountId, contactId });
  const parsed = parseInput(linkSettingsSchema, settings);
  const { link, effects } = await ctx.store.transaction(async (tx) => {
    if (!(await tx.getAccount(firmId, accountId))) throw new NotFoundError("Account", accountId);
    if (!(await tx.getContact(firmId, contactId))) throw new NotFoundError("Contact", contactId);
    const inserted = await insertLink(ctx, tx, firmId, accountId, contactId, parsed);
    await enqueueEffects(ctx, tx, firmId, inserted.effects);
    return inserted;
  });
  emitEffects(ctx, firmId, effects);
  ctx.emit("link.created", { firmId, link });
  return link;
}

/**
 * T1/T12: adds an address to a contact, with its own settings, in the given accounts or in every
 * account the contact is linked to. All or nothing.
 */
export async function addContactAddress(
  ctx: FacadeContext,
  firmId: FirmId,
  contactId: ContactId,
  input: ContactAddressInput,
): Promise<Link[]> {
  checkIds({ firmId, contactId });
  const { accountIds, ...settings } = parseInput(contactAddressSchema, input);
  const { links, effects } = await ctx.store.transaction(async (tx) => {
    if (!(await tx.getContact(firmId, contactId))) throw new NotFoundError("Contact", contactId);
    const targets = accountIds ?? [
      ...new Set((await tx.listLinks(firmId, { contactId })).map((l) => l.accountId)),
    ];
    if (targets.length === 0)
      throw new ValidationError([
        {
          field: "accountIds",
          value: undefined,
          expected: "the accounts to add the address in (the contact is linked to no account yet)",
        },
      ]);
    const created: Link[] = [];
    const all: SettingsEffect[] = [];
    for (const accountId of new Set(targets)) {
      if (!(await tx.getAccount(firmId, accountId))) throw new NotFoundError("Account", accountId);
      const inserted = await insertLink(ctx, tx, firmId, accountId, contactId, settings);
      created.push(inserted.link);
      all.push(...inserted.effects);
    }
    await enqueueEffects(ctx, tx, firmId, all);
    return { links: created, effects: all };
  });
  emitEffects(ctx, firmId, effects);
  for (const link of links) ctx.emit("link.created", { firmId, link });
  return links;
}

/**
 * Removes an address from a contact in every account (its links go; filed mail stays, F7).
 * Throws `not_found` when the contact has no link with this address.
 */
export async function removeContactAddress(
  ctx: FacadeContext,
  firmId: FirmId,
  contactId: ContactId,
  email: string,
): Promise<Link[]> {
  checkIds({ firmId, contactId });
  const address = parseInput(emailSchema, email, "email");
  const removed = await ctx.store.transaction(async (tx) => {
    const links = await tx.listLinks(firmId, { contactId, email: address });
    if (links.length === 0) throw new NotFoundError("Contact address", address);
    for (const link of links) await tx.deleteLink(firmId, link.id);
    await enqueueEffects(ctx, tx, firmId, withdrawnInvitations(links));
    return links;
  });
  emitDeleted(ctx, firmId, removed);
  return removed;
}

/** Deletes one link; filed mail stays (F7). Throws `not_found`. */
export async function deleteLink(ctx: FacadeContext, firmId: FirmId, linkId: LinkId): Promise<void> {
  checkIds({ firmId, linkId });
  const removed = await ctx.store.transaction(async (tx) => {
    const link = await tx.getLink(firmId, linkId);
    if (!link || !(await tx.deleteLink(firmId, linkId))) throw new NotFoundError("Link", linkId);
    await enqueueEffects(ctx, tx, firmId, withdrawnInvitations([link]));
    return link;
  });
  emitDeleted(ctx, firmId, [removed]);
}

/**
 * Deletes a contact and its links in every account; filed mail stays (F7). To remove the mail
 * too, erase the contact instead (R10). Throws `not_found`.
 */
export async function deleteContact(ctx: FacadeContext, firmId: FirmId, contactId: ContactId): Promise<void> {
  checkIds({ firmId, contactId });
  const links = await ctx.store.transaction(async (tx) => {
    const linked = await tx.listLinks(firmId, { contactId });
    if (!(await tx.deleteContact(firmId, contactId))) throw new NotFoundError("Contact", contactId);
    await enqueueEffects(ctx, tx, firmId, withdrawnInvitations(linked));
    return linked;
  });
  emitDeleted(ctx, firmId, links);
  ctx.emit("contact.deleted", { firmId, contactId });
}

/**
 * Deletes an account and its links; its contacts stay (they may be linked elsewhere), and so
 * does its filed mail, listed under any other account it is filed in. Throws `not_found`.
 */
export async function deleteAccount(ctx: FacadeContext, firmId: FirmId, accountId: AccountId): Promise<void> {
  checkIds({ firmId, accountId });
  const links = await ctx.store.transaction(async (tx) => {
    const linked = await tx.listLinks(firmId, { accountId });
    if (!(await tx.deleteAccount(firmId, accountId))) throw new NotFoundError("Account", accountId);
    await enqueueEffects(ctx, tx, firmId, withdrawnInvitations(linked));
    return linked;
  });
  emitDeleted(ctx, firmId, links);
  ctx.emit("account.deleted", { firmId, accountId });
}

/** T3/T8: every account of the firm, ordered by name, with its links, portal status and flags. */
export async function listAccounts(ctx: FacadeContext, firmId: FirmId): Promise<AccountOverview[]> {
  checkIds({ firmId });
  const [accounts, links] = await Promise.all([ctx.store.listAccounts(firmId), ctx.store.listLinks(firmId)]);
  const byAccount = new Map<AccountId, Link[]>();
  for (const link of links) byAccount.set(link.accountId, [...(byAccount.get(link.accountId) ?? []), link]);
  return accounts.map((account) => {
    const own = byAccount.get(account.id) ?? [];
    return {
      account,
      links: own,
      portalStatus: portalStatus(own),
      showsEmailTab: showsEmailTab(own),
      ...accountListFlags(own),
    };
  });
}

/**
 * T4: changes a link's address. A pending invitation is invalidated and, with login on, the new
 * address is invited. When the old address had portal access it stays, as an "unlinked email"
 * with its login, so the client is never locked out while the new address is pending; the firm
 * removes it by turning its login off ({@link updateUnlinkedEmail}).
 */
export async function replaceLinkAddress(
  ctx: FacadeContext,
  firmId: FirmId,
  linkId: LinkId,
  email: string,
): Promise<Link> {
  checkIds({ firmId, linkId });
  const normalized = normalizeAddress(email, "email");
  const now = ctx.clock.now();
  const { link, effects, unlinked } = await ctx.store.transaction(async (tx) => {
    const current = await tx.getLink(firmId, linkId);
    if (!current) throw new NotFoundError("Link", linkId);
    if (current.unlinkedAt)
      throw new ValidationError([
        {
          field: "linkId",
          value: linkId,
          expected: "an ordinary link (this is an unlinked email: turn its login off to remove it)",
        },
      ]);
    const result = changeLinkAddress(current, normalized, { now, newToken: ctx.newToken });
    const saved = await persistLink(tx, firmId, current, result.link);
    let kept: Link | undefined;
    if (result.unlinked) {
      const created = await tx.createLink(firmId, {
        accountId: current.accountId,
        contactId: current.contactId,
        email: result.unlinked.email,
        login: true,
        notify: false,
        emailSync: false,
        signatory: false,
        notifyPreferences: result.unlinked.notifyPreferences,
        unlinkedAt: now,
      });
      kept = await tx.setInvitation(firmId, created.id, result.unlinked.invitation);
    }
    await enqueueEffects(ctx, tx, firmId, result.effects);
    return { link: saved, effects: result.effects, unlinked: kept };
  });
  emitEffects(ctx, firmId, effects);
  if (unlinked) ctx.emit("link.created", { firmId, link: unlinked });
  return link;
}

/**
 * T4: the only change an unlinked email takes is turning its login off, which removes it (and
 * its access). Anything else is refused, naming the fields. Runs inside the caller's transaction.
 */
export async function updateUnlinkedEmail(
  tx: DirectoryStore,
  firmId: FirmId,
  current: Link,
  patch: Record<string, unknown>,
): Promise<Link> {
  const other = Object.entries(patch).filter(([key, value]) => value !== undefined && key !== "login");
  if (patch.login !== false || other.length > 0) {
    throw new ValidationError(
      (other.length > 0 ? other : [["login", patch.login] as const]).map(([field, value]) => ({
        field,
        value,
        expected: "only login: false on an unlinked email (it keeps its login until the firm turns it off)",
      })),
    );
  }
  await tx.deleteLink(firmId, current.id);
  return { ...current, login: false };
}
