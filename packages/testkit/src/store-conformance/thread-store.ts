/**
 * `ThreadStore` conformance: thread keys, conflicts and merges (H3), the subject index and
 * the threading lock (H1), and an account's thread listings (H4, H5, F7).
 */
import { describe, expect, it } from "vitest";
import type { FilingStore, ThreadStore } from "@clientmail/core/ports";
import { expectCode, message, minutes, seedFirm, t0, type SeedingStore } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions, type Transactional } from "./options.js";

/**
 * The ThreadStore suite. Threads hold filed messages, so the store files them
 * (`FilingStore`); the threading lock is taken inside a transaction.
 */
export function threadStoreConformance(
  options: StoreConformanceOptions<Transactional<SeedingStore & ThreadStore & FilingStore>>,
): void {
  describeStoreSuite(options, "ThreadStore", () => {
    describe("threads", () => {
      it("H3: keys map to threads, conflicts are reported, merges move messages, keys and mutes", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "threads");
        const other = await store.createThread(seed.firm.id);
        expect(await store.attachThreadKeys(seed.firm.id, seed.thread, ["k1", "k2", "k1"])).toEqual([]);
        expect(await store.attachThreadKeys(seed.firm.id, seed.thread, ["k1"])).toEqual([]);
        expect(await store.attachThreadKeys(seed.firm.id, other, ["k2", "k3"])).toEqual([
          { key: "k2", threadId: seed.thread },
        ]);
        expect(
          Object.fromEntries(await store.findThreadsByKeys(seed.firm.id, ["k1", "k2", "k3", "k4"])),
        ).toEqual({
          k1: seed.thread,
          k2: seed.thread,
          k3: other,
        });
        await store.fileMessages(seed.firm.id, [message(seed, 1), message(seed, 2, { threadId: other })], t0);
        await store.setThreadMuted(seed.firm.id, other, seed.member.id, true);
        await store.setThreadMuted(seed.firm.id, other, seed.member.id, true);
        expect(await store.listThreadMutes(seed.firm.id, other)).toEqual([seed.member.id]);

        await store.mergeThreads(seed.firm.id, seed.thread, [other]);
        await store.mergeThreads(seed.firm.id, seed.thread, [other]);
        expect((await store.listThreadMessages(seed.firm.id, seed.thread)).map((m) => m.subject)).toEqual([
          "Invoice 1",
          "Invoice 2",
        ]);
        expect(await store.listThreadMessages(seed.firm.id, other)).toEqual([]);
        expect((await store.findThreadsByKeys(seed.firm.id, ["k3"])).get("k3")).toBe(seed.thread);
        expect(await store.listThreadMutes(seed.firm.id, seed.thread)).toEqual([seed.member.id]);
        await store.setThreadMuted(seed.firm.id, seed.thread, seed.member.id, false);
        expect(await store.listThreadMutes(seed.firm.id, seed.thread)).toEqual([]);
        await expectCode(store.attachThreadKeys(seed.firm.id, other, ["k9"]), "not_found");
      });

      it("H1: the subject index finds threads by key within the window, open entries only for closed probes, and follows merges", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "subjects");
        const F = seed.firm.id;
        const day = 24 * 60 * 60 * 1000;
        const window = 30 * day;
        const other = await store.createThread(F);
        const third = await store.createThread(F);
        await store.addSubjectEntries(F, seed.thread, [{ key: "s:invoice:cleo", at: t0, open: true }]);
        await store.addSubjectEntries(F, other, [
          { key: "s:invoice:cleo", at: new Date(t0.getTime() + 20 * day), open: false },
        ]);
        await store.addSubjectEntries(F, third, [
          { key: "s:invoice:cleo", at: new Date(t0.getTime() + 60 * day), open: true },
        ]);
        const probe = (days: number, open: boolean, key = "s:invoice:cleo") => ({
          key,
          at: new Date(t0.getTime() + days * day),
          open,
        });
        const found = await store.findSubjectThreads(
          F,
          [
            probe(10, true),
            probe(10, false),
            probe(30, false),
            probe(45, true),
            probe(0, true, "s:other:cleo"),
          ],
          window,
        );
        expect(found[0]).toEqual([seed.thread, other].sort());
        // A probe that is not open links only to open entries.
        expect(found[1]).toEqual([seed.thread]);
        // The window is inclusive: 30 days from the first entry still links.
        expect(found[2]).toEqual([seed.thread, third].sort());
        expect(found[3]).toEqual([other, third].sort());
        expect(found[4]).toEqual([]);
        await store.mergeThreads(F, seed.thread, [other]);
        expect((await store.findSubjectThreads(F, [probe(10, true)], window))[0]).toEqual([seed.thread]);
        await expectCode(store.addSubjectEntries(F, other, [probe(1, true)]), "not_found");
        await store.lockThreads(F);
        await store.transaction(async (tx) => {
          await tx.lockThreads(F);
          await tx.lockThreads(F);
        });
      });

      it("H4, H5: an account lists its threads newest first, each with its messages in order", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "listing");
        const { firm, account, link } = seed;
        const family = await store.createAccount(firm.id, { name: "Bolt family", kind: "family" }, t0);
        const familyLink = await store.createLink(firm.id, { ...link, accountId: family.id });
        const older = await store.createThread(firm.id);
        const both = [
          { accountId: account.id, linkIds: [link.id] },
          { accountId: family.id, linkIds: [familyLink.id] },
        ];
        await store.fileMessages(
          firm.id,
          [
            message(seed, 30, { threadId: older }),
            message(seed, 10),
            message(seed, 50, { direction: "outbound", filings: both }),
            message(seed, 20, { threadId: older }),
          ],
          t0,
        );
        const inbox = await store.listAccountThreads(firm.id, account.id, { view: "inbox" });
        expect(inbox.map((t) => t.threadId)).toEqual([seed.thread, older]);
        expect(inbox[0]?.lastActivityAt).toEqual(minutes(50));
        expect(inbox[0]?.messages.map((m) => m.subject)).toEqual(["Invoice 10", "Invoice 50"]);
        expect(inbox[1]?.messages.map((m) => m.subject)).toEqual(["Invoice 20", "Invoice 30"]);
        expect(
          (await store.listAccountThreads(firm.id, account.id, { view: "inbox", limit: 1 })).map(
            (t) => t.threadId,
          ),
        ).toEqual([seed.thread]);
        const sent = await store.listAccountThreads(firm.id, account.id, { view: "sent" });
        expect(sent.map((t) => t.threadId)).toEqual([seed.thread]);
        // H4: the whole thread shows under the family account, through one of its messages.
        const familyInbox = await store.listAccountThreads(firm.id, family.id, { view: "inbox" });
        expect(familyInbox.map((t) => t.messages.length)).toEqual([2]);
        // F7: with email sync off, the account has no reason left to show the mail.
        await store.updateLink(firm.id, familyLink.id, { emailSync: false });
        expect(await store.listAccountThreads(firm.id, family.id, { view: "inbox" })).toEqual([]);
        await store.updateLink(firm.id, familyLink.id, { emailSync: true });
        expect(await store.listAccountThreads(firm.id, family.id, { view: "inbox" })).toHaveLength(1);
      });
    });
  });
}
