import { describe, expect, it } from "vitest";
import { createMemoryStore } from "@clientmail/memory";
import { ClientMailError, createClientMail, ValidationError, type ClientMailEvents } from "../src/index.js";
import { TestClock } from "./engine/firm-fixture.js";

async function setup() {
  const clock = new TestClock();
  const store = createMemoryStore({ clock });
  let n = 0;
  const cm = createClientMail({ store, clock, newToken: () => `tok-${++n}` });
  const events: Array<{ name: keyof ClientMailEvents; payload: unknown }> = [];
  for (const name of [
    "invitation.requested",
    "invitation.invalidated",
    "backfill.requested",
    "bulk_update.completed",
  ] as const) {
    cm.on(name, (payload: unknown) => events.push({ name, payload }));
  }
  const firm = await cm.createFirm({ name: "Ledger", internalDomains: ["Ledger.Example"] });
  const owner = await cm.addMember(firm.id, {
    name: "Olive Owner",
    email: "olive@ledger.example",
    role: "owner",
  });
  const employee = await cm.addMember(firm.id, { name: "Eve", email: "eve@ledger.example" });
  return { clock, store, cm, events, firm, owner, employee };
}

describe("createClientMail", () => {
  it("T11: an account is created with its contacts and settings; T2: login on requests an invitation; T7: sync on requests a backfill", async () => {
    const { cm, firm, events } = await setup();
    const overview = await cm.createAccount(firm.id, {
      name: "Jordan family",
      kind: "family",
      contacts: [
        {
          firstName: "Jo",
          lastName: "Jordan",
          emails: [{ email: "Jo@Home.example", login: true, emailSync: true }],
        },
        { firstName: "Sam", emails: [{ email: "sam@home.example", notify: false }] },
      ],
    });
    expect(overview.links.map((l) => [l.email, l.login, l.notify, l.emailSync])).toEqual([
      ["jo@home.example", true, true, true],
      ["sam@home.example", false, false, false],
    ]);
    expect(overview).toMatchObject({
      portalStatus: "pending_activation",
      showsEmailTab: true,
      notify: true,
      emailSync: true,
    });
    expect(events.map((e) => e.name)).toEqual(["invitation.requested", "backfill.requested"]);
    expect(events[1]!.payload).toEqual({ firmId: firm.id, addresses: ["jo@home.example"] });
  });

  it("T12: one invalid address rejects the whole account; nothing is half-saved", async () => {
    const { cm, firm, store, events } = await setup();
    await expect(
      cm.createAccount(firm.id, {
        name: "Acme",
        kind: "business",
        contacts: [{ firstName: "A", emails: [{ email: "ok@acme.example" }, { email: "broken@" }] }],
      }),
    ).rejects.toThrow(ValidationError);
    expect(await store.listAccounts(firm.id)).toEqual([]);
    expect(await store.listContacts(firm.id)).toEqual([]);
    expect(events).toEqual([]);
  });

  it("T12: a store failure halfway rolls the account back", async () => {
    const { cm, firm, store } = await setup();
    await expect(
      cm.createAccount(firm.id, {
        name: "Twins",
        kind: "family",
        contacts: [
          { firstName: "A", emails: [{ email: "a@x.example" }] },
          { firstName: "B", emails: [{ email: "b@x.example" }] },
        ],
      }),
    ).resolves.toBeDefined();
    const before = (await store.listAccounts(firm.id)).length;
    const account = (await store.listAccounts(firm.id))[0]!;
    await expect(
      cm.addContact(firm.id, "no-such-account", { firstName: "C", emails: [{ email: "c@x.example" }] }),
    ).rejects.toMatchObject({ code: "not_found" });
    expect((await store.listAccounts(firm.id)).length).toBe(before);
    expect((await store.listLinks(firm.id, { accountId: account.id })).length).toBe(2);
  });

  it("T4: changing a pending address invalidates the token and invites the new address", async () => {
    const { cm, firm, events } = await setup();
    const overview = await cm.createAccount(firm.id, {
      name: "Jo",
      kind: "person",
      contacts: [{ firstName: "Jo", emails: [{ email: "old@home.example", login: true }] }],
    });
    const link = overview.links[0]!;
    await cm.changeLinkAddress(firm.id, link.id, "New@Home.example");
    expect(events.map((e) => e.name)).toEqual([
      "invitation.requested",
      "invitation.invalidated",
      "invitation.requested",
    ]);
    await expect(cm.acceptInvitation(firm.id, "tok-1")).rejects.toBeInstanceOf(ClientMailError);
    const accepted = await cm.acceptInvitation(firm.id, "tok-2");
    expect(accepted.invitation).toMatchObject({ status: "accepted", email: "new@home.example" });
    expect((await cm.accountOverview(firm.id, link.accountId)).portalStatus).toBe("activated");
  });

  it("N4: T10's bulk update applies per account and delivers its report as an Inbox+ notification", async () => {
    const { cm, firm, owner, events } = await setup();
    const a = await cm.createAccount(firm.id, {
      name: "A",
      kind: "business",
      contacts: [{ firstName: "A", emails: [{ email: "a@a.example" }] }],
    });
    const empty = await cm.createAccount(firm.id, { name: "Empty", kind: "business" });
    events.length = 0;
    const report = await cm.bulkUpdate(firm.id, owner.id, {
      accountIds: [a.account.id, empty.account.id, "gone"],
      emailSync: "enable",
      login: "enable",
      invitationMessage: "Welcome!",
    });
    expect(report).toMatchObject({
      accountsRequested: 3,
      accountsUpdated: 1,
      accountsFailed: 2,
      invitationsSent: 1,
    });
    expect((await cm.accountOverview(firm.id, a.account.id)).links[0]).toMatchObject({
      login: true,
      emailSync: true,
    });
    const [note] = await cm.notifications(firm.id, owner.id);
    expect(note).toMatchObject({
      kind: "bulk_update_report",
      payload: expect.objectContaining({ accountsFailed: 2 }),
    });
    expect(events.map((e) => e.name)).toEqual([
      "invitation.requested",
      "backfill.requested",
      "bulk_update.completed",
    ]);
    expect(events[0]!.payload).toMatchObject({ customMessage: "Welcome!" });
  });

  it("T11: a CSV import keeps valid rows and reports broken ones per row, with the same validation", async () => {
    const { cm, firm, store } = await setup();
    const csv = [
      "Account Name,Account Kind,First Name,Last Name,Email,Login,Notify,Email Sync,Signatory",
      "Jordan family,family,Jo,Jordan,JO@home.example,yes,yes,yes,no",
      "Jordan family,family,Sam,Jordan,sam@home.example,no,yes,no,no",
      "Broken Ltd,business,Bo,Ken,not-an-address,no,no,no,no",
      "Acme,company,Al,Acme,al@acme.example,no,no,no,no",
      "Acme,business,Al,Acme,al@acme.example,maybe,no,no,no",
      "Acme,business,Al,Acme,al@acme.example,no,no,yes,yes",
    ].join("\n");
    const report = await cm.importClients(firm.id, csv);
    expect(report).toMatchObject({ accountsCreated: 2, contactsCreated: 3, linksCreated: 3 });
    expect(report.rowErrors.map((e) => [e.row, e.issues.map((i) => i.field)])).toEqual([
      [4, ["rows.4.email"]],
      [5, ["rows.5.account_kind"]],
      [6, ["rows.6.login"]],
    ]);
    const links = await store.listLinks(firm.id);
    expect(links.map((l) => [l.email, l.emailSync])).toEqual([
      ["al@acme.example", true],
      ["jo@home.example", true],
      ["sam@home.example", false],
    ]);
  });

  it("T11: a file that is not UTF-8 is refused whole and changes nothing", async () => {
    const { cm, firm, store } = await setup();
    const latin1 = Uint8Array.from([
      ...new TextEncoder().encode("account_name,account_kind,first_name,email\nM"),
      0xfc,
      ...new TextEncoder().encode("ller,person,Jo,jo@x.example\n"),
    ]);
    await expect(cm.importClients(firm.id, latin1)).rejects.toMatchObject({
      code: "validation_failed",
      issues: [{ field: "csv" }],
    });
    expect(await store.listAccounts(firm.id)).toEqual([]);
  });

  it("N3: notifications can be snoozed for 24 hours or dismissed forever; N2: members without a mailbox are told", async () => {
    const { cm, firm, employee, clock } = await setup();
    await cm.refreshSyncHealth(firm.id);
    await cm.refreshSyncHealth(firm.id);
    const [note] = await cm.notifications(firm.id, employee.id);
    expect(note?.kind).toBe("email_not_synced");
    expect(await cm.notifications(firm.id, employee.id)).toHaveLength(1);
    await cm.snoozeNotification(firm.id, note!.id);
    expect(await cm.notifications(firm.id, employee.id)).toHaveLength(0);
    clock.advance(24 * 3600_000);
    expect(await cm.notifications(firm.id, employee.id)).toHaveLength(1);
    await cm.dismissNotification(firm.id, note!.id);
    await cm.refreshSyncHealth(firm.id);
    clock.advance(100 * 24 * 3600_000);
    expect(await cm.notifications(firm.id, employee.id)).toHaveLength(0);
  });

  it("N5: owners and admins see the team's sync status; employees are refused", async () => {
    const { cm, firm, owner, employee } = await setup();
    const box = await cm.connectMailbox(firm.id, owner.id, {
      provider: "gmail",
      address: "Olive@Ledger.example",
    });
    const status = await cm.teamSyncStatus(firm.id, owner.id);
    expect(status.find((s) => s.memberId === owner.id)).toMatchObject({
      synced: true,
      mailboxes: [{ mailboxId: box.id, address: "olive@ledger.example", state: { status: "connecting" } }],
    });
    expect(status.find((s) => s.memberId === employee.id)).toMatchObject({ synced: false, mailboxes: [] });
    await expect(cm.teamSyncStatus(firm.id, employee.id)).rejects.toMatchObject({
      code: "permission_denied",
    });
  });

  it("R2, N5: owners and admins see quarantined messages and their count per mailbox; employees are refused", async () => {
    const { cm, store, clock, firm, owner, employee } = await setup();
    const box = await cm.connectMailbox(firm.id, owner.id, {
      provider: "imap",
      address: "olive@ledger.example",
    });
    const entry = {
      mailboxId: box.id,
      providerId: "INBOX:7:42",
      reason: "too_large" as const,
      detail: "48 MiB is over the 40 MiB limit",
      attempts: 2,
      firstAttemptAt: clock.now(),
      lastAttemptAt: clock.now(),
      nextAttemptAt: new Date(clock.now().getTime() + 60_000),
    };
    await store.putQuarantine(firm.id, [entry]);
    expect(await cm.quarantinedMessages(firm.id, owner.id)).toEqual([entry]);
    expect(await cm.quarantinedMessages(firm.id, owner.id, { mailboxId: "other" })).toEqual([]);
    const status = await cm.teamSyncStatus(firm.id, owner.id);
    expect(status.find((s) => s.memberId === owner.id)?.mailboxes).toMatchObject([
      { mailboxId: box.id, quarantined: 1 },
    ]);
    await expect(cm.quarantinedMessages(firm.id, employee.id)).rejects.toMatchObject({
      code: "permission_denied",
    });
  });

  it("Y3: only the mailbox owner changes its settings", async () => {
    const { cm, firm, owner, employee } = await setup();
    const box = await cm.connectMailbox(firm.id, owner.id, {
      provider: "imap",
      address: "olive@ledger.example",
    });
    const updated = await cm.updateMailboxSettings(firm.id, box.id, owner.id, {
      autoSaveAttachments: true,
      allowOthersToSend: true,
      signatureHtml: "<b>Olive</b>",
    });
    expect(updated.settings).toEqual({
      autoSaveAttachments: true,
      allowOthersToSend: true,
      signatureHtml: "<b>Olive</b>",
    });
    await expect(
      cm.updateMailboxSettings(firm.id, box.id, employee.id, { allowOthersToSend: false }),
    ).rejects.toMatchObject({ code: "permission_denied" });
  });

  it("keeps firms apart: another firm's ids are not found", async () => {
    const { cm, firm } = await setup();
    const other = await cm.createFirm({ name: "Other" });
    const account = await cm.createAccount(firm.id, {
      name: "Mine",
      kind: "person",
      contacts: [{ firstName: "M", emails: [{ email: "m@x.example" }] }],
    });
    await expect(cm.accountOverview(other.id, account.account.id)).rejects.toMatchObject({
      code: "not_found",
    });
    await expect(cm.updateLink(other.id, account.links[0]!.id, { notify: false })).rejects.toMatchObject({
      code: "not_found",
    });
    expect((await cm.accountOverview(firm.id, account.account.id)).links[0]!.notify).toBe(true);
  });
});
