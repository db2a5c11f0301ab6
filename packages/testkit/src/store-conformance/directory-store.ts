/**
 * `DirectoryStore` conformance: firms and members, mailboxes with their settings,
 * connections and credentials (Y3), accounts, contacts, links and invitations (T1).
 */
import { describe, expect, it } from "vitest";
import type { DirectoryStore, SyncStateStore } from "@clientmail/core/ports";
import { allOn, expectCode, minutes, seedFirm, t0, type SeedingStore } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions } from "./options.js";

/**
 * The DirectoryStore suite. Setting a mailbox's state (`SyncStateStore.setMailboxState`) is
 * checked here too, as it shows on the mailbox the directory returns.
 */
export function directoryStoreConformance(
  options: StoreConformanceOptions<SeedingStore & DirectoryStore & SyncStateStore>,
): void {
  describeStoreSuite(options, "DirectoryStore", () => {
    describe("firms and team members", () => {
      it("creates, reads, updates and lists firms", async () => {
        const { store } = await options.makeStore();
        const firm = await store.createFirm({
          name: "Acme",
          internalDomains: ["acme.example"],
          deletionMode: "mirror",
        });
        expect(await store.getFirm(firm.id)).toEqual(firm);
        const updated = await store.updateFirm(firm.id, { deletionMode: "retain" });
        expect(updated).toMatchObject({ name: "Acme", deletionMode: "retain" });
        expect(await store.getFirm(firm.id)).toEqual(updated);
        expect(await store.listFirmIds()).toContain(firm.id);
        expect(await store.getFirm("no-such-firm")).toBeUndefined();
        await expectCode(store.updateFirm("no-such-firm", { name: "x" }), "not_found");
      });

      it("keeps member emails unique per firm", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "members");
        const input = {
          name: "Bob",
          email: "bob@members.example",
          role: "employee",
          newMailNotifications: "none",
          timeZone: "UTC",
        } as const;
        const bob = await store.createMember(seed.firm.id, input);
        await expectCode(store.createMember(seed.firm.id, { ...input, name: "Other Bob" }), "conflict");
        expect((await store.listMembers(seed.firm.id)).map((m) => m.name)).toEqual(["Ann Adams", "Bob"]);
        await expectCode(store.updateMember(seed.firm.id, bob.id, { email: seed.member.email }), "conflict");
        const renamed = await store.updateMember(seed.firm.id, bob.id, { name: "Robert", role: "admin" });
        expect(renamed).toMatchObject({ name: "Robert", role: "admin", email: input.email });
        expect(await store.getMember(seed.firm.id, bob.id)).toEqual(renamed);
        // Another firm may use the same address.
        const other = await store.createFirm({ name: "Other", internalDomains: [], deletionMode: "mirror" });
        await expect(store.createMember(other.id, input)).resolves.toMatchObject({ email: input.email });
      });
    });

    describe("mailboxes", () => {
      it("Y3: stores settings, state, connections and credentials as given", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "mailboxes");
        const { firm, mailbox, member } = seed;
        expect(mailbox.state).toEqual({ status: "connecting" });
        expect(mailbox.connections).toEqual([{ memberId: member.id, connectedAt: t0 }]);
        await expectCode(
          store.createMailbox(firm.id, { ...mailbox, ownerMemberId: member.id }, t0),
          "conflict",
        );
        await expectCode(
          store.createMailbox(
            firm.id,
            { ...mailbox, address: "x@mailboxes.example", ownerMemberId: "nobody" },
            t0,
          ),
          "not_found",
        );

        const settings = await store.updateMailboxSettings(firm.id, mailbox.id, { allowOthersToSend: true });
        expect(settings.settings).toEqual({
          autoSaveAttachments: true,
          allowOthersToSend: true,
          signatureHtml: "<p>Ann</p>",
        });
        const state = {
          status: "retrying",
          attempt: 2,
          nextAttemptAt: minutes(5),
          lastError: "transient",
        } as const;
        const retrying = await store.setMailboxState(firm.id, mailbox.id, state, minutes(1));
        expect(retrying.state).toEqual(state);
        expect(retrying.lastSyncedAt).toEqual(minutes(1));
        const live = await store.setMailboxState(firm.id, mailbox.id, { status: "live" });
        expect(live.lastSyncedAt).toEqual(minutes(1));

        const bob = await store.createMember(firm.id, {
          name: "Bob",
          email: "bob@mailboxes.example",
          role: "employee",
          newMailNotifications: "all",
          timeZone: "UTC",
        });
        await store.addMailboxConnection(firm.id, mailbox.id, bob.id, minutes(2));
        const again = await store.addMailboxConnection(firm.id, mailbox.id, bob.id, minutes(3));
        expect(again.connections).toEqual([
          { memberId: member.id, connectedAt: t0 },
          { memberId: bob.id, connectedAt: minutes(2) },
        ]);
        expect(await store.removeMailboxConnection(firm.id, mailbox.id, bob.id)).toBe(true);
        expect(await store.removeMailboxConnection(firm.id, mailbox.id, bob.id)).toBe(false);
        expect((await store.getMailbox(firm.id, mailbox.id))?.connections).toHaveLength(1);

        expect(await store.getMailboxCredentials(firm.id, mailbox.id)).toBeUndefined();
        await store.setMailboxCredentials(firm.id, mailbox.id, "cmk1.ciphertext");
        expect(await store.getMailboxCredentials(firm.id, mailbox.id)).toBe("cmk1.ciphertext");
        expect(await raw.storedCredentials(firm.id, mailbox.id)).toBe("cmk1.ciphertext");
        expect(await store.listMailboxCredentials(firm.id)).toEqual([
          { mailboxId: mailbox.id, ciphertext: "cmk1.ciphertext" },
        ]);
        await store.setMailboxCredentials(firm.id, mailbox.id, undefined);
        expect(await raw.storedCredentials(firm.id, mailbox.id)).toBeUndefined();
        expect(await store.listMailboxes(firm.id)).toHaveLength(1);
      });
    });

    describe("accounts, contacts and links", () => {
      it("T1: links are unique per (account, contact, email) and carry their own toggles", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "links");
        const { firm, account, contact, link } = seed;
        const family = await store.createAccount(firm.id, { name: "Bolt family", kind: "family" }, t0);
        const second = await store.createLink(firm.id, {
          accountId: family.id,
          contactId: contact.id,
          email: link.email,
          login: true,
          notify: false,
          emailSync: false,
          signatory: true,
          notifyPreferences: allOn,
        });
        expect(second).toMatchObject({ login: true, notify: false, emailSync: false, signatory: true });
        await expectCode(
          store.createLink(firm.id, {
            accountId: account.id,
            contactId: contact.id,
            email: link.email,
            login: false,
            notify: false,
            emailSync: false,
            signatory: false,
            notifyPreferences: allOn,
          }),
          "conflict",
        );
        await expectCode(
          store.createLink(firm.id, { ...second, accountId: "no-such-account", email: "x@y.example" }),
          "not_found",
        );
        expect((await store.listLinks(firm.id, { emailSync: true })).map((l) => l.id)).toEqual([link.id]);
        expect((await store.listLinks(firm.id, { contactId: contact.id })).map((l) => l.id).sort()).toEqual(
          [link.id, second.id].sort(),
        );
        expect((await store.listLinks(firm.id, { accountId: family.id })).map((l) => l.id)).toEqual([
          second.id,
        ]);

        const moved = await store.updateLink(firm.id, second.id, {
          email: "cleo2@bolt.example",
          emailSync: true,
        });
        expect(moved).toMatchObject({ email: "cleo2@bolt.example", emailSync: true, login: true });
        expect(await store.getLink(firm.id, second.id)).toEqual(moved);
        await store.createLink(firm.id, { ...second, email: "cleo3@bolt.example" });
        await expectCode(store.updateLink(firm.id, second.id, { email: "cleo3@bolt.example" }), "conflict");

        const invitation = {
          token: "tok-123",
          email: moved.email,
          status: "pending",
          sentAt: t0,
          acceptedAt: undefined,
          customMessage: "Hi",
        } as const;
        const invited = await store.setInvitation(firm.id, second.id, invitation);
        expect(invited.invitation).toEqual(invitation);
        expect((await store.findLinkByInvitationToken(firm.id, "tok-123"))?.id).toBe(second.id);
        expect(await store.findLinkByInvitationToken(firm.id, "tok-unknown")).toBeUndefined();

        const renamed = await store.updateAccount(firm.id, family.id, { name: "Bolt household" });
        expect(renamed.name).toBe("Bolt household");
        expect((await store.listAccounts(firm.id)).map((a) => a.name)).toEqual([
          "Bolt Ltd",
          "Bolt household",
        ]);
        expect(await store.updateContact(firm.id, contact.id, { firstName: "Clea" })).toMatchObject({
          firstName: "Clea",
          lastName: "Bolt",
        });
        expect((await store.listContacts(firm.id)).map((c) => c.firstName)).toEqual(["Clea"]);

        expect(await store.deleteAccount(firm.id, family.id)).toBe(true);
        expect(await store.deleteAccount(firm.id, family.id)).toBe(false);
        expect(await store.getLink(firm.id, second.id)).toBeUndefined();
        expect(await store.listLinks(firm.id)).toHaveLength(1);
        expect(await store.deleteLink(firm.id, link.id)).toBe(true);
        expect(await store.deleteLink(firm.id, link.id)).toBe(false);
      });
    });
  });
}
