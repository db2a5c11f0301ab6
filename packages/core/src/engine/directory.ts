/**
 * The firm as the engine sees it during a pass: who is internal (F2), which links have email
 * sync on (F1, F7), the members and mailboxes to notify (N1, N2).
 */
import { ClientMailError } from "../errors.js";
import { FirmDirectory } from "../domain/filing.js";
import type { FirmId, Mailbox, MailboxId, TeamMember } from "../domain/model.js";
import type { DirectoryStore } from "../ports/store.js";

/** What a pass reads of its firm once, at its start. */
export interface FirmContext {
  firmId: FirmId;
  directory: FirmDirectory;
  members: TeamMember[];
  mailbox: Mailbox;
  mailboxes: Mailbox[];
  /** F2: the firm's own addresses and domains, kept to rebuild the directory at commit. */
  internalAddresses: string[];
  internalDomains: string[];
}

/** Builds the filing directory of a firm from the store (F2: members, mailboxes, domains). */
export async function loadDirectory(
  store: DirectoryStore,
  firmId: FirmId,
): Promise<{ directory: FirmDirectory; mailboxes: Mailbox[]; members: TeamMember[] }> {
  const { directory, mailboxes, members } = await readFirm(store, firmId);
  return { directory, mailboxes, members };
}

async function readFirm(store: DirectoryStore, firmId: FirmId) {
  const [firm, members, mailboxes, links] = await Promise.all([
    store.getFirm(firmId),
    store.listMembers(firmId),
    store.listMailboxes(firmId),
    store.listLinks(firmId, { emailSync: true }),
  ]);
  if (!firm)
    throw new ClientMailError("not_found", `Firm ${JSON.stringify(firmId)} was not found`, {
      details: { firmId },
    });
  const internalAddresses = [...members.map((m) => m.email), ...mailboxes.map((m) => m.address)];
  const directory = FirmDirectory.build({
    internalAddresses,
    internalDomains: firm.internalDomains,
    links,
  });
  return { directory, mailboxes, members, internalAddresses, internalDomains: firm.internalDomains };
}

/** Reads the firm for a pass of one of its mailboxes. */
export async function loadFirmContext(
  store: DirectoryStore,
  firmId: FirmId,
  mailboxId: MailboxId,
): Promise<FirmContext> {
  const firm = await readFirm(store, firmId);
  const mailbox = firm.mailboxes.find((m) => m.id === mailboxId);
  if (!mailbox)
    throw new ClientMailError("not_found", `Mailbox ${JSON.stringify(mailboxId)} was not found`, {
      details: { mailboxId },
    });
  return { firmId, ...firm, mailbox };
}

/**
 * F7 at commit: the links with email sync on as they are now, read inside the page's
 * transaction, so a toggle turned off while the page was fetched files nothing more through it.
 */
export async function directoryAtCommit(tx: DirectoryStore, context: FirmContext): Promise<FirmDirectory> {
  return FirmDirectory.build({
    internalAddresses: context.internalAddresses,
    internalDomains: context.internalDomains,
    links: await tx.listLinks(context.firmId, { emailSync: true }),
  });
}
