/**
 * How long to wait before trying again (Y7), for every kind of retry clientmail makes: a provider's
 * call, a mailbox's pass, a queued job, a reconnect. One doubling ceiling, three ways to wait under
 * it, each for a reason:
 * - {@link backoffDelay}: "full jitter", uniform below the ceiling. Many mailboxes that failed at
 *   once (an outage, a shared limit) then come back spread out, which is when retries matter most.
 * - {@link spreadWait}: a wait the provider asked for (Retry-After, a quota reset), honoured as a
 *   floor and stretched by up to 10%, so that the mailboxes it stopped do not all return at once.
 * - {@link jobRetryDelay}: a queued job's next attempt, near the ceiling itself (up to 10% more):
 *   a job failed on its own, and its retries should be well apart.
 */

/** A doubling backoff: the ceiling of retry `n` (1-based) is min(`maxDelayMs`, `baseDelayMs` · 2^(n−1)). */
export interface BackoffPolicy {
  /** Ceiling of the first retry. */
  baseDelayMs: number;
  /** Cap of the ceiling. */
  maxDelayMs: number;
  /** The shortest wait; default 0. */
  minDelayMs?: number | undefined;
}

/** The ceiling of retry `attempt` (1-based) under `policy`. */
function backoffCeiling(attempt: number, policy: BackoffPolicy): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
}

/**
 * The backoff before retry number `attempt` (1-based): full jitter, uniform between
 * `minDelayMs` and the ceiling.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const jittered = Math.round(Math.min(1, Math.max(0, random())) * backoffCeiling(attempt, policy));
  return Math.max(policy.minDelayMs ?? 0, jittered);
}

/** A wait the provider asked for, plus up to 10% (see the module comment). */
export function spreadWait(requestedMs: number, random: () => number): number {
  return Math.round(requestedMs * (1 + 0.1 * Math.min(1, Math.max(0, random()))));
}

/** The job queues' retry schedule: 1 s doubling to at most an hour. */
const jobRetryBackoff: Readonly<BackoffPolicy> = { baseDelayMs: 1_000, maxDelayMs: 3_600_000 };

/** The delay before a failed job's next attempt (`attempt` is the number of runs so far). */
export function jobRetryDelay(attempt: number, random: () => number = Math.random): number {
  return spreadWait(backoffCeiling(attempt, jobRetryBackoff), random);
}
