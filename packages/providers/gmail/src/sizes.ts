/**
 * R7: the `sizeEstimate` of the messages this provider listed or found, so that `fetch` can
 * bound its batches by bytes without asking Gmail again. A message whose size is not known (a
 * quarantined message retried after a restart) is fetched alone, streamed, which is safe
 * whatever its size. Bounded by count: the oldest entries go first.
 */
import type { ProviderEnvelope } from "@clientmail/core";

/** Entries kept at most (about 100 bytes each). */
const maxEntries = 100_000;

/** Sizes by Gmail message id. */
export class MessageSizes {
  private readonly sizes = new Map<string, number>();

  /** Remembers the sizes of listed envelopes (a size of 0 means unknown). */
  remember(envelopes: readonly ProviderEnvelope[]): void {
    for (const envelope of envelopes) {
      if (!(envelope.size > 0)) continue;
      this.sizes.delete(envelope.providerId);
      this.sizes.set(envelope.providerId, envelope.size);
    }
    // Map order is insertion order: the first entries are the oldest.
    for (const id of this.sizes.keys()) {
      if (this.sizes.size <= maxEntries) break;
      this.sizes.delete(id);
    }
  }

  /** The size of a listed message, or undefined. */
  get(id: string): number | undefined {
    return this.sizes.get(id);
  }

  clear(): void {
    this.sizes.clear();
  }
}
