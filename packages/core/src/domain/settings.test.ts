import { describe, expect, it } from "vitest";
import {
  acceptInvitation,
  accountListFlags,
  applyToggles,
  bulkUpdateReport,
  changeLinkAddress,
  hasPortalAccess,
  maySign,
  planBulkUpdate,
  portalStatus,
  recipientsFor,
  showsEmailTab,
  type BulkUpdateRequest,
  type SettingsContext,
} from "./settings.js";
import { accountInputSchema, parseInput, linkSettingsSchema } from "./schemas.js";
import { ValidationError } from "../errors.js";
import { link, tokens } from "./test-fixtures.js";
import type { Link } from "./model.js";

const now = new Date("2026-01-05T10:00:00Z");
const ctx = (): SettingsContext => ({ now, newToken: tokens() });

function invitedAndAccepted(l: Link): Link {
  const invited = applyToggles(l, { login: true }, ctx()).link;
  const accepted = acceptInvitation(invited, invited.invitation!.token, now);
  if (!accepted.ok) throw new Error(accepted.reason);
  return accepted.link;
}

describe("contact settings", () => {
  it("T1: settings are per link — one contact differs across accounts and across its own addresses", () => {
    const family = link({ email: "jo@home.net", accountId: "family", contactId: "jo", notify: true });
    const business = link({ email: "jo@home.net", accountId: "business", contactId: "jo", notify: false });
    const workAddress = link({ email: "jo@work.com", accountId: "family", contactId: "jo", emailSync: true });
    const updated = applyToggles(family, { emailSync: true }, ctx()).link;
    expect(updated.emailSync).toBe(true);
    expect(business.emailSync).toBe(false);
    expect(recipientsFor([updated, workAddress], { kind: "email" }).map((r) => r.email)).toEqual([
      "jo@home.net",
    ]);
    expect(recipientsFor([business], { kind: "email" })).toEqual([]);
  });

  it("T2: turning login on sends an invitation now or leaves it for later; off removes access but keeps data", () => {
    const now1 = applyToggles(link({ email: "a@c.com" }), { login: true }, ctx());
    expect(now1.effects).toEqual([
      {
        type: "send_invitation",
        linkId: now1.link.id,
        email: "a@c.com",
        token: "token-1",
        customMessage: undefined,
      },
    ]);
    expect(now1.link.invitation?.status).toBe("pending");

    const later = applyToggles(link({ email: "b@c.com" }), { login: true, sendInvitation: false }, ctx());
    expect(later.effects).toEqual([]);
    expect(later.link.login).toBe(true);
    expect(later.link.invitation).toBeUndefined();
    const sentLater = applyToggles(later.link, { sendInvitation: true }, ctx());
    expect(sentLater.effects.map((e) => e.type)).toEqual(["send_invitation"]);

    const active = invitedAndAccepted(link({ email: "c@c.com", emailSync: true, notify: true }));
    expect(hasPortalAccess(active)).toBe(true);
    const off = applyToggles(active, { login: false }, ctx()).link;
    expect(hasPortalAccess(off)).toBe(false);
    expect(off).toMatchObject({
      email: "c@c.com",
      emailSync: true,
      notify: true,
      accountId: active.accountId,
    });
  });

  it("T2: turning login off invalidates a pending invitation", () => {
    const invited = applyToggles(link({ email: "a@c.com" }), { login: true }, ctx()).link;
    const off = applyToggles(invited, { login: false }, ctx());
    expect(off.effects).toContainEqual({
      type: "invalidate_invitation",
      linkId: invited.id,
      token: invited.invitation!.token,
    });
    expect(acceptInvitation(off.link, invited.invitation!.token, now)).toEqual({
      ok: false,
      reason: "invalidated",
    });
  });

  it("T2: login turned back on after it was removed needs a fresh invitation; access never returns by itself", () => {
    const active = invitedAndAccepted(link({ email: "ex@c.com" }));
    const removed = applyToggles(active, { login: false }, ctx()).link;
    expect(hasPortalAccess(removed)).toBe(false);
    // Invite later: login is on, but nothing grants access until a new invitation is accepted.
    const later = applyToggles(removed, { login: true, sendInvitation: false }, ctx());
    expect(later.effects).toEqual([]);
    expect(hasPortalAccess(later.link)).toBe(false);
    expect(portalStatus([later.link])).toBe("not_activated");
    expect(acceptInvitation(later.link, active.invitation!.token, now).ok).toBe(false);
    // Invite now: a new token goes out; the old acceptance is not reused.
    const again = applyToggles(removed, { login: true }, { now, newToken: () => "fresh" });
    expect(again.effects.map((e) => e.type)).toEqual(["send_invitation"]);
    expect(portalStatus([again.link])).toBe("pending_activation");
    expect(acceptInvitation(again.link, "fresh", now).ok).toBe(true);
    // Bulk "enable login" takes the same path.
    const [plan] = planBulkUpdate(
      {
        accountIds: [removed.accountId],
        login: "enable",
        notify: "do_nothing",
        emailSync: "do_nothing",
        signatory: "do_nothing",
        sendInvitations: false,
      },
      () => [removed],
      ctx(),
    );
    expect(plan?.ok && hasPortalAccess(plan.links[0]!)).toBe(false);
  });

  it("T4: replacing an address with access keeps the old one as an unlinked email; bulk never widens it", () => {
    const active = invitedAndAccepted(link({ email: "old@c.com", notify: true, emailSync: true }));
    const changed = changeLinkAddress(active, "new@c.com", { now, newToken: () => "fresh" });
    expect(changed.link).toMatchObject({
      email: "new@c.com",
      invitation: { status: "pending", email: "new@c.com" },
    });
    expect(changed.unlinked).toEqual({
      email: "old@c.com",
      invitation: active.invitation,
      notifyPreferences: active.notifyPreferences,
    });
    const unlinked = link({
      email: "old@c.com",
      accountId: active.accountId,
      contactId: active.contactId,
      login: true,
      invitation: changed.unlinked!.invitation,
      unlinkedAt: now,
    });
    expect(portalStatus([changed.link, unlinked])).toBe("activated");
    expect(
      recipientsFor([changed.link, { ...unlinked, notify: true }], { kind: "email" }).map((r) => r.email),
    ).toEqual(["new@c.com"]);
    const enable: BulkUpdateRequest = {
      accountIds: [active.accountId],
      login: "enable",
      notify: "enable",
      emailSync: "enable",
      signatory: "enable",
    };
    const [plan] = planBulkUpdate(enable, () => [unlinked], ctx());
    expect(plan?.ok && plan.changedLinks).toEqual([]);
    const [off] = planBulkUpdate(
      { ...enable, login: "disable", notify: "do_nothing", emailSync: "do_nothing", signatory: "do_nothing" },
      () => [unlinked],
      ctx(),
    );
    expect(off?.ok && off.links[0]?.login).toBe(false);
    // A pending address has nothing to keep.
    const pending = applyToggles(link({ email: "p@c.com" }), { login: true }, ctx()).link;
    expect(changeLinkAddress(pending, "q@c.com", ctx()).unlinked).toBeUndefined();
  });

  it("T3: portal status is derived from links: activated > pending activation > not activated", () => {
    const plain = link({ email: "a@c.com" });
    const loginNoInvite = applyToggles(
      link({ email: "b@c.com" }),
      { login: true, sendInvitation: false },
      ctx(),
    ).link;
    const pending = applyToggles(link({ email: "c@c.com" }), { login: true }, ctx()).link;
    const accepted = invitedAndAccepted(link({ email: "d@c.com" }));
    expect(portalStatus([])).toBe("not_activated");
    expect(portalStatus([plain, loginNoInvite])).toBe("not_activated");
    expect(portalStatus([plain, pending])).toBe("pending_activation");
    expect(portalStatus([pending, accepted])).toBe("activated");
    expect(portalStatus([applyToggles(accepted, { login: false }, ctx()).link])).toBe("not_activated");
  });

  it("T4: changing an address before acceptance invalidates the old token and invites the new address", () => {
    const pending = applyToggles(link({ email: "old@c.com" }), { login: true }, ctx()).link;
    const oldToken = pending.invitation!.token;
    const changed = changeLinkAddress(pending, "new@c.com", { now, newToken: () => "fresh" });
    expect(changed.effects).toEqual([
      { type: "invalidate_invitation", linkId: pending.id, token: oldToken },
      {
        type: "send_invitation",
        linkId: pending.id,
        email: "new@c.com",
        token: "fresh",
        customMessage: undefined,
      },
    ]);
    expect(acceptInvitation(changed.link, oldToken, now).ok).toBe(false);
    expect(acceptInvitation(changed.link, "fresh", now).ok).toBe(true);
  });

  it("T4: the safe address change never leaves the client without access", () => {
    const old = invitedAndAccepted(link({ email: "old@c.com", accountId: "acct", contactId: "jo" }));
    const statuses = [portalStatus([old])];
    const added = link({ email: "new@c.com", accountId: "acct", contactId: "jo" });
    const invitedNew = applyToggles(added, { login: true }, ctx()).link;
    statuses.push(portalStatus([old, invitedNew]));
    const accepted = acceptInvitation(invitedNew, invitedNew.invitation!.token, now);
    if (!accepted.ok) throw new Error("accept failed");
    statuses.push(portalStatus([old, accepted.link]));
    const oldOff = applyToggles(old, { login: false }, ctx()).link;
    statuses.push(portalStatus([oldOff, accepted.link]));
    expect(statuses).toEqual(["activated", "activated", "activated", "activated"]);
    expect(hasPortalAccess(accepted.link)).toBe(true);
  });

  it("T5: recipients are exactly the notify-on links; system notifications also need the category", () => {
    const a = link({ email: "a@c.com", notify: true });
    const b = link({
      email: "b@c.com",
      notify: true,
      notifyPreferences: { ...a.notifyPreferences, invoices_and_payments: false },
    });
    const c = link({ email: "c@c.com", notify: false });
    const dupe = link({ email: "a@c.com", notify: true });
    expect(recipientsFor([a, b, c, dupe], { kind: "bulk_email" }).map((r) => r.email)).toEqual([
      "a@c.com",
      "b@c.com",
    ]);
    expect(recipientsFor([a, b, c], { kind: "automation_email" }).map((r) => r.email)).toEqual([
      "a@c.com",
      "b@c.com",
    ]);
    expect(
      recipientsFor([a, b, c], { kind: "system_notification", category: "invoices_and_payments" }).map(
        (r) => r.email,
      ),
    ).toEqual(["a@c.com"]);
    expect(
      recipientsFor([a, b, c], { kind: "system_notification", category: "proposals" }).map((r) => r.email),
    ).toEqual(["a@c.com", "b@c.com"]);
  });

  it("T6: a pending address still receives mail; system notifications carry a banner until that contact has activated", () => {
    const pending = applyToggles(link({ email: "p@c.com", notify: true }), { login: true }, ctx()).link;
    const plain = link({ email: "q@c.com", notify: true });
    const system = recipientsFor([pending, plain], {
      kind: "system_notification",
      category: "messages_and_tasks",
    });
    expect(system).toEqual([
      expect.objectContaining({ email: "p@c.com", activationBanner: true }),
      expect.objectContaining({ email: "q@c.com", activationBanner: false }),
    ]);
    expect(recipientsFor([pending], { kind: "email" })[0]?.activationBanner).toBe(false);
    // Per contact: another contact of the account being active does not remove the banner ...
    const otherContactActive = invitedAndAccepted(link({ email: "r@c.com" }));
    expect(
      recipientsFor([pending, otherContactActive], { kind: "system_notification", category: "proposals" })[0]
        ?.activationBanner,
    ).toBe(true);
    // ... but the same contact having activated through another address does.
    const sameContactActive = invitedAndAccepted(link({ email: "s@c.com", contactId: pending.contactId }));
    expect(
      recipientsFor([pending, sameContactActive], { kind: "system_notification", category: "proposals" })[0]
        ?.activationBanner,
    ).toBe(false);
  });

  it("T7: turning email sync on asks for a backfill of that address, even with login off", () => {
    const result = applyToggles(link({ email: "prospect@c.com" }), { emailSync: true }, ctx());
    expect(result.link.login).toBe(false);
    expect(result.effects).toEqual([{ type: "backfill_address", email: "prospect@c.com" }]);
    expect(applyToggles(result.link, { emailSync: true }, ctx()).effects).toEqual([]);
    expect(applyToggles(result.link, { emailSync: false }, ctx()).effects).toEqual([
      { type: "stop_filing_address", email: "prospect@c.com" },
    ]);
  });

  it("T8: the Email tab shows iff a link syncs; the list shows notify and sync per account", () => {
    expect(showsEmailTab([link({ email: "a@c.com" })])).toBe(false);
    expect(showsEmailTab([link({ email: "a@c.com" }), link({ email: "b@c.com", emailSync: true })])).toBe(
      true,
    );
    expect(accountListFlags([link({ email: "a@c.com", notify: true })])).toEqual({
      notify: true,
      emailSync: false,
    });
    expect(accountListFlags([])).toEqual({ notify: false, emailSync: false });
  });

  it("T9: signatory is per link and account", () => {
    const links = [
      link({ email: "a@c.com", contactId: "ann", signatory: true }),
      link({ email: "b@c.com", contactId: "bob" }),
    ];
    expect(maySign(links, "ann")).toBe(true);
    expect(maySign(links, "bob")).toBe(false);
  });

  it("T10: a bulk update applies per account, reports failures per account and does not stop on them", () => {
    const accounts = new Map<string, Link[]>([
      [
        "a1",
        [
          link({ email: "x@a1.com", accountId: "a1" }),
          link({ email: "y@a1.com", accountId: "a1", notify: true }),
        ],
      ],
      ["a2", []],
      ["a3", [link({ email: "z@a3.com", accountId: "a3", login: true })]],
    ]);
    const plans = planBulkUpdate(
      {
        accountIds: ["a1", "a2", "gone", "a3"],
        login: "enable",
        notify: "enable",
        emailSync: "do_nothing",
        signatory: "disable",
        invitationMessage: "Welcome",
      },
      (id) => accounts.get(id),
      ctx(),
    );
    expect(plans.map((p) => [p.accountId, p.ok])).toEqual([
      ["a1", true],
      ["a2", false],
      ["gone", false],
      ["a3", true],
    ]);
    const a1 = plans[0]!;
    if (!a1.ok) throw new Error("a1 failed");
    expect(a1.links.every((l) => l.login && l.notify && !l.signatory)).toBe(true);
    expect(a1.effects.filter((e) => e.type === "send_invitation")).toHaveLength(2);
    expect(a1.effects[0]).toMatchObject({ customMessage: "Welcome" });
    const report = bulkUpdateReport(plans);
    expect(report).toMatchObject({
      accountsRequested: 4,
      accountsUpdated: 2,
      accountsFailed: 2,
      invitationsSent: 2,
    });
    expect(report.errors.map((e) => [e.accountId, e.code])).toEqual([
      ["a2", "no_contact_address"],
      ["gone", "not_found"],
    ]);
  });

  it("T10: 'do nothing' leaves a setting alone and enabling notify can set category preferences", () => {
    const original = link({ email: "x@a.com", accountId: "a", emailSync: true, signatory: true });
    const plans = planBulkUpdate(
      {
        accountIds: ["a"],
        login: "do_nothing",
        notify: "enable",
        emailSync: "do_nothing",
        signatory: "do_nothing",
        notifyPreferences: { proposals: false },
      },
      () => [original],
      ctx(),
    );
    const plan = plans[0]!;
    if (!plan.ok) throw new Error("failed");
    expect(plan.links[0]).toMatchObject({ emailSync: true, signatory: true, login: false, notify: true });
    expect(plan.links[0]!.notifyPreferences.proposals).toBe(false);
    expect(plan.links[0]!.notifyPreferences.invoices_and_payments).toBe(true);
  });

  it("T11: account creation, adding contacts and import rows share one validation", () => {
    const row = { email: " Ann@Client.COM ", login: true, emailSync: true };
    expect(parseInput(linkSettingsSchema, row)).toMatchObject({
      email: "ann@client.com",
      login: true,
      emailSync: true,
      notify: true,
    });
    const account = parseInput(accountInputSchema, {
      name: "Ann",
      kind: "person",
      contacts: [{ firstName: "Ann", emails: [row] }],
    });
    expect(account.contacts[0]!.emails[0]).toEqual(parseInput(linkSettingsSchema, row));
    expect(() => parseInput(linkSettingsSchema, { email: "ann@", login: "yes" }, "rows.3")).toThrow(
      ValidationError,
    );
    try {
      parseInput(linkSettingsSchema, { email: "ann@", login: "yes" }, "rows.3");
    } catch (error) {
      expect((error as ValidationError).issues.map((i) => i.field)).toEqual(["rows.3.email", "rows.3.login"]);
    }
  });

  it("T12: an invalid address in a new account rejects the whole account, naming field and value", () => {
    let caught: ValidationError | undefined;
    try {
      parseInput(accountInputSchema, {
        name: "Acme",
        kind: "business",
        contacts: [{ firstName: "A", emails: [{ email: "good@acme.com" }, { email: "bad@@acme" }] }],
      });
    } catch (error) {
      caught = error as ValidationError;
    }
    expect(caught?.code).toBe("validation_failed");
    expect(caught?.issues).toEqual([
      {
        field: "contacts.0.emails.1.email",
        value: "bad@@acme",
        expected: "an email address like name@example.com",
      },
    ]);
  });

  it("T12: a contact cannot list the same normalised address twice", () => {
    expect(() =>
      parseInput(accountInputSchema, {
        name: "Acme",
        kind: "business",
        contacts: [{ firstName: "A", emails: [{ email: "a@acme.com" }, { email: " A@ACME.com" }] }],
      }),
    ).toThrow(/contacts\.0\.emails\.1\.email/);
  });
});
