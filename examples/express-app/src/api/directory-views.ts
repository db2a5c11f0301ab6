/**
 * What the directory API shows of the SDK's records. A link's invitation token is left out: it is
 * the client's credential for accepting portal access (T2), sent to their address only, so team
 * members — and logs of API answers — never see it.
 */
import type { AccountOverview, Contact, Link } from "@clientmail/core";

/** A link as the API shows it: every field but the invitation token. */
export type LinkView = Omit<Link, "invitation"> & {
  invitation:
    | { email: string; status: "pending" | "accepted" | "invalidated"; sentAt: Date; acceptedAt?: Date }
    | undefined;
};

/** {@link LinkView} of `link`. */
export function linkView(link: Link): LinkView {
  const { invitation, ...rest } = link;
  return {
    ...rest,
    invitation: invitation && {
      email: invitation.email,
      status: invitation.status,
      sentAt: invitation.sentAt,
      ...(invitation.acceptedAt ? { acceptedAt: invitation.acceptedAt } : {}),
    },
  };
}

/**
 * One row of the accounts list (T3, T8): the portal status, and whether login, notify and email
 * sync are on for at least one link of the account.
 */
export function accountRow(overview: AccountOverview) {
  return {
    account: overview.account,
    portalStatus: overview.portalStatus,
    login: overview.links.some((link) => link.login),
    notify: overview.notify,
    emailSync: overview.emailSync,
    showsEmailTab: overview.showsEmailTab,
    links: overview.links.length,
  };
}

/** An account's Info tab: the list row plus its contacts, each with its links (T1). */
export function accountInfo(overview: AccountOverview, contacts: ReadonlyMap<string, Contact>) {
  const byContact = new Map<string, Link[]>();
  for (const link of overview.links)
    byContact.set(link.contactId, [...(byContact.get(link.contactId) ?? []), link]);
  return {
    ...accountRow(overview),
    contacts: [...byContact].map(([contactId, links]) => ({
      contact: contacts.get(contactId) ?? { id: contactId },
      links: links.map(linkView),
    })),
  };
}
