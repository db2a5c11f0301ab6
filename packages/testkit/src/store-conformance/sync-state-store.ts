/**
 * `SyncStateStore` conformance: leases with fencing tokens and fenced cursor writes (Y6),
 * a mailbox's latest completeness audit (R1, R2), and the quarantine (R2).
 */
import { describe, expect, it } from "vitest";
import type { FilingStore, SyncStateStore } from "@clientmail/core/ports";
import { expectCode, message, minutes, seedFirm, t0, type SeedingStore } from "./fixtures.js";
import { describeStoreSuite, type StoreConformanceOptions, type Transactional } from "./options.js";

/**
 * The SyncStateStore suite. A fenced cursor write must roll back the page filed in the same
 * transaction, so the store files messages (`FilingStore`) and runs transactions too.
 */
export function syncStateStoreConformance(
  options: StoreConformanceOptions<Transactional<SeedingStore & SyncStateStore & FilingStore>>,
): void {
  const advance =
    options.advanceClock ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  describeStoreSuite(options, "SyncStateStore", () => {
    describe("leases and cursors", () => {
      it("Y6: only one of two racing workers gets the lease; the holder renews and releases", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "lease");
        const { firm, mailbox } = seed;
        const [a, b] = await Promise.all([
          store.acquireLease(firm.id, mailbox.id, "worker-a", 60_000),
          store.acquireLease(firm.id, mailbox.id, "worker-b", 60_000),
        ]);
        expect([a, b].filter((x) => x !== undefined)).toHaveLength(1);
        const [holder, token] = a !== undefined ? ["worker-a", a] : ["worker-b", b as number];
        expect(await store.acquireLease(firm.id, mailbox.id, holder, 60_000)).toBe(token);
        expect(await store.renewLease(firm.id, mailbox.id, token, 60_000)).toBe(true);
        await store.setCursor(firm.id, mailbox.id, token, "cursor-1");
        expect(await store.getCursor(firm.id, mailbox.id)).toBe("cursor-1");
        await store.releaseLease(firm.id, mailbox.id, token);
        expect(await store.renewLease(firm.id, mailbox.id, token, 60_000)).toBe(false);
        await expectCode(store.setCursor(firm.id, mailbox.id, token, "after-release"), "lease_lost");
        const next = await store.acquireLease(firm.id, mailbox.id, "worker-c", 60_000);
        expect(next).toBeGreaterThan(token);
        expect(await store.acquireLease(firm.id, "no-such-mailbox", "worker-c", 60_000)).toBeUndefined();
      });

      it("R8 Y2: the store says how long a live lease still runs, on its own clock, and nothing once it is over", async () => {
        const { store } = await options.makeStore();
        const { firm, mailbox } = await seedFirm(store, "remaining");
        expect(await store.leaseRemainingMs(firm.id, mailbox.id)).toBeUndefined();
        const token = (await store.acquireLease(firm.id, mailbox.id, "worker-a", 60_000)) as number;
        const left = (await store.leaseRemainingMs(firm.id, mailbox.id)) as number;
        expect(left).toBeGreaterThan(50_000);
        expect(left).toBeLessThanOrEqual(60_000);
        await store.releaseLease(firm.id, mailbox.id, token);
        expect(await store.leaseRemainingMs(firm.id, mailbox.id)).toBeUndefined();
        // Held for no longer than its TTL after the last renewal: then nothing remains.
        const short = (await store.acquireLease(firm.id, mailbox.id, "worker-b", 200)) as number;
        expect(await store.renewLease(firm.id, mailbox.id, short, 300)).toBe(true);
        expect((await store.leaseRemainingMs(firm.id, mailbox.id)) as number).toBeLessThanOrEqual(300);
        await advance(400);
        expect(await store.leaseRemainingMs(firm.id, mailbox.id)).toBeUndefined();
        expect(await store.leaseRemainingMs(firm.id, "no-such-mailbox")).toBeUndefined();
      });

      it("Y6: a stale worker's cursor write is fenced and its whole page rolls back", async () => {
        const { store, raw } = await options.makeStore();
        const seed = await seedFirm(store, "fence");
        const { firm, mailbox } = seed;
        const stale = await store.acquireLease(firm.id, mailbox.id, "worker-a", 200);
        expect(stale).toBeDefined();
        await store.setCursor(firm.id, mailbox.id, stale as number, "a-1");
        expect(await store.acquireLease(firm.id, mailbox.id, "worker-b", 60_000)).toBeUndefined();
        await advance(400);
        const fresh = await store.acquireLease(firm.id, mailbox.id, "worker-b", 60_000);
        expect(fresh).toBe((stale as number) + 1);
        await store.setCursor(firm.id, mailbox.id, fresh as number, "b-1");

        await expectCode(
          store.transaction(async (tx) => {
            await tx.fileMessages(firm.id, [message(seed, 1)], t0);
            await tx.setCursor(firm.id, mailbox.id, stale as number, "a-2");
          }),
          "lease_lost",
        );
        await expectCode(store.setCursor(firm.id, mailbox.id, stale as number, "a-3"), "lease_lost");
        expect(await store.renewLease(firm.id, mailbox.id, stale as number, 60_000)).toBe(false);
        await store.releaseLease(firm.id, mailbox.id, stale as number);
        expect(await store.getCursor(firm.id, mailbox.id)).toBe("b-1");
        expect(await raw.countMessages(firm.id)).toBe(0);
        await store.setCursor(firm.id, mailbox.id, fresh as number, "b-2");
        expect(await store.getCursor(firm.id, mailbox.id)).toBe("b-2");
      });
    });

    describe("mailbox state", () => {
      it("R1, R2: a mailbox keeps its latest completeness audit", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "verified");
        expect(seed.mailbox.verification).toBeUndefined();
        const verification = {
          at: minutes(30),
          complete: false,
          clientMessages: 120,
          missing: 3,
          repaired: 2,
          quarantined: 1,
        };
        const updated = await store.setMailboxVerification(seed.firm.id, seed.mailbox.id, verification);
        expect(updated.verification).toEqual(verification);
        expect((await store.getMailbox(seed.firm.id, seed.mailbox.id))!.verification).toEqual(verification);
        await expectCode(
          store.setMailboxVerification(seed.firm.id, "no-such-mailbox", verification),
          "not_found",
        );
      });
    });

    describe("quarantine", () => {
      it("R2: quarantine entries are upserted per (mailbox, provider id), listed soonest first, filtered by due time, and removed", async () => {
        const { store } = await options.makeStore();
        const seed = await seedFirm(store, "quarantine");
        const F = seed.firm.id;
        const entry = (providerId: string, next: number, attempts = 1) => ({
          mailboxId: seed.mailbox.id,
          providerId,
          reason: "unparseable" as const,
          detail: "no readable part",
          attempts,
          firstAttemptAt: t0,
          lastAttemptAt: minutes(attempts),
          nextAttemptAt: minutes(next),
        });
        await store.putQuarantine(F, [entry("INBOX:1:2", 30), entry("INBOX:1:1", 10)]);
        await store.putQuarantine(F, [
          { ...entry("INBOX:1:2", 5, 2), reason: "too_large", detail: "42 MiB" },
        ]);
        expect(await store.listQuarantine(F)).toEqual([
          { ...entry("INBOX:1:2", 5, 2), reason: "too_large", detail: "42 MiB" },
          entry("INBOX:1:1", 10),
        ]);
        expect((await store.listQuarantine(F, { dueAt: minutes(7) })).map((e) => e.providerId)).toEqual([
          "INBOX:1:2",
        ]);
        expect(await store.listQuarantine(F, { limit: 1, mailboxId: seed.mailbox.id })).toHaveLength(1);
        expect(await store.listQuarantine(F, { mailboxId: "no-such-mailbox" })).toEqual([]);
        expect(await store.removeQuarantine(F, seed.mailbox.id, ["INBOX:1:2", "INBOX:1:9"])).toBe(1);
        expect((await store.listQuarantine(F)).map((e) => e.providerId)).toEqual(["INBOX:1:1"]);
        await expectCode(
          store.putQuarantine(F, [{ ...entry("x", 1), mailboxId: "no-such-mailbox" }]),
          "not_found",
        );
        // Atomic with the caller's transaction.
        await store
          .transaction(async (tx) => {
            await tx.putQuarantine(F, [entry("INBOX:1:3", 1)]);
            throw new Error("roll back");
          })
          .catch(() => undefined);
        expect((await store.listQuarantine(F)).map((e) => e.providerId)).toEqual(["INBOX:1:1"]);
      });
    });
  });
}
