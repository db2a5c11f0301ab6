/**
 * `FilingStore` conformance: idempotent, atomic filing (F4, F5), sightings and their
 * removal in mirror and retain modes (F8), identity by Message-ID (R5), erasure (F8), and
 * saved-attachment records under concurrency (F9).
 */
import { describe, expect, it } from "vitest";
import type { FilingStore } from "@clientmail/core/ports";
import { expectCode, message, minutes, seedFirm, t0, type SeedingStore } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions } from "./options.js";

/**
 * The FilingStore suite. A hidden message must leave the thread listings, so the store lists
 * threads too ({@link SeedingStore} includes the ThreadStore).
 */
export function filingStoreConformance(options: StoreConformanceOptions<SeedingStore & FilingStore>): void {
  describeStoreSuite(options, "FilingStore", () => {
    describe("filing", () => {
      it("F5: replaying a batch changes nothing", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "replay");
        const batch = [message(seed, 1), message(seed, 2), message(seed, 3)];
        const first = await store.fileMessages(seed.firm.id, batch, t0);
        expect(first.map((o) => o.created)).toEqual([true, true, true]);
        const stored = await Promise.all(first.map((o) => store.getMessage(seed.firm.id, o.id)));
        const before = {
          messages: await raw.countMessages(seed.firm.id),
          sightings: await raw.countSightings(seed.firm.id),
        };
        expect(before).toEqual({ messages: 3, sightings: 3 });

        const replay = await store.fileMessages(seed.firm.id, batch, minutes(60));
        expect(replay.map((o) => o.created)).toEqual([false, false, false]);
        expect(replay.map((o) => o.id)).toEqual(first.map((o) => o.id));
        expect({
          messages: await raw.countMessages(seed.firm.id),
          sightings: await raw.countSightings(seed.firm.id),
        }).toEqual(before);
        expect(await Promise.all(first.map((o) => store.getMessage(seed.firm.id, o.id)))).toEqual(stored);

        const m1 = stored[0];
        expect(m1).toMatchObject({
          dedupeKey: "<m1@bolt.example>",
          subject: "Invoice 1",
          direction: "inbound",
          text: "Hello 1",
          html: "<p>Hello 1</p>",
          threadId: seed.thread,
          removedAt: undefined,
          filedAt: t0,
          filings: [{ accountId: seed.account.id, linkIds: [seed.link.id] }],
          sightings: [{ mailboxId: seed.mailbox.id, providerId: "INBOX:1:1", folder: "INBOX" }],
        });
        expect(m1?.from).toEqual([{ name: "Cleo", address: "cleo@bolt.example" }]);
        expect(m1?.date).toEqual(minutes(1));
        expect(m1?.attachments).toHaveLength(1);
      });

      it("F5: the same message seen through another mailbox adds a sighting only", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "sightings");
        const shared = await store.createMailbox(
          seed.firm.id,
          {
            provider: "gmail",
            address: "team@sightings.example",
            displayName: "Team",
            ownerMemberId: seed.member.id,
            settings: seed.mailbox.settings,
          },
          t0,
        );
        const [first] = await store.fileMessages(seed.firm.id, [message(seed, 1)], t0);
        const family = await store.createAccount(seed.firm.id, { name: "Bolt family", kind: "family" }, t0);
        const familyLink = await store.createLink(seed.firm.id, { ...seed.link, accountId: family.id });
        const copy = message(seed, 1, {
          subject: "changed subject is ignored",
          sightings: [{ mailboxId: shared.id, providerId: "g-77", folder: "INBOX" }],
          filings: [{ accountId: family.id, linkIds: [familyLink.id] }],
        });
        const [second] = await store.fileMessages(seed.firm.id, [copy], minutes(5));
        expect(second).toEqual({ dedupeKey: "<m1@bolt.example>", id: first?.id, created: false });
        const stored = await store.getMessage(seed.firm.id, first?.id ?? "");
        expect(stored?.subject).toBe("Invoice 1");
        expect(stored?.sightings).toHaveLength(2);
        expect(stored?.filings.map((f) => f.accountId).sort()).toEqual([seed.account.id, family.id].sort());
        expect(await raw.countMessages(seed.firm.id)).toBe(1);
        expect(await raw.countSightings(seed.firm.id)).toBe(2);
      });

      it("F5: a key repeated inside one batch is stored once", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "inbatch");
        const outcomes = await store.fileMessages(
          seed.firm.id,
          [
            message(seed, 1),
            message(seed, 1, {
              sightings: [{ mailboxId: seed.mailbox.id, providerId: "Sent:1:9", folder: "Sent" }],
            }),
          ],
          t0,
        );
        expect(outcomes.map((o) => o.created)).toEqual([true, false]);
        expect(outcomes[0]?.id).toBe(outcomes[1]?.id);
        expect(await raw.countMessages(seed.firm.id)).toBe(1);
        expect(await raw.countSightings(seed.firm.id)).toBe(2);
      });

      it("files a batch atomically: one bad message stores nothing", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "atomic");
        await expectCode(
          store.fileMessages(
            seed.firm.id,
            [message(seed, 1), message(seed, 2, { threadId: "no-such-thread" })],
            t0,
          ),
          "not_found",
        );
        await expectCode(
          store.fileMessages(
            seed.firm.id,
            [message(seed, 1, { filings: [{ accountId: seed.account.id, linkIds: ["no-such-link"] }] })],
            t0,
          ),
          "not_found",
        );
        expect(await raw.countMessages(seed.firm.id)).toBe(0);
        expect(await raw.countSightings(seed.firm.id)).toBe(0);
        expect((await store.findMessagesByDedupeKeys(seed.firm.id, ["<m1@bolt.example>"])).size).toBe(0);
      });

      it("F5: getMessages reads several messages at once, as getMessage reads each; unknown ids are left out", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "many");
        const other = await seedFirm(store, "many-other");
        const filed = await store.fileMessages(
          seed.firm.id,
          [message(seed, 1), message(seed, 2), message(seed, 3)],
          t0,
        );
        const [elsewhere] = await store.fileMessages(other.firm.id, [message(other, 4)], t0);
        const ids = [filed[2]!.id, filed[0]!.id, filed[0]!.id, "no-such-message", elsewhere!.id];
        const many = await store.getMessages(seed.firm.id, ids);
        const byOne = await Promise.all(
          [filed[0]!.id, filed[2]!.id].map((id) => store.getMessage(seed.firm.id, id)),
        );
        const sorted = (list: ReadonlyArray<{ id: string } | undefined>) =>
          [...list].sort((a, b) => (a!.id < b!.id ? -1 : a!.id > b!.id ? 1 : 0));
        expect(sorted(many)).toEqual(sorted(byOne));
        expect(await store.getMessages(seed.firm.id, [])).toEqual([]);
      });

      it("F8: lists a mailbox's sightings, so a relisting can find the copies that vanished", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "sightings", "mirror");
        await store.fileMessages(
          seed.firm.id,
          [
            message(seed, 1, {
              sightings: [
                { mailboxId: seed.mailbox.id, providerId: "INBOX:7:2", folder: "INBOX" },
                { mailboxId: seed.mailbox.id, providerId: "INBOX:7:10", folder: "INBOX" },
              ],
            }),
          ],
          t0,
        );
        expect(await store.listSightings(seed.firm.id, seed.mailbox.id)).toEqual(["INBOX:7:10", "INBOX:7:2"]);
        expect(await store.listSightings(seed.firm.id, "no-such-mailbox")).toEqual([]);
        await store.removeSightings(seed.firm.id, seed.mailbox.id, ["INBOX:7:2"], minutes(1));
        expect(await store.listSightings(seed.firm.id, seed.mailbox.id)).toEqual(["INBOX:7:10"]);
      });

      it("F8: mirror mode hides a message once its last sighting is removed", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "mirror", "mirror");
        const [a] = await store.fileMessages(
          seed.firm.id,
          [
            message(seed, 1, {
              sightings: [
                { mailboxId: seed.mailbox.id, providerId: "p1", folder: "INBOX" },
                { mailboxId: seed.mailbox.id, providerId: "p2", folder: "Archive" },
              ],
            }),
          ],
          t0,
        );
        const first = await store.removeSightings(
          seed.firm.id,
          seed.mailbox.id,
          ["p1", "unknown"],
          minutes(1),
        );
        expect(first).toEqual({ orphaned: [], hidden: false });
        expect(await store.listThreadMessages(seed.firm.id, seed.thread)).toHaveLength(1);
        const last = await store.removeSightings(seed.firm.id, seed.mailbox.id, ["p2"], minutes(2));
        expect(last).toEqual({ orphaned: [a?.id], hidden: true });
        expect(await store.listThreadMessages(seed.firm.id, seed.thread)).toEqual([]);
        expect(await store.listAccountThreads(seed.firm.id, seed.account.id, { view: "inbox" })).toEqual([]);
        expect((await store.getMessage(seed.firm.id, a?.id ?? ""))?.removedAt).toEqual(minutes(2));
        expect(await store.removeSightings(seed.firm.id, seed.mailbox.id, ["p2"], minutes(3))).toEqual({
          orphaned: [],
          hidden: false,
        });
        // Seen again (e.g. restored from the trash): visible again.
        await store.fileMessages(
          seed.firm.id,
          [
            message(seed, 1, {
              sightings: [{ mailboxId: seed.mailbox.id, providerId: "p3", folder: "INBOX" }],
            }),
          ],
          minutes(4),
        );
        expect(await store.listThreadMessages(seed.firm.id, seed.thread)).toHaveLength(1);
      });

      it("F8: retain mode keeps a message whose copies were all deleted", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "retain", "retain");
        const [a] = await store.fileMessages(seed.firm.id, [message(seed, 1)], t0);
        const removal = await store.removeSightings(seed.firm.id, seed.mailbox.id, ["INBOX:1:1"], minutes(1));
        expect(removal).toEqual({ orphaned: [a?.id], hidden: false });
        expect(await store.listThreadMessages(seed.firm.id, seed.thread)).toHaveLength(1);
        expect((await store.getMessage(seed.firm.id, a?.id ?? ""))?.sightings).toEqual([]);
      });
    });

    describe("identity", () => {
      it("R5: every message with a Message-ID is found by it, several when they share one", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "identity");
        const F = seed.firm.id;
        await store.fileMessages(
          F,
          [
            message(seed, 1, { dedupeKey: "mid:shared@x#aaa", messageId: "shared@x" }),
            message(seed, 2, { dedupeKey: "mid:shared@x#bbb", messageId: "shared@x", subject: "Other" }),
            message(seed, 3, { dedupeKey: "mid:own@x#ccc", messageId: "own@x" }),
            message(seed, 4, { dedupeKey: "sha256:none", messageId: undefined }),
          ],
          t0,
        );
        const shared = await store.findMessagesByMessageIds(F, ["shared@x", "missing@x"]);
        expect(shared.map((m) => m.dedupeKey).sort()).toEqual(["mid:shared@x#aaa", "mid:shared@x#bbb"]);
        expect(shared.every((m) => m.filings.length === 1 && m.sightings.length === 1)).toBe(true);
        expect(await store.findMessagesByMessageIds(F, [])).toEqual([]);
        const [own] = await store.findMessagesByMessageIds(F, ["own@x"]);
        expect(own?.subject).toBe("Invoice 3");
        await store.eraseMessages(F, [own!.id]);
        expect(await store.findMessagesByMessageIds(F, ["own@x"])).toEqual([]);
      });
    });

    describe("erasure", () => {
      it("F8: erasing messages deletes them with their sightings and filings, permanently", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "erase");
        const [a, b] = await store.fileMessages(seed.firm.id, [message(seed, 1), message(seed, 2)], t0);
        expect(await store.eraseMessages(seed.firm.id, [a?.id ?? "", a?.id ?? "", "unknown"])).toBe(1);
        expect(await store.getMessage(seed.firm.id, a?.id ?? "")).toBeUndefined();
        expect(await raw.countMessages(seed.firm.id)).toBe(1);
        expect(await raw.countSightings(seed.firm.id)).toBe(1);
        expect((await store.listThreadMessages(seed.firm.id, seed.thread)).map((m) => m.id)).toEqual([b?.id]);
        expect(await store.removeSightings(seed.firm.id, seed.mailbox.id, ["INBOX:1:1"], t0)).toEqual({
          orphaned: [],
          hidden: false,
        });
        expect(await store.eraseMessages(seed.firm.id, [a?.id ?? ""])).toBe(0);
        // The identity is free again: filing the same message again creates a new record.
        const [again] = await store.fileMessages(seed.firm.id, [message(seed, 1)], t0);
        expect(again?.created).toBe(true);
      });
    });

    describe("saved attachments", () => {
      it("F9: a file is recorded as saved once per account, even under concurrent calls", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "attach");
        const hash = "cd".repeat(32);
        const results = await Promise.all(
          Array.from({ length: 6 }, () => store.claimAttachment(seed.firm.id, seed.account.id, hash)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.claimAttachment(seed.firm.id, seed.account.id, hash)).toBe(false);
        const family = await store.createAccount(seed.firm.id, { name: "Family", kind: "family" }, t0);
        expect(await store.isAttachmentSaved(seed.firm.id, family.id, hash)).toBe(false);
        expect(await store.claimAttachment(seed.firm.id, family.id, hash)).toBe(true);
        expect(await store.isAttachmentSaved(seed.firm.id, family.id, hash)).toBe(true);
        expect(await store.isAttachmentSaved(seed.firm.id, family.id, "ef".repeat(32))).toBe(false);
      });
    });
  });
}
