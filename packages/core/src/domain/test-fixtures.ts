/** Builders for domain tests. Not exported from the package. */
import { defaultNotifyPreferences } from "./settings.js";
import type { Link, Mailbox } from "./model.js";

let sequence = 0;

export function link(overrides: Partial<Link> & Pick<Link, "email">): Link {
  sequence += 1;
  return {
    id: `link-${sequence}`,
    firmId: "firm-1",
    accountId: "acct-1",
    contactId: `contact-${sequence}`,
    login: false,
    notify: false,
    emailSync: false,
    signatory: false,
    notifyPreferences: defaultNotifyPreferences(),
    invitation: undefined,
    ...overrides,
  };
}

export function mailbox(
  overrides: Partial<Mailbox> & Pick<Mailbox, "id" | "address" | "ownerMemberId">,
): Mailbox {
  return {
    firmId: "firm-1",
    provider: "imap",
    displayName: overrides.address,
    connections: [{ memberId: overrides.ownerMemberId, connectedAt: new Date(0) }],
    settings: { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" },
    state: { status: "live" },
    lastSyncedAt: undefined,
    verification: undefined,
    ...overrides,
  };
}

export function tokens(): () => string {
  let n = 0;
  return () => `token-${++n}`;
}
