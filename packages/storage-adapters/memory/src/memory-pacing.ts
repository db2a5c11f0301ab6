/**
 * `createMemoryPacing`: the Pacing port for one process (the memory store's companion). Same
 * semantics as `createPostgresPacing`, timed by the injected clock.
 */
import {
  checkPacingAcquire,
  checkPacingTake,
  checkPacingTryAcquire,
  pacingSleep,
} from "@clientmail/core/ports";
import {
  systemClock,
  type Clock,
  type Pacing,
  type PacingSlot,
  type RateBudget,
} from "@clientmail/core/ports";

/** Settings of {@link createMemoryPacing}. */
export interface MemoryPacingSettings {
  clock?: Clock | undefined;
  /** How to wait; tests pass a virtual one. Must reject when `signal` aborts. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

interface Held {
  weight: number;
  expiresAt: number;
}

const k = (firmId: string, key: string) => `${firmId}\u0000${key}`;

class MemoryPacing implements Pacing {
  private readonly spends = new Map<string, { at: number; units: number }[]>();
  private readonly slots = new Map<string, Map<number, Held>>();
  private readonly wakers = new Set<() => void>();
  private nextSlot = 1;
  private readonly clock: Clock;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(settings: MemoryPacingSettings) {
    this.clock = settings.clock ?? systemClock;
    this.sleep = settings.sleep ?? pacingSleep;
  }

  async take(
    firmId: string,
    key: string,
    units: number,
    budget: RateBudget,
    signal?: AbortSignal,
  ): Promise<void> {
    checkPacingTake({ firmId, key, units, budget });
    const list = this.spends.get(k(firmId, key)) ?? [];
    this.spends.set(k(firmId, key), list);
    const wanted = Math.min(units, budget.units);
    for (;;) {
      signal?.throwIfAborted();
      const now = this.clock.now().getTime();
      while (list.length > 0 && list[0]!.at <= now - budget.windowMs) list.shift();
      let used = list.reduce((sum, spend) => sum + spend.units, 0);
      if (used + wanted <= budget.units) {
        list.push({ at: now, units });
        return;
      }
      let until = now;
      for (const spend of list) {
        used -= spend.units;
        until = spend.at + budget.windowMs;
        if (used + wanted <= budget.units) break;
      }
      await this.sleep(Math.max(1, until - now + 1), signal);
    }
  }

  async acquire(
    firmId: string,
    key: string,
    weight: number,
    options: { capacity: number; ttlMs: number },
    signal?: AbortSignal,
  ): Promise<PacingSlot> {
    checkPacingAcquire({ firmId, key, weight, options });
    const units = Math.min(weight, options.capacity);
    for (;;) {
      signal?.throwIfAborted();
      const slot = this.tryHold(firmId, key, units, options.capacity, options.ttlMs);
      if (slot) return slot;
      // Woken by a release, or when the earliest hold expires.
      const held = [...(this.slots.get(k(firmId, key))?.values() ?? [])];
      const until = Math.min(...held.map((h) => h.expiresAt)) - this.clock.now().getTime();
      const woken = new AbortController();
      const onAbort = () => woken.abort();
      signal?.addEventListener("abort", onAbort, { once: true });
      const wake = () => woken.abort();
      this.wakers.add(wake);
      try {
        await this.sleep(Math.max(1, until + 1), woken.signal);
      } catch {
        // Woken by a release, or aborted: the loop checks `signal`.
      } finally {
        this.wakers.delete(wake);
        signal?.removeEventListener("abort", onAbort);
      }
    }
  }

  async tryAcquire(firmId: string, key: string, ttlMs: number): Promise<PacingSlot | undefined> {
    await Promise.resolve();
    checkPacingTryAcquire({ firmId, key, ttlMs });
    return this.tryHold(firmId, key, 1, 1, ttlMs);
  }

  private tryHold(firmId: string, key: string, weight: number, capacity: number, ttlMs: number) {
    const now = this.clock.now().getTime();
    const held = this.slots.get(k(firmId, key)) ?? new Map<number, Held>();
    this.slots.set(k(firmId, key), held);
    for (const [id, hold] of held) if (hold.expiresAt <= now) held.delete(id);
    const used = [...held.values()].reduce((sum, hold) => sum + hold.weight, 0);
    if (used + weight > capacity) return undefined;
    const id = this.nextSlot++;
    held.set(id, { weight, expiresAt: now + ttlMs });
    const slot: PacingSlot = {
      release: () => {
        if (held.delete(id)) for (const wake of [...this.wakers]) wake();
        return Promise.resolve();
      },
      renew: () => {
        const hold = held.get(id);
        const at = this.clock.now().getTime();
        if (!hold || hold.expiresAt <= at) {
          held.delete(id);
          return Promise.resolve(false);
        }
        hold.expiresAt = at + ttlMs;
        return Promise.resolve(true);
      },
    };
    return slot;
  }
}

/** Creates the in-process Pacing (see the Pacing port). */
export function createMemoryPacing(settings: MemoryPacingSettings = {}): Pacing {
  return new MemoryPacing(settings);
}
