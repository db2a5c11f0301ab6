/**
 * R4 across the roles: text a store cannot hold is refused the same way by every method that
 * takes text, before anything is written.
 */
import { expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import type { FilingStore, NotificationStore } from "@clientmail/core/ports";
import { message, seedFirm, t0, type SeedingStore } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions } from "./options.js";

/** The storable-text suite (R4): filing, the directory and notifications refuse the same values. */
export function storableTextConformance(
  options: StoreConformanceOptions<SeedingStore & FilingStore & NotificationStore>,
): void {
  describeStoreSuite(options, "storable text", () => {
    it("R4: text a store cannot hold (U+0000, lone surrogates) is refused with validation_failed naming the field, and nothing is written", async () => {
      const { store, raw } = await options.makeStore();
      const seed = await seedFirm(store, "storable");
      const F = seed.firm.id;
      const refused = async (promise: Promise<unknown>, field: string) => {
        const error = await promise.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(ClientMailError.hasCode(error, "validation_failed"), field).toBe(true);
        expect(JSON.stringify((error as ClientMailError).details)).toContain(field);
      };
      await refused(store.fileMessages(F, [message(seed, 1, { subject: "Invoice\u0000" })], t0), "subject");
      await refused(store.fileMessages(F, [message(seed, 2, { text: "half \ud800 pair" })], t0), "text");
      await refused(
        store.fileMessages(
          F,
          [message(seed, 3), message(seed, 4, { from: [{ name: "J\u0000o", address: "jo@x.example" }] })],
          t0,
        ),
        "from.0.name",
      );
      expect(await raw.countMessages(F)).toBe(0);
      await refused(store.createAccount(F, { name: "Bad\u0000Co", kind: "business" }, t0), "name");
      await refused(store.createContact(F, { firstName: "\udc00", lastName: "X" }), "firstName");
      await refused(store.updateAccount(F, seed.account.id, { name: "x\u0000" }), "name");
      expect((await store.getAccount(F, seed.account.id))?.name).toBe("Bolt Ltd");
      await refused(
        store.createNotification(
          F,
          { memberId: seed.member.id, kind: "x", payload: { subject: "\u0000" } },
          t0,
        ),
        "subject",
      );
      expect(await store.listNotifications(F, seed.member.id, t0)).toEqual([]);
      // A well-formed pair (an emoji) and other control characters are fine.
      const [ok] = await store.fileMessages(F, [message(seed, 5, { subject: "Tax 📎 \u0007 ok" })], t0);
      expect((await store.getMessage(F, ok!.id))?.subject).toBe("Tax 📎 \u0007 ok");
    });
  });
}
