/**
 * A weighted FIFO semaphore: at most `capacity` units in use. Outlook allows four concurrent
 * requests per app and mailbox; a `$batch` takes all four because Graph forwards up to four of
 * its requests at a time to the mailbox.
 */
export class ConcurrencyLimiter {
  private inUse = 0;
  private readonly waiters: { weight: number; grant: () => void }[] = [];

  constructor(readonly capacity: number) {}

  /** Resolves with a release function once `weight` units are free. Releasing twice is harmless. */
  async acquire(weight = 1, signal?: AbortSignal): Promise<() => void> {
    const units = Math.min(weight, this.capacity);
    if (this.waiters.length === 0 && this.inUse + units <= this.capacity) {
      this.inUse += units;
      return this.releaser(units);
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = { weight: units, grant: resolve };
      this.waiters.push(waiter);
      signal?.addEventListener(
        "abort",
        () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) {
            this.waiters.splice(index, 1);
            reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
          }
        },
        { once: true },
      );
    });
    return this.releaser(units);
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

const sharedLimiters = new Map<string, ConcurrencyLimiter>();

/**
 * The limiter shared by every provider instance of this process that talks to `mailbox`: the
 * Outlook limit is per app and mailbox, and a shared mailbox may be connected by several members.
 */
export function limiterForMailbox(mailbox: string, capacity: number): ConcurrencyLimiter {
  const key = `${mailbox.toLowerCase()}#${capacity}`;
  let limiter = sharedLimiters.get(key);
  if (!limiter) {
    limiter = new ConcurrencyLimiter(capacity);
    sharedLimiters.set(key, limiter);
  }
  return limiter;
}
