/**
 * The sizes (RFC822.SIZE) the listing just learned, kept for the `fetch` that follows it: the
 * engine fetches the content of a page's client mail right after listing that page, and a UID's
 * size never changes, so asking the server again would only cost a round trip per page.
 *
 * R7: bounded by entries; the oldest are forgotten first. A size not found here is asked for.
 */
export class ListedSizes {
  private readonly sizes = new Map<string, { size: number; slot: number }>();
  /**
   * The ids in the order they were set, in a ring: the slot to fill next holds the oldest. (A Map
   * trimmed by deleting its first key costs a scan over every key deleted before it, which in a
   * 20,000-message backfill was most of the listing's own time in this class.)
   */
  private readonly slots: Array<string | undefined>;
  private next = 0;

  constructor(private readonly limit: number) {
    this.slots = new Array<string | undefined>(limit);
  }

  /** Remembers the size of `providerId`. */
  set(providerId: string, size: number): void {
    const known = this.sizes.get(providerId);
    if (known) this.slots[known.slot] = undefined;
    const oldest = this.slots[this.next];
    if (oldest !== undefined) this.sizes.delete(oldest);
    this.slots[this.next] = providerId;
    this.sizes.set(providerId, { size, slot: this.next });
    this.next = (this.next + 1) % this.limit;
  }

  /** The remembered size of `providerId`, if any. */
  get(providerId: string): number | undefined {
    return this.sizes.get(providerId)?.size;
  }

  /** Forgets everything (e.g. when the connection's view of the mailbox can no longer be trusted). */
  clear(): void {
    this.sizes.clear();
    this.slots.fill(undefined);
    this.next = 0;
  }
}
