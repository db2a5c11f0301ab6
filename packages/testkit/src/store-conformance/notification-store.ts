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

      it("N1: createNotifications acts as one call per input, in order, and creates nothing for an unknown member", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "notify-batch");
        const { firm, member } = seed;
        expect(await store.createNotifications(firm.id, [], t0)).toEqual([]);
        const earlier = await store.createNotification(
          firm.id,
          { memberId: member.id, kind: "new_client_mail", payload: { n: 0 }, dedupeKey: "m:0" },
          t0,
        );
        const made = await store.createNotifications(
          firm.id,
          [
            { memberId: member.id, kind: "new_client_mail", payload: { n: 1 }, dedupeKey: "m:1" },
            { memberId: member.id, kind: "new_client_mail", payload: { n: 0 }, dedupeKey: "m:0" },
            { memberId: member.id, kind: "new_client_mail", payload: { n: 2 }, dedupeKey: "m:1" },
            { memberId: member.id, kind: "bulk_update_report", payload: { n: 3 } },
          ],
          minutes(1),
        );
        expect(made[1]).toEqual(earlier);
        expect(made[2]).toEqual(made[0]);
        expect(made[0]).toMatchObject({ memberId: member.id, payload: { n: 1 }, dedupeKey: "m:1" });
        expect(made[0]?.createdAt).toEqual(minutes(1));
        expect(made[3]).toMatchObject({
          kind: "bulk_update_report",
          payload: { n: 3 },
          dedupeKey: undefined,
        });
        expect(
          (await store.listNotifications(firm.id, member.id, minutes(2))).map((n) => n.id).sort(),
        ).toEqual([earlier.id, made[0]!.id, made[3]!.id].sort());
        await expectCode(
          store.createNotifications(
            firm.id,
            [
              { memberId: member.id, kind: "new_client_mail", payload: {}, dedupeKey: "m:9" },
              { memberId: "no-such-member", kind: "new_client_mail", payload: {} },
            ],
            minutes(3),
          ),
          "not_found",
        );
        await expectCode(
          store.createNotifications(
            firm.id,
            [{ memberId: member.id, kind: "new_client_mail", payload: { bad: "\u0000" } }],
            minutes(3),
          ),
          "validation_failed",
        );
        expect(await store.listNotifications(firm.id, member.id, minutes(4))).toHaveLength(3);
      });
    });
  });
}
