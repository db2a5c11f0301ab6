/**
 * The Pacing conformance suite: every Pacing adapter (memory, PostgreSQL) runs it. `makePair`
 * returns two handles on the same backend — for a shared backend, two instances as two worker
 * processes would hold — so the suite checks the limits hold across them.
 */
import { describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import type { Pacing } from "@clientmail/core/ports";

export interface PacingConformanceOptions {
  name: string;
  /** Two handles on one backend (the same object is fine for an in-process adapter). */
  makePair: () => Promise<[Pacing, Pacing]>;
}

const unique = (label: string) => `${label}-${globalThis.crypto.randomUUID()}`;

/** Defines the suite under `Pacing conformance: <name>`. */
export function pacingConformance(options: PacingConformanceOptions): void {
  describe(`Pacing conformance: ${options.name}`, () => {
    it("a rate budget holds across handles: a take that does not fit waits for the window, other keys and firms do not", async () => {
      const [a, b] = await options.makePair();
      const firm = unique("firm");
      const budget = { units: 10, windowMs: 2_000 };
      const started = Date.now();
      await a.take(firm, "gmail:ann", 6, budget);
      await b.take(firm, "gmail:bob", 10, budget);
      await b.take(unique("other-firm"), "gmail:ann", 10, budget);
      // None of those waited for a window.
      expect(Date.now() - started).toBeLessThan(budget.windowMs);
      await b.take(firm, "gmail:ann", 6, budget);
      // This one waited until the first take left the window.
      expect(Date.now() - started).toBeGreaterThanOrEqual(budget.windowMs - 20);
    });

    it("concurrency slots hold across handles; a released slot lets a waiter in", async () => {
      const [a, b] = await options.makePair();
      const firm = unique("firm");
      const slots = { capacity: 4, ttlMs: 60_000 };
      const held = await Promise.all([
        a.acquire(firm, "graph:ann", 1, slots),
        b.acquire(firm, "graph:ann", 3, slots),
      ]);
      let admitted = false;
      const waiting = a.acquire(firm, "graph:ann", 1, slots).then((slot) => {
        admitted = true;
        return slot;
      });
      const elsewhere = await b.acquire(firm, "graph:bob", 4, slots);
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(admitted).toBe(false);
      await held[0].release();
      await held[0].release();
      const slot = await waiting;
      expect(admitted).toBe(true);
      await Promise.all([slot.release(), held[1].release(), elsewhere.release()]);
    });

    it("the slots of a process that died expire after their ttl; renewing keeps them, a lost one says so", async () => {
      const [a, b] = await options.makePair();
      const firm = unique("firm");
      const ttlMs = 2_000;
      const dead = await a.tryAcquire(firm, "idle:box", ttlMs);
      expect(dead).toBeDefined();
      expect(await b.tryAcquire(firm, "idle:box", ttlMs)).toBeUndefined();
      const kept = await b.tryAcquire(firm, "idle:other", ttlMs);
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      expect(await kept!.renew()).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      // `dead` was never renewed: its hold has expired and another process takes it over.
      const taken = await b.tryAcquire(firm, "idle:box", ttlMs);
      expect(taken).toBeDefined();
      expect(await dead!.renew()).toBe(false);
      await Promise.all([taken!.release(), kept!.release()]);
    });

    it("an aborted wait rejects with the signal's reason and spends nothing", async () => {
      const [a] = await options.makePair();
      const firm = unique("firm");
      const budget = { units: 5, windowMs: 60_000 };
      await a.take(firm, "gmail:ann", 5, budget);
      const controller = new AbortController();
      const reason = new ClientMailError("transient", "pass deadline");
      const waiting = a.take(firm, "gmail:ann", 1, budget, controller.signal);
      setTimeout(() => controller.abort(reason), 50);
      await expect(waiting).rejects.toBe(reason);
      const slot = await a.acquire(firm, "graph:ann", 1, { capacity: 1, ttlMs: 60_000 });
      const blocked = new AbortController();
      const slotWait = a.acquire(firm, "graph:ann", 1, { capacity: 1, ttlMs: 60_000 }, blocked.signal);
      setTimeout(() => blocked.abort(reason), 50);
      await expect(slotWait).rejects.toBe(reason);
      await slot.release();
      // Nothing was held by the aborted wait.
      await (await a.acquire(firm, "graph:ann", 1, { capacity: 1, ttlMs: 60_000 })).release();
    });

    it("bad inputs are refused with a ValidationError naming the field", async () => {
      const [a] = await options.makePair();
      const refused = async (promise: Promise<unknown>, field: string) => {
        const error = await promise.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(ClientMailError.hasCode(error, "validation_failed")).toBe(true);
        expect((error as Error).message).toContain(field);
      };
      await refused(a.take("f", "k", 0, { units: 1, windowMs: 1 }), "units");
      await refused(a.take("f", "", 1, { units: 1, windowMs: 1 }), "key");
      await refused(a.take("f", "k", 1, { units: 1, windowMs: 1.5 }), "budget.windowMs");
      await refused(a.acquire("f", "k", 1, { capacity: 0, ttlMs: 1 }), "options.capacity");
      await refused(a.tryAcquire("", "k", 1), "firmId");
    });
  });
}
