import type { Clock } from "@clientmail/core/ports";
import { throwIfAborted, type Sleep } from "@clientmail/provider-utils";

const windowMs = 60_000;

/**
 * Spends Gmail quota units no faster than a per-user budget over any sliding minute. Gmail
 * enforces its per-user limit over a rolling window, so staying under the budget over every
 * window (not just per calendar minute) is what keeps `userRateLimitExceeded` away.
 */
export class QuotaPacer {
  private readonly spent: { at: number; units: number }[] = [];
  private head = 0;
  private inWindow = 0;
  /** Units spent over the pacer's life. */
  totalUnits = 0;
  /** Milliseconds spent waiting for budget. */
  waitedMs = 0;

  constructor(
    /** Units allowed per sliding minute. */
    readonly budgetPerMinute: number,
    private readonly clock: Clock,
    private readonly sleep: Sleep,
    /** Also spends every take from a budget shared with other processes, after this one's. */
    private readonly shared?: (units: number, signal?: AbortSignal) => Promise<void>,
  ) {}

  private prune(now: number): void {
    while (this.head < this.spent.length && this.spent[this.head]!.at <= now - windowMs) {
      this.inWindow -= this.spent[this.head]!.units;
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.spent.length) {
      this.spent.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Units that could be spent right now without waiting. */
  available(): number {
    this.prune(this.clock.now().getTime());
    return Math.max(0, this.budgetPerMinute - this.inWindow);
  }

  /** Waits until `units` fit in the budget, then records them as spent. */
  async take(units: number, signal?: AbortSignal): Promise<void> {
    if (units <= 0) return;
    const wanted = Math.min(units, this.budgetPerMinute);
    for (;;) {
      throwIfAborted(signal, "gmail");
      const now = this.clock.now().getTime();
      this.prune(now);
      if (this.inWindow + wanted <= this.budgetPerMinute) {
        this.spent.push({ at: now, units });
        this.inWindow += units;
        this.totalUnits += units;
        if (this.shared) {
          const started = this.clock.now().getTime();
          await this.shared(units, signal);
          this.waitedMs += this.clock.now().getTime() - started;
        }
        return;
      }
      // Wait for the oldest entries to leave the window until enough budget is free.
      let freed = 0;
      let until = now;
      for (let index = this.head; index < this.spent.length; index += 1) {
        const entry = this.spent[index]!;
        freed += entry.units;
        until = entry.at + windowMs;
        if (this.inWindow - freed + wanted <= this.budgetPerMinute) break;
      }
      const wait = Math.max(1, until - now + 1);
      this.waitedMs += wait;
      await this.sleep(wait, signal);
    }
  }
}
