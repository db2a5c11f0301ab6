/**
 * `PushStore` conformance: push registrations (Y2) keyed by (firm, subscription id), replaced
 * whole, listed per mailbox, never seen from another firm, and written atomically with the rest
 * of a transaction (the renewal job is enqueued in the same one, R8).
 */
import { expect, it } from "vitest";
import type { PushRegistrationRecord, PushStore } from "@clientmail/core/ports";
import { expectCode, seedFirm, t0, type SeedingStore } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions, type Transactional } from "./options.js";

/** The PushStore suite. */
export function pushStoreConformance(
  options: StoreConformanceOptions<Transactional<SeedingStore & PushStore>>,
): void {
  describeStoreSuite(options, "PushStore", () => {
    it("Y2: registrations are upserted by subscription id, listed per mailbox, removed once", async () => {
      const { store } = await options.makeStore();
      const { firm, mailbox } = await seedFirm(store, "push");
      const graph: PushRegistrationRecord = {
        mailboxId: mailbox.id,
        subscriptionId: "sub-b",
        provider: "graph",
        resource: "inbox",
        secretHash: "ab".repeat(32),
        expiresAt: new Date(t0.getTime() + 3 * 86_400_000),
      };
      await store.putPushRegistration(firm.id, graph);
      await store.putPushRegistration(firm.id, { ...graph, subscriptionId: "sub-a", resource: "sentitems" });
      const renewed = { ...graph, expiresAt: new Date(t0.getTime() + 6 * 86_400_000) };
      await store.putPushRegistration(firm.id, renewed);
      expect(await store.getPushRegistration(firm.id, "sub-b")).toEqual(renewed);
      expect((await store.listPushRegistrations(firm.id, mailbox.id)).map((r) => r.subscriptionId)).toEqual([
        "sub-a",
        "sub-b",
      ]);
      const read = (await store.getPushRegistration(firm.id, "sub-b"))!;
      read.resource = "changed";
      expect((await store.getPushRegistration(firm.id, "sub-b"))!.resource).toBe("inbox");
      expect(await store.removePushRegistration(firm.id, "sub-b")).toBe(true);
      expect(await store.removePushRegistration(firm.id, "sub-b")).toBe(false);
      expect(await store.getPushRegistration(firm.id, "sub-b")).toBeUndefined();
      expect(await store.listPushRegistrations(firm.id, "no-such-mailbox")).toEqual([]);
    });

    it("Y2, R8: a registration for another firm's mailbox is not_found; another firm sees none; a rolled-back one is not kept", async () => {
      const { store } = await options.makeStore();
      const a = await seedFirm(store, "push-a");
      const b = await seedFirm(store, "push-b");
      const record: PushRegistrationRecord = {
        mailboxId: a.mailbox.id,
        subscriptionId: "gmail:ann@push-a.example",
        provider: "gmail",
        resource: "projects/p/topics/t",
        secretHash: "",
        expiresAt: t0,
      };
      await expectCode(store.putPushRegistration(b.firm.id, record), "not_found");
      await store.putPushRegistration(a.firm.id, record);
      expect(await store.getPushRegistration(b.firm.id, record.subscriptionId)).toBeUndefined();
      expect(await store.removePushRegistration(b.firm.id, record.subscriptionId)).toBe(false);
      await expect(
        store.transaction(async (tx) => {
          await tx.putPushRegistration(a.firm.id, { ...record, subscriptionId: "rolled-back" });
          throw new Error("the renewal job could not be enqueued");
        }),
      ).rejects.toThrow("renewal job");
      expect(await store.getPushRegistration(a.firm.id, "rolled-back")).toBeUndefined();
      await expectCode(
        store.putPushRegistration(a.firm.id, { ...record, subscriptionId: "nul\u0000" }),
        "validation_failed",
      );
    });
  });
}
