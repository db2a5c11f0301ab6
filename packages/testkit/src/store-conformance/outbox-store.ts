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

      it("S4: a failed (held) message is released once by a person: sent again, or recorded as sent", async () => {
        const { store } = await options.makeStore();
        const { firm, mailbox, member, account } = await seedFirm(store, "outbox-release");
        const input = {
          mailboxId: mailbox.id,
          actor: { kind: "member" as const, memberId: member.id },
          accountIds: [account.id],
          threadId: undefined,
          draft: { subject: "Held" },
          sendAt: minutes(0),
        };
        const held = async () => {
          const o = await store.createOutbox(firm.id, input, t0);
          await store.claimOutbox(firm.id, o.id, "w1");
          await store.markOutboxFailed(firm.id, o.id, "w1", { error: "held", retryAt: undefined });
          return o;
        };
        const again = await held();
        const scheduled = await store.createOutbox(firm.id, input, t0);
        expect(await store.releaseFailedOutbox(firm.id, scheduled.id, { sendAt: minutes(5) })).toBe(false);
        expect(await store.releaseFailedOutbox(firm.id, again.id, { sendAt: minutes(5) })).toBe(true);
        expect(await store.getOutbox(firm.id, again.id)).toMatchObject({
          state: "scheduled",
          sendAt: minutes(5),
          lastError: undefined,
          claimedBy: undefined,
        });
        expect(await store.releaseFailedOutbox(firm.id, again.id, { sendAt: minutes(6) })).toBe(false);
        const went = await held();
        expect(
          await store.releaseFailedOutbox(firm.id, went.id, { sentAt: minutes(7), messageId: "<held@ann>" }),
        ).toBe(true);
        expect(await store.getOutbox(firm.id, went.id)).toMatchObject({
          state: "sent",
          sentAt: minutes(7),
          messageId: "<held@ann>",
          lastError: undefined,
        });
        expect(await store.releaseFailedOutbox(firm.id, went.id, { sendAt: minutes(8) })).toBe(false);
      });

      it("S4: a message left submitting by a dead run is taken over by exactly one worker", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "outbox-reclaim");
        const { firm, mailbox, member, account } = seed;
        const o = await store.createOutbox(
          firm.id,
          {
            mailboxId: mailbox.id,
            actor: { kind: "automation", name: "Engagement letters", memberId: member.id },
            accountIds: [account.id],
            threadId: undefined,
            draft: { subject: "Engagement letter" },
            sendAt: minutes(0),
          },
          t0,
        );
        expect(await store.reclaimOutbox(firm.id, o.id, "dead", "r0")).toBe(false);
        expect(await store.claimOutbox(firm.id, o.id, "dead")).toBe(true);
        expect(await store.reclaimOutbox(firm.id, o.id, "not-the-holder", "r0")).toBe(false);
        const takers = ["r1", "r2", "r3"];
        const taken = await Promise.all(takers.map((w) => store.reclaimOutbox(firm.id, o.id, "dead", w)));
        expect(taken.filter(Boolean)).toHaveLength(1);
        const winner = takers[taken.indexOf(true)]!;
        expect(await store.getOutbox(firm.id, o.id)).toMatchObject({
          state: "submitting",
          claimedBy: winner,
          attempts: 2,
          actor: { kind: "automation", name: "Engagement letters", memberId: member.id },
        });
        expect(
          await store.markOutboxSent(firm.id, o.id, "dead", { at: minutes(1), messageId: "<a@b>" }),
        ).toBe(false);
        expect(
          await store.markOutboxSent(firm.id, o.id, winner, { at: minutes(1), messageId: "<a@b>" }),
        ).toBe(true);
        expect(await store.reclaimOutbox(firm.id, o.id, winner, "late")).toBe(false);
      });
    });
  });
}
