/**
 * `Store.transaction` conformance: a transaction across roles commits together or rolls
 * back whole, and a nested one is a savepoint.
 */
import { expect, it } from "vitest";
import type { FilingStore, SyncStateStore } from "@clientmail/core/ports";
import { message, seedFirm, t0, type SeedingStore } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions, type Transactional } from "./options.js";

/** The transactions suite: directory, filing and cursor writes in one transaction. */
export function storeTransactionConformance(
  options: StoreConformanceOptions<Transactional<SeedingStore & SyncStateStore & FilingStore>>,
): void {
  describeStoreSuite(options, "transactions", () => {
    it("rolls back every write when the function throws", async () => {
      const { store, raw } = await options.makeStore();
      const seed = await seedFirm(store, "rollback");
      const token = (await store.acquireLease(seed.firm.id, seed.mailbox.id, "w", 60_000)) as number;
      const failure = new Error("boom");
      await expect(
        store.transaction(async (tx) => {
          await tx.createAccount(seed.firm.id, { name: "Ghost", kind: "person" }, t0);
          await tx.fileMessages(seed.firm.id, [message(seed, 1)], t0);
          await tx.setCursor(seed.firm.id, seed.mailbox.id, token, "c-1");
          await tx.updateLink(seed.firm.id, seed.link.id, { emailSync: false });
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect((await store.listAccounts(seed.firm.id)).map((a) => a.name)).toEqual(["Bolt Ltd"]);
      expect(await raw.countMessages(seed.firm.id)).toBe(0);
      expect(await raw.countSightings(seed.firm.id)).toBe(0);
      expect(await store.getCursor(seed.firm.id, seed.mailbox.id)).toBeUndefined();
      expect((await store.getLink(seed.firm.id, seed.link.id))?.emailSync).toBe(true);
    });

    it("commits together, and a nested transaction that throws rolls back only its own writes", async () => {
      const { store } = await options.makeStore();
      const seed = await seedFirm(store, "nested");
      const result = await store.transaction(async (tx) => {
        await tx.createAccount(seed.firm.id, { name: "Kept", kind: "person" }, t0);
        await tx
          .transaction(async (inner) => {
            await inner.createAccount(seed.firm.id, { name: "Dropped", kind: "person" }, t0);
            throw new Error("inner");
          })
          .catch(() => undefined);
        await tx.createContact(seed.firm.id, { firstName: "Joined", lastName: "Outer" });
        return (await tx.listAccounts(seed.firm.id)).length;
      });
      expect(result).toBe(2);
      expect((await store.listAccounts(seed.firm.id)).map((a) => a.name)).toEqual(["Bolt Ltd", "Kept"]);
      expect((await store.listContacts(seed.firm.id)).map((c) => c.firstName).sort()).toEqual([
        "Cleo",
        "Joined",
      ]);
    });
  });
}
