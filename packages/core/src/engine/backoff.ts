/**
 * Retry delays (Y7): full-jitter exponential backoff, capped, and a provider's Retry-After
 * honoured as a floor.
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 1_000, capMs: 5 * 60_000 };

/**
 * The delay before retry number `attempt` (1-based). With a Retry-After the wait is at least what
 * the provider asked for, plus up to 10% jitter so that many mailboxes do not return at once.
 */
export function backoffDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  random: () => number,
  policy = defaultBackoff,
): number {
  if (retryAfterMs !== undefined && retryAfterMs > 0) return Math.round(retryAfterMs * (1 + 0.1 * random()));
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(policy.baseMs / 4, Math.round(ceiling * random()));
}
