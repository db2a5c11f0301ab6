/**
 * `NotificationStore` conformance: dedupe keys, snoozing and dismissal (N3).
 */
import { describe, expect, it } from "vitest";
import type { NotificationStore } from "@clientmail/core/ports";
import { expectCode, minutes, seedFirm, t0, type SeedingStore } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions } from "./options.js";

/** The NotificationStore suite. */
export function notificationStoreConformance(
  options: StoreConformanceOptions<SeedingStore & NotificationStore>,
): void {
  describeStoreSuite(options, "NotificationStore", () => {
    describe("notifications", () => {
      it("N3: notifications hide while snoozed and never come back once dismissed", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "notify");
        const { firm, member } = seed;
        const a = await store.createNotification(
          firm.id,
          {
            memberId: member.id,
            kind: "mailbox_sync_stopped",
            payload: { mailboxId: "m" },
            dedupeKey: "stop:m",
          },
          t0,
        );
        const again = await store.createNotification(
          firm.id,
          {
            memberId: member.id,
            kind: "mailbox_sync_stopped",
            payload: { mailboxId: "other" },
            dedupeKey: "stop:m",
          },
          minutes(1),
        );
        expect(again).toEqual(a);
        const b = await store.createNotification(
          firm.id,
          { memberId: member.id, kind: "new_mail", payload: { n: 1 } },
          minutes(2),
        );
        expect((await store.listNotifications(firm.id, member.id, minutes(3))).map((n) => n.id)).toEqual([
          b.id,
          a.id,
        ]);
        expect(await store.snoozeNotification(firm.id, a.id, minutes(60))).toBe(true);
        expect((await store.listNotifications(firm.id, member.id, minutes(59))).map((n) => n.id)).toEqual([
          b.id,
        ]);
        expect((await store.listNotifications(firm.id, member.id, minutes(60))).map((n) => n.id)).toEqual([
          b.id,
          a.id,
        ]);
        expect(await store.dismissNotification(firm.id, a.id, minutes(61))).toBe(true);
        expect(await store.dismissNotification(firm.id, a.id, minutes(62))).toBe(true);
        expect(await store.snoozeNotification(firm.id, a.id, minutes(70))).toBe(false);
        expect((await store.listNotifications(firm.id, member.id, minutes(10_000))).map((n) => n.id)).toEqual(
          [b.id],
        );
        expect(await store.dismissNotification(firm.id, "no-such-id", t0)).toBe(false);
        await expectCode(
          store.createNotification(firm.id, { memberId: "nobody", kind: "x", payload: {} }, t0),
          "not_found",
        );
      });
    });
  });
}
