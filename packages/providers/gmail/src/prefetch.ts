/**
 * The sources `search` read (`searchPrefetch: "raw"`), kept in memory for the `fetch` that
 * follows, so a filed message costs one `messages.get`. Bounded by bytes and by age: a source not
 * fetched within ten minutes belonged to a message that was not filed, and is dropped (F1: it is
 * never stored).
 */
import type { Clock } from "@clientmail/core/ports";
import type { GmailMessageResource } from "./envelope.js";

/** A source read ahead, without its base64 `raw` field. */
export interface Prefetched {
  message: GmailMessageResource;
  source: Buffer;
  at: number;
}

/** Prefetched sources not fetched within this time are dropped: they were not filed. */
export const prefetchTtlMs = 10 * 60_000;

/** The prefetch cache of one provider. */
export class Prefetch {
  private readonly entries = new Map<string, Prefetched>();
  private bytes = 0;

  constructor(
    private readonly budgetBytes: number,
    private readonly clock: Clock,
  ) {}

  /** Keeps a source, evicting the oldest (and the expired) to stay within the budget. */
  remember(message: GmailMessageResource, source: Buffer): void {
    if (source.length > this.budgetBytes) return;
    const at = this.clock.now().getTime();
    // Map order is insertion order: the first entries are the oldest.
    for (const [oldestId, oldest] of this.entries) {
      const overBudget = this.bytes + source.length > this.budgetBytes;
      if (!overBudget && oldest.at > at - prefetchTtlMs) break;
      this.entries.delete(oldestId);
      this.bytes -= oldest.source.length;
    }
    this.entries.set(message.id, { message, source, at });
    this.bytes += source.length;
  }

  /** Takes a source out of the cache; undefined when it was not prefetched or has expired. */
  take(id: string): Prefetched | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    this.bytes -= entry.source.length;
    return entry.at > this.clock.now().getTime() - prefetchTtlMs ? entry : undefined;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
