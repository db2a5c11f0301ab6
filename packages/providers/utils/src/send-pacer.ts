/**
 * Sending limits (S1 bulk sends): messages and recipients per sliding window, per mailbox.
 * Exchange Online allows 30 messages a minute and 10,000 recipients a day per mailbox; Gmail
 * 2,000 messages a day (Workspace) and 10,000 recipients a day (see docs/decisions.md,
 * "Sending"). A send over a limit is refused before any request with `rate_limited` and
 * `retryAfterMs` (when the oldest counted send leaves its window), so the outbox job is retried
 * then instead of the provider blocking the mailbox for hours.
 *
 * One pacer belongs to one mailbox and counts what this process sends; the outbox queue runs a
 * mailbox's sends through its jobs, which is what keeps the pacing whole across processes.
 *
 * @module
 */
import { RateLimitedError } from "@clientmail/core";
import type { Clock } from "@clientmail/core/ports";

/** One sliding-window limit. */
export interface SendLimit {
  /** The window, in milliseconds. */
  windowMs: number;
  /** Messages allowed in any window. */
  maxMessages?: number | undefined;
  /** Recipients (To + Cc + Bcc) allowed in any window. */
  maxRecipients?: number | undefined;
}

/** Exchange Online's per-mailbox sending limits. */
export const GRAPH_SEND_LIMITS: readonly SendLimit[] = [
  { windowMs: 60_000, maxMessages: 30 },
  { windowMs: 86_400_000, maxRecipients: 10_000 },
];

/** Gmail's per-user sending limits for Google Workspace (consumer accounts: 500 messages a day). */
export const GMAIL_SEND_LIMITS: readonly SendLimit[] = [
  { windowMs: 86_400_000, maxMessages: 2_000, maxRecipients: 10_000 },
];

/** A counted send; give it back with `release` when the provider refused it without sending. */
export interface SendReservation {
  release(): void;
}

interface Entry {
  at: number;
  recipients: number;
  released: boolean;
}

/** Counts sends against {@link SendLimit}s; see the module description. */
export class SendPacer {
  private entries: Entry[] = [];
  private readonly longestWindowMs: number;

  constructor(
    readonly limits: readonly SendLimit[],
    private readonly clock: Clock,
  ) {
    this.longestWindowMs = Math.max(0, ...limits.map((limit) => limit.windowMs));
  }

  /**
   * Counts one message to `recipients` recipients, or throws `rate_limited` with the wait after
   * which it would fit. A message with more recipients than a window allows at all is refused
   * with `rate_limited`, not retryable and with no `retryAfterMs`: it never fits.
   */
  reserve(recipients: number): SendReservation {
    const now = this.clock.now().getTime();
    this.entries = this.entries.filter((entry) => !entry.released && entry.at > now - this.longestWindowMs);
    let waitMs = 0;
    let never = false;
    for (const limit of this.limits) {
      const inWindow = this.entries.filter((entry) => entry.at > now - limit.windowMs);
      const waitFor = (fits: (dropped: number) => boolean): number => {
        // The wait until enough of the oldest entries leave the window for this send to fit.
        for (let dropped = 0; dropped <= inWindow.length; dropped += 1) {
          if (fits(dropped)) return dropped === 0 ? 0 : inWindow[dropped - 1]!.at + limit.windowMs - now;
        }
        return Number.POSITIVE_INFINITY;
      };
      if (limit.maxMessages !== undefined) {
        const max = limit.maxMessages;
        waitMs = Math.max(
          waitMs,
          waitFor((dropped) => inWindow.length - dropped + 1 <= max),
        );
      }
      if (limit.maxRecipients !== undefined) {
        const max = limit.maxRecipients;
        if (recipients > max) never = true;
        const suffix = inWindow.map((entry) => entry.recipients);
        waitMs = Math.max(
          waitMs,
          waitFor((dropped) => suffix.slice(dropped).reduce((sum, n) => sum + n, 0) + recipients <= max),
        );
      }
    }
    if (never || !Number.isFinite(waitMs))
      throw new RateLimitedError(
        `A message to ${recipients} recipients is over the mailbox's sending limit and can never be sent at once`,
        undefined,
        { retryable: false, details: { recipients } },
      );
    if (waitMs > 0)
      throw new RateLimitedError("The mailbox's sending limit is reached", Math.ceil(waitMs), {
        details: { recipients },
      });
    const entry: Entry = { at: now, recipients, released: false };
    this.entries.push(entry);
    return {
      release: () => {
        entry.released = true;
      },
    };
  }
}
