/**
 * Conformance of what the CRM facade and a contact's erasure need from the store, across roles:
 * deleting a contact with its links, "unlinked emails" (T4), tombstones (R10), keyset paging of
 * an account's threads and of Inbox+ (H4, H5), and the removal of everything filed for a contact
 * (R10): its messages found by link or participant, the traces threading kept and its
 * notifications.
 */
import { expect, it } from "vitest";
import type { Store } from "@clientmail/core/ports";
import { allOn, expectCode, message, minutes, seedFirm, t0 } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions } from "./options.js";

/** The CRM and erasure suite; it needs every role, as erasure spans them. */
export function crmAndErasureConformance(options: StoreConformanceOptions<Store>): void {
  describeStoreSuite(options, "CRM and erasure", () => {
    it("deleteContact removes the contact and its links in every account; filed mail stays", async () => {
      const { store, raw } = await options.makeStore();
      const seed = await seedFirm(store, "crm-delete");
      const firmId = seed.firm.id;
      const second = await store.createAccount(firmId, { name: "Bolt family", kind: "family" }, t0);
      await store.createLink(firmId, { ...seed.link, accountId: second.id, notifyPreferences: allOn });
      await store.fileMessages(firmId, [message(seed, 1)], t0);
      expect(await store.deleteContact(firmId, seed.contact.id)).toBe(true);
      expect(await store.getContact(firmId, seed.contact.id)).toBeUndefined();
      expect(await store.listLinks(firmId, { contactId: seed.contact.id })).toEqual([]);
      expect(await raw.countMessages(firmId)).toBe(1);
      expect(await store.deleteContact(firmId, seed.contact.id)).toBe(false);
      expect(await store.deleteContact(firmId, "no-such-contact")).toBe(false);
    });

    it("T4: a link created as an unlinked email keeps that mark; ordinary links have none", async () => {
      const { store } = await options.makeStore();
      const seed = await seedFirm(store, "crm-unlinked");
      const unlinked = await store.createLink(seed.firm.id, {
        accountId: seed.account.id,
        contactId: seed.contact.id,
        email: "old@bolt.example",
        login: true,
        notify: false,
        emailSync: false,
        signatory: false,
        notifyPreferences: allOn,
        unlinkedAt: minutes(5),
      });
      expect(unlinked.unlinkedAt).toEqual(minutes(5));
      expect(await store.getLink(seed.firm.id, unlinked.id)).toEqual(unlinked);
      expect((await store.getLink(seed.firm.id, seed.link.id))?.unlinkedAt).toBeUndefined();
      const updated = await store.updateLink(seed.firm.id, unlinked.id, { login: false });
      expect(updated.unlinkedAt).toEqual(minutes(5));
    });

    it("R10: tombstones are kept once, sorted, per firm", async () => {
      const { store } = await options.makeStore();
      const seed = await seedFirm(store, "crm-tombstones");
      expect(await store.listErasureTombstones(seed.firm.id)).toEqual([]);
      await store.addErasureTombstones(seed.firm.id, ["bb", "aa", "bb"], t0);
      await store.addErasureTombstones(seed.firm.id, ["aa", "cc"], minutes(1));
      await store.addErasureTombstones(seed.firm.id, [], minutes(2));
      expect(await store.listErasureTombstones(seed.firm.id)).toEqual(["aa", "bb", "cc"]);
      await expectCode(store.addErasureTombstones("no-such-firm", ["aa"], t0), "not_found");
    });

    it("H5: account threads and Inbox+ page by keyset, newest activity first, without repeats", async () => {
      const { store } = await options.makeStore();
      const seed = await seedFirm(store, "crm-paging");
      const firmId = seed.firm.id;
      const other = await store.createAccount(firmId, { name: "Other Ltd", kind: "business" }, t0);
      const otherContact = await store.createContact(firmId, { firstName: "Otto", lastName: "Other" });
      const otherLink = await store.createLink(firmId, {
        accountId: other.id,
        contactId: otherContact.id,
        email: "otto@other.example",
        login: false,
        notify: true,
        emailSync: true,
        signatory: false,
        notifyPreferences: allOn,
      });
      // Five threads: two share the newest time (ties break by thread id), one is the other account's.
      const threads = [seed.thread];
      for (let i = 0; i < 4; i++) threads.push(await store.createThread(firmId));
      const at = [10, 30, 30, 20, 40];
      await store.fileMessages(
        firmId,
        threads.map((threadId, i) =>
          message(seed, i + 1, {
            threadId,
            date: minutes(at[i]!),
            filings:
              i === 4
                ? [{ accountId: other.id, linkIds: [otherLink.id] }]
                : [{ accountId: seed.account.id, linkIds: [seed.link.id] }],
          }),
        ),
        t0,
      );
      const tied = [threads[1]!, threads[2]!].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const pages: string[][] = [];
      let after: { lastActivityAt: Date; threadId: string } | undefined;
      for (;;) {
        const page = await store.listAccountThreads(firmId, seed.account.id, {
          view: "inbox",
          limit: 2,
          after,
        });
        if (page.length === 0) break;
        pages.push(page.map((t) => t.threadId));
        const last = page[page.length - 1]!;
        after = { lastActivityAt: last.lastActivityAt, threadId: last.threadId };
      }
      expect(pages).toEqual([tied, [threads[3]!, threads[0]!]]);
      // Inbox+: every account's threads, paged the same way.
      const first = await store.listFirmThreads(firmId, { view: "inbox", limit: 2 });
      expect(first.map((t) => t.threadId)).toEqual([threads[4]!, tied[0]!]);
      const next = await store.listFirmThreads(firmId, {
        view: "inbox",
        limit: 10,
        after: { lastActivityAt: first[1]!.lastActivityAt, threadId: first[1]!.threadId },
      });
      expect(next.map((t) => t.threadId)).toEqual([tied[1]!, threads[3]!, threads[0]!]);
      // F7: a link with sync off does not show its threads in Inbox+ either.
      await store.updateLink(firmId, otherLink.id, { emailSync: false });
      expect((await store.listFirmThreads(firmId, { view: "inbox" })).map((t) => t.threadId)).not.toContain(
        threads[4],
      );
      expect(await store.listFirmThreads(firmId, { view: "sent" })).toEqual([]);
    });

    it("R10: finds a contact's mail by link or participant, and erases what threading and notices kept", async () => {
      const { store } = await options.makeStore();
      const seed = await seedFirm(store, "crm-erase");
      const firmId = seed.firm.id;
      const kept = await store.createThread(firmId);
      const keptContact = await store.createContact(firmId, { firstName: "Kim", lastName: "Kept" });
      const keptLink = await store.createLink(firmId, {
        accountId: seed.account.id,
        contactId: keptContact.id,
        email: "kim@kept.example",
        login: false,
        notify: true,
        emailSync: true,
        signatory: false,
        notifyPreferences: allOn,
      });
      const outcomes = await store.fileMessages(
        firmId,
        [
          message(seed, 1),
          // Cleo only cc'd, filed through Kim's link, in a thread of its own.
          message(seed, 2, {
            threadId: kept,
            from: [{ address: "kim@kept.example" }],
            cc: [{ address: "cleo@bolt.example" }],
            filings: [{ accountId: seed.account.id, linkIds: [keptLink.id] }],
          }),
          message(seed, 3, {
            threadId: kept,
            from: [{ address: "kim@kept.example" }],
            filings: [{ accountId: seed.account.id, linkIds: [keptLink.id] }],
          }),
        ],
        t0,
      );
      const [m1, m2, m3] = outcomes.map((o) => o.id);
      const byLink = await store.findMessagesInvolving(firmId, { linkIds: [seed.link.id], addresses: [] });
      expect(byLink.map((m) => m.id)).toEqual([m1]);
      const byAddress = await store.findMessagesInvolving(firmId, {
        linkIds: [],
        addresses: ["cleo@bolt.example"],
      });
      expect(byAddress.map((m) => m.id).sort()).toEqual([m1!, m2!].sort());
      expect(await store.findMessagesInvolving(firmId, { linkIds: [], addresses: [] })).toEqual([]);

      await store.attachThreadKeys(firmId, seed.thread, ["mid:m1@bolt.example"]);
      await store.attachThreadKeys(firmId, kept, ["mid:m2@bolt.example", "mid:m3@bolt.example"]);
      await store.addSubjectEntries(firmId, seed.thread, [
        { key: "subj:invoice:cleo@bolt.example", at: t0, open: true },
      ]);
      await store.addSubjectEntries(firmId, kept, [
        { key: "subj:hello:cleo@bolt.example", at: t0, open: true },
        { key: "subj:hello:kim@kept.example", at: t0, open: true },
        // Another address that merely ends like Cleo's is not hers.
        { key: "subj:hello:xcleo@bolt.example", at: t0, open: true },
      ]);
      await store.setThreadMuted(firmId, seed.thread, seed.member.id, true);
      await store.createNotification(
        firmId,
        {
          memberId: seed.member.id,
          kind: "new_client_mail",
          payload: { messageRecordId: m1 },
          dedupeKey: "n1",
        },
        t0,
      );
      await store.createNotification(
        firmId,
        { memberId: seed.member.id, kind: "new_client_mail", payload: { messageRecordId: m3 } },
        t0,
      );

      const removed = await store.transaction(async (tx) => {
        expect(await tx.eraseMessages(firmId, [m1!, m2!])).toBe(2);
        return tx.eraseThreadTraces(firmId, {
          threadIds: [seed.thread, kept],
          keys: ["mid:m2@bolt.example"],
          participants: ["cleo@bolt.example"],
        });
      });
      // The emptied thread went whole (its key, its subject entry, its mute); the kept one lost
      // only the erased message's key and Cleo's subject entry.
      expect(removed).toEqual({ threads: 1, keys: 2, subjectEntries: 2 });
      expect(await store.findThreadsByKeys(firmId, ["mid:m1@bolt.example", "mid:m2@bolt.example"])).toEqual(
        new Map(),
      );
      expect(await store.findThreadsByKeys(firmId, ["mid:m3@bolt.example"])).toEqual(
        new Map([["mid:m3@bolt.example", kept]]),
      );
      const probe = (key: string) => ({ key, at: t0, open: true });
      expect(
        await store.findSubjectThreads(
          firmId,
          [
            probe("subj:invoice:cleo@bolt.example"),
            probe("subj:hello:cleo@bolt.example"),
            probe("subj:hello:kim@kept.example"),
            probe("subj:hello:xcleo@bolt.example"),
          ],
          1000,
        ),
      ).toEqual([[], [], [kept], [kept]]);
      expect(await store.listThreadMutes(firmId, seed.thread)).toEqual([]);
      await expectCode(store.setThreadMuted(firmId, seed.thread, seed.member.id, true), "not_found");
      expect(await store.listThreadMessages(firmId, kept)).toHaveLength(1);
      // Idempotent.
      expect(
        await store.eraseThreadTraces(firmId, {
          threadIds: [seed.thread],
          keys: ["mid:m2@bolt.example"],
          participants: ["cleo@bolt.example"],
        }),
      ).toEqual({ threads: 0, keys: 0, subjectEntries: 0 });

      expect(await store.deleteNotifications(firmId, "messageRecordId", [m1!, m2!])).toBe(1);
      expect((await store.listNotifications(firmId, seed.member.id, t0)).map((n) => n.payload)).toEqual([
        { messageRecordId: m3 },
      ]);
      // The dedupe key of a deleted notification is free again.
      const again = await store.createNotification(
        firmId,
        {
          memberId: seed.member.id,
          kind: "new_client_mail",
          payload: { messageRecordId: "x" },
          dedupeKey: "n1",
        },
        t0,
      );
      expect(again.payload).toEqual({ messageRecordId: "x" });
    });

    it("R10: an erasure that fails halfway leaves everything in place", async () => {
      const { store, raw } = await options.makeStore();
      const seed = await seedFirm(store, "crm-rollback");
      const firmId = seed.firm.id;
      const [filed] = await store.fileMessages(firmId, [message(seed, 1)], t0);
      await store.addSubjectEntries(firmId, seed.thread, [
        { key: "subj:x:cleo@bolt.example", at: t0, open: true },
      ]);
      await expect(
        store.transaction(async (tx) => {
          await tx.eraseMessages(firmId, [filed!.id]);
          await tx.eraseThreadTraces(firmId, {
            threadIds: [seed.thread],
            keys: [],
            participants: ["cleo@bolt.example"],
          });
          await tx.addErasureTombstones(firmId, ["t"], t0);
          await tx.deleteContact(firmId, seed.contact.id);
          throw new Error("the store went away");
        }),
      ).rejects.toThrow("the store went away");
      expect(await raw.countMessages(firmId)).toBe(1);
      expect(await store.listErasureTombstones(firmId)).toEqual([]);
      expect(await store.getContact(firmId, seed.contact.id)).toBeDefined();
      expect(
        await store.findSubjectThreads(
          firmId,
          [{ key: "subj:x:cleo@bolt.example", at: t0, open: true }],
          1000,
        ),
      ).toEqual([[seed.thread]]);
    });
  });
}
