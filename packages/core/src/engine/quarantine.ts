/**
 * R2: the durable quarantine of client messages that failed on their own. An entry is retried at
 * the start of later passes with a growing delay; while it waits it is listed for owners and
 * admins and counted in the mailbox's status. Nothing is ever skipped silently.
 */
import type { UnreadableMessage } from "../domain/envelope.js";
import type { MailboxId } from "../domain/model.js";
import type { QuarantineEntry } from "../ports/store.js";

/** Delays before the 2nd, 3rd, ... attempt; the last one repeats (a message may heal after a server fix). */
export const quarantineRetryDelaysMs: readonly number[] = [
  5 * 60_000,
  30 * 60_000,
  2 * 60 * 60_000,
  12 * 60 * 60_000,
  24 * 60 * 60_000,
];

/**
 * The entry after one more failed attempt: a new entry on the first failure, else the previous
 * one with its count, last attempt and next attempt moved on. Jittered by up to 10% so a mailbox
 * with many quarantined messages does not retry them all at once.
 */
export function quarantineAttempt(
  previous: QuarantineEntry | undefined,
  mailboxId: MailboxId,
  failure: UnreadableMessage,
  now: Date,
  random: () => number,
): QuarantineEntry {
  const attempts = (previous?.attempts ?? 0) + 1;
  const delay = quarantineRetryDelaysMs[Math.min(attempts - 1, quarantineRetryDelaysMs.length - 1)]!;
  return {
    mailboxId,
    providerId: failure.providerId,
    reason: failure.unreadable.reason,
    detail: failure.unreadable.detail.slice(0, 500),
    attempts,
    firstAttemptAt: previous?.firstAttemptAt ?? now,
    lastAttemptAt: now,
    nextAttemptAt: new Date(now.getTime() + Math.round(delay * (1 + 0.1 * random()))),
  };
}
