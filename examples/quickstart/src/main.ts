/**
 * clientmail quickstart: builds a firm with accounts, contacts and toggles, decides filing for a
 * morning of realistic mail across three mailboxes, and prints each account's messages.
 * Everything here is the pure core; no server is needed (threading runs in the sync engine,
 * over a store).
 */
import {
  applyToggles,
  decideFiling,
  defaultNotifyPreferences,
  dedupeKey,
  FirmDirectory,
  portalStatus,
  showsEmailTab,
  type Link,
} from "@clientmail/core";
import { accounts, envelopes, firm } from "./firm.js";

let token = 0;
const links: Link[] = accounts.flatMap((account) =>
  account.contacts.flatMap((contact, c) =>
    contact.emails.map((settings, e) => {
      const blank: Link = {
        id: `${account.id}/${c}/${e}`,
        firmId: "ledger",
        accountId: account.id,
        contactId: `${contact.firstName} ${contact.lastName}`,
        email: settings.email,
        login: false,
        notify: settings.notify,
        emailSync: false,
        signatory: settings.signatory,
        notifyPreferences: defaultNotifyPreferences(),
        invitation: undefined,
      };
      // Turning login on sends an invitation (T2); turning email sync on asks for a backfill (T7).
      return applyToggles(
        blank,
        { login: settings.login, emailSync: settings.emailSync },
        { now: new Date("2026-01-05T07:00:00Z"), newToken: () => `invite-${++token}` },
      ).link;
    }),
  ),
);

const directory = FirmDirectory.build({
  internalAddresses: [...firm.members.map((m) => m.email), ...firm.mailboxes.map((m) => m.address)],
  internalDomains: firm.internalDomains,
  links,
});

const filed = new Map<
  string,
  { subject: string; direction: string; date: Date; accounts: Set<string>; seenIn: Set<string> }
>();
let skipped = 0;

for (const envelope of envelopes) {
  const decision = decideFiling(directory, envelope);
  if (!decision.filed) {
    skipped += 1;
    continue;
  }
  const key = dedupeKey(envelope.messageId, { ...envelope, body: "" });
  const record = filed.get(key) ?? {
    subject: envelope.subject,
    direction: decision.direction,
    date: envelope.date,
    accounts: new Set<string>(),
    seenIn: new Set<string>(),
  };
  decision.accountIds.forEach((id) => record.accounts.add(id));
  record.seenIn.add(envelope.mailboxId);
  filed.set(key, record);
}

console.log(`${firm.name}: ${envelopes.length} messages seen in ${firm.mailboxes.length} mailboxes`);
console.log(
  `  filed ${filed.size} client messages (once each), skipped ${skipped} personal or internal ones\n`,
);

for (const account of accounts) {
  const accountLinks = links.filter((link) => link.accountId === account.id);
  console.log(
    `${account.name} [portal: ${portalStatus(accountLinks)}, Email tab: ${showsEmailTab(accountLinks) ? "yes" : "no"}]`,
  );
  const messages = [...filed.values()]
    .filter((record) => record.accounts.has(account.id))
    .sort((a, b) => a.date.getTime() - b.date.getTime());
  for (const message of messages) {
    console.log(
      `  ${message.date.toISOString().slice(11, 16)} ${message.direction.padEnd(8)} ${message.subject}  (seen in ${[...message.seenIn].join(", ")})`,
    );
  }
  if (messages.length === 0) console.log("  (no mail)");
}
