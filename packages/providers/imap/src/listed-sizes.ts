/**
 * The sizes (RFC822.SIZE) the listing just learned, kept for the `fetch` that follows it: the
 * engine fetches the content of a page's client mail right after listing that page, and a UID's
 * size never changes, so asking the server again would only cost a round trip per page.
 *
 * R7: bounded by entries; the oldest are forgotten first. A size not found here is asked for.
 */
export class ListedSizes {
  private readonly sizes = new Map<string, number>();

  constructor(private readonly limit: number) {}

  /** Remembers the size of `providerId`. */
  set(providerId: string, size: number): void {
    this.sizes.delete(providerId);
    this.sizes.set(providerId, size);
    if (this.sizes.size <= this.limit) return;
    const oldest = this.sizes.keys().next().value;
    if (oldest !== undefined) this.sizes.delete(oldest);
  }

  /** The remembered size of `providerId`, if any. */
  get(providerId: string): number | undefined {
    return this.sizes.get(providerId);
  }

  /** Forgets everything (e.g. when the connection's view of the mailbox can no longer be trusted). */
  clear(): void {
    this.sizes.clear();
  }
}
