/**
 * `OutboxStore` conformance: the outbox state machine and its exactly-once claim (S4).
 */
import { describe, expect, it } from "vitest";
import type { OutboxStore } from "@clientmail/core/ports";
import { minutes, seedFirm, t0, type SeedingStore } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions } from "./options.js";

/** The OutboxStore suite. */
export function outboxStoreConformance(options: StoreConformanceOptions<SeedingStore & OutboxStore>): void {
  describeStoreSuite(options, "OutboxStore", () => {
    describe("outbox", () => {
      it("S4: a scheduled message is claimed exactly once and moves scheduled -> submitting -> sent", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "outbox");
        const { firm, mailbox, member, account } = seed;
        const input = {
          mailboxId: mailbox.id,
          actor: { kind: "member", memberId: member.id } as const,
          accountIds: [account.id],
          threadId: seed.thread,
          draft: { subject: "Your return", to: ["cleo@bolt.example"] },
          sendAt: minutes(30),
        };
        const o = await store.createOutbox(firm.id, input, t0);
        expect(o).toMatchObject({
          state: "scheduled",
          attempts: 0,
          claimedBy: undefined,
          draft: input.draft,
          sendAt: minutes(30),
        });
        const later = await store.createOutbox(firm.id, { ...input, sendAt: minutes(90) }, t0);
        expect(await store.listDueOutbox(firm.id, minutes(29), 10)).toEqual([]);
        expect((await store.listDueOutbox(firm.id, minutes(30), 10)).map((x) => x.id)).toEqual([o.id]);
        expect((await store.listOutbox(firm.id, { accountId: account.id })).map((x) => x.id)).toEqual([
          o.id,
          later.id,
        ]);

        const edited = await store.updateScheduledOutbox(firm.id, o.id, {
          draft: { subject: "Your 2025 return" },
        });
        expect(edited?.draft).toEqual({ subject: "Your 2025 return" });
        expect(await store.cancelOutbox(firm.id, later.id)).toBe(true);
        expect(await store.cancelOutbox(firm.id, later.id)).toBe(false);
        expect((await store.listOutbox(firm.id, { state: "cancelled" })).map((x) => x.id)).toEqual([
          later.id,
        ]);

        const claims = await Promise.all(
          ["w1", "w2", "w3", "w4"].map((w) => store.claimOutbox(firm.id, o.id, w)),
        );
        expect(claims.filter(Boolean)).toHaveLength(1);
        const winner = ["w1", "w2", "w3", "w4"][claims.indexOf(true)] ?? "";
        expect(await store.updateScheduledOutbox(firm.id, o.id, { draft: {} })).toBeUndefined();
        expect(await store.cancelOutbox(firm.id, o.id)).toBe(false);
        expect(
          await store.markOutboxSent(firm.id, o.id, "someone-else", { at: minutes(31), messageId: "<x@y>" }),
        ).toBe(false);
        expect(
          await store.markOutboxFailed(firm.id, o.id, winner, { error: "transient", retryAt: minutes(40) }),
        ).toBe(true);
        expect(await store.getOutbox(firm.id, o.id)).toMatchObject({
          state: "scheduled",
          sendAt: minutes(40),
          lastError: "transient",
          attempts: 1,
        });
        expect(await store.claimOutbox(firm.id, o.id, "w5")).toBe(true);
        expect(
          await store.markOutboxSent(firm.id, o.id, "w5", { at: minutes(41), messageId: "<sent@ann>" }),
        ).toBe(true);
        expect(await store.getOutbox(firm.id, o.id)).toMatchObject({
          state: "sent",
          sentAt: minutes(41),
          messageId: "<sent@ann>",
          attempts: 2,
        });
        expect(await store.claimOutbox(firm.id, o.id, "w6")).toBe(false);

        const doomed = await store.createOutbox(firm.id, input, t0);
        await store.claimOutbox(firm.id, doomed.id, "w7");
        expect(
          await store.markOutboxFailed(firm.id, doomed.id, "w7", {
            error: "permission_denied",
            retryAt: undefined,
          }),
        ).toBe(true);
        expect((await store.getOutbox(firm.id, doomed.id))?.state).toBe("failed");
      });
    });
  });
}
