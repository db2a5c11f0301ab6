/**
 * The firm every end-to-end test syncs into, whatever the provider: two members, three accounts
 * (a contact, Jo, in two of them; Sam with email sync off until the test turns it on), and three
 * mailboxes — Ann's, Bob's and a shared one connected by both. Tests then put mail into the
 * provider's backend and check what was filed, threaded and kept private.
 */
import { defaultNotifyPreferences } from "@clientmail/core";
import type { Account, ClientMail, Firm, Link, Mailbox, ProviderKind, TeamMember } from "@clientmail/core";
import type { Clock, Store } from "@clientmail/core/ports";

/**
 * Markers unique to the scenario's personal and internal mail (per `token`). None of them may
 * ever appear in the store or the documents (F1).
 */
export function personalMarkers(token: string) {
  return {
    subject: `Holiday plans ${token}`,
    body: `Personal-body-${token}`,
    address: `friend-${token}@personal.example`,
    attachment: `family-photos-${token}.pdf`,
    internalSubject: `Lunch on Friday ${token}`,
    newsletter: `Newsletter ${token}`,
    newsletterSender: `news-${token}@shop.example`,
  };
}

/** The addresses of the scenario's firm; every one is unique per `token`. */
export interface EndToEndAddresses {
  domain: string;
  ann: string;
  bob: string;
  support: string;
}

/** What {@link createEndToEndFirm} made. */
export interface EndToEndFirm {
  firm: Firm;
  annMember: TeamMember;
  bobMember: TeamMember;
  family: { account: Account; links: Link[] };
  bakery: { account: Account; links: Link[] };
  acme: { account: Account; links: Link[] };
  annBox: Mailbox;
  bobBox: Mailbox;
  supportBox: Mailbox;
}

/**
 * Creates the scenario's firm through the facade. Ann's mailbox and the shared one save
 * attachments automatically (F9); Bob's does not.
 */
export async function createEndToEndFirm(
  cm: ClientMail,
  options: { provider: ProviderKind; token: string; addresses: EndToEndAddresses },
): Promise<EndToEndFirm> {
  const { provider, token, addresses } = options;
  const firm = await cm.createFirm({ name: `Ledger ${token}`, internalDomains: [addresses.domain] });
  const annMember = await cm.addMember(firm.id, {
    name: "Ann",
    email: addresses.ann,
    newMailNotifications: "all",
  });
  const bobMember = await cm.addMember(firm.id, { name: "Bob", email: addresses.bob });
  const family = await cm.createAccount(firm.id, {
    name: "Jordan family",
    kind: "family",
    contacts: [
      { firstName: "Jo", emails: [{ email: "jo@home.example", emailSync: true }] },
      { firstName: "Sam", emails: [{ email: "sam@home.example", emailSync: false }] },
    ],
  });
  const bakery = await cm.createAccount(firm.id, {
    name: "Jordan's Bakery",
    kind: "business",
    contacts: [{ firstName: "Jo", emails: [{ email: "jo@home.example", emailSync: true }] }],
  });
  const acme = await cm.createAccount(firm.id, {
    name: "Acme",
    kind: "business",
    contacts: [{ firstName: "Petra", emails: [{ email: "petra@acme.example", emailSync: true }] }],
  });
  const annBox = await cm.connectMailbox(firm.id, annMember.id, {
    provider,
    address: addresses.ann,
    settings: { autoSaveAttachments: true },
  });
  const bobBox = await cm.connectMailbox(firm.id, bobMember.id, { provider, address: addresses.bob });
  const supportBox = await cm.connectMailbox(firm.id, annMember.id, {
    provider,
    address: addresses.support,
    settings: { autoSaveAttachments: true },
  });
  await cm.joinMailbox(firm.id, supportBox.id, bobMember.id);
  return { firm, annMember, bobMember, family, bakery, acme, annBox, bobBox, supportBox };
}

/**
 * A smaller firm written straight into a store: one member (Ann) with one mailbox of `provider`,
 * and the Jordan family account with Jo (email sync on) and Sam (email sync off, to turn on for a
 * targeted backfill). For provider tests that run the engine on the memory store.
 */
export async function seedOneMailboxFirm(options: {
  store: Store;
  clock: Clock;
  provider: ProviderKind;
  address: string;
}): Promise<{ firm: Firm; ann: TeamMember; box: Mailbox; family: Account; samLink: Link }> {
  const { store, clock, provider, address } = options;
  const firm = await store.createFirm({
    name: "Ledger & Partners",
    internalDomains: ["ledger.example"],
    deletionMode: "mirror",
  });
  const ann = await store.createMember(firm.id, {
    name: "Ann Lee",
    email: address,
    role: "employee",
    newMailNotifications: "none",
    timeZone: "UTC",
  });
  const box = await store.createMailbox(
    firm.id,
    {
      provider,
      address,
      displayName: "Ann",
      ownerMemberId: ann.id,
      settings: { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" },
    },
    clock.now(),
  );
  const family = await store.createAccount(firm.id, { name: "Jordan family", kind: "family" }, clock.now());
  const jo = await store.createContact(firm.id, { firstName: "Jo", lastName: "Jordan" });
  const sam = await store.createContact(firm.id, { firstName: "Sam", lastName: "Jordan" });
  const link = (contactId: string, email: string, emailSync: boolean) =>
    store.createLink(firm.id, {
      accountId: family.id,
      contactId,
      email,
      login: false,
      notify: false,
      emailSync,
      signatory: false,
      notifyPreferences: defaultNotifyPreferences(),
    });
  await link(jo.id, "jo@home.example", true);
  const samLink = await link(sam.id, "sam@home.example", false);
  return { firm, ann, box, family, samLink };
}
