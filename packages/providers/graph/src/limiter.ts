/**
 * A weighted FIFO semaphore: at most `capacity` units in use. Outlook allows four concurrent
 * requests per app and mailbox; a `$batch` takes all four because Graph forwards up to four of
 * its requests at a time to the mailbox.
 *
 * The limit is per app and mailbox, and a shared mailbox may be connected by several members:
 * the host passes one limiter to every provider of the same mailbox (`settings.limiter`), as it
 * passes a `pg.Pool` — nothing is shared behind its back.
 */
import { abortError } from "@clientmail/provider-utils";

/** A request waiting for units. */
interface Waiter {
  weight: number;
  grant: () => void;
  /** Rejects the waiter with the abort's error. */
  abort: (signal: AbortSignal) => void;
}

/** A concurrency limit shared by the providers of one mailbox. */
export class ConcurrencyLimiter {
  private inUse = 0;
  private readonly waiters: Waiter[] = [];
  /**
   * The waiters of each caller's signal, with the one abort listener this limiter keeps on it. A
   * page fetches many messages under one signal: one listener per waiter would put dozens on it
   * (and Node warns of a leak past ten).
   */
  private readonly bySignal = new Map<AbortSignal, { waiters: Set<Waiter>; onAbort: () => void }>();

  /** `capacity`: requests in flight at most; Outlook allows 4 per app and mailbox. */
  constructor(readonly capacity: number = 4) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError("capacity must be a positive integer");
  }

  /** Resolves with a release function once `weight` units are free. Releasing twice is harmless. */
  async acquire(weight = 1, signal?: AbortSignal): Promise<() => void> {
    const units = Math.min(weight, this.capacity);
    if (signal?.aborted) throw abortError(signal, "graph");
    if (this.waiters.length === 0 && this.inUse + units <= this.capacity) {
      this.inUse += units;
      return this.releaser(units);
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        weight: units,
        grant: () => {
          if (signal) this.unwatch(signal, waiter);
          resolve();
        },
        abort: (aborted) => reject(abortError(aborted, "graph")),
      };
      this.waiters.push(waiter);
      if (signal) this.watch(signal, waiter);
    });
    return this.releaser(units);
  }

  private watch(signal: AbortSignal, waiter: Waiter): void {
    let entry = this.bySignal.get(signal);
    if (!entry) {
      const waiters = new Set<Waiter>();
      const onAbort = () => {
        this.bySignal.delete(signal);
        for (const aborted of waiters) {
          const index = this.waiters.indexOf(aborted);
          if (index >= 0) this.waiters.splice(index, 1);
          aborted.abort(signal);
        }
        // Units the aborted waiters were ahead of may now be granted.
        this.drain();
      };
      entry = { waiters, onAbort };
      this.bySignal.set(signal, entry);
      signal.addEventListener("abort", onAbort, { once: true });
    }
    entry.waiters.add(waiter);
  }

  private unwatch(signal: AbortSignal, waiter: Waiter): void {
    const entry = this.bySignal.get(signal);
    if (!entry) return;
    entry.waiters.delete(waiter);
    if (entry.waiters.size > 0) return;
    signal.removeEventListener("abort", entry.onAbort);
    this.bySignal.delete(signal);
  }

  /** Units currently held. */
  get active(): number {
    return this.inUse;
  }

  private releaser(units: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse -= units;
      this.drain();
    };
  }

  private drain(): void {
    while (this.waiters.length > 0) {
      const next = this.waiters[0];
      if (!next || this.inUse + next.weight > this.capacity) return;
      this.waiters.shift();
      this.inUse += next.weight;
      next.grant();
    }
  }
}
