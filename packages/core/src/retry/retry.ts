/**
 * One retry concept for every call clientmail repeats in place (a provider's request, a token
 * refresh, the worker's start-up enqueue): a call is repeated while it fails with a retryable
 * `ClientMailError`, waiting what the server asked for (`retryAfterMs`) or else a full-jitter
 * exponential backoff, up to a number of attempts. A wait longer than `maxWaitMs` is not sat out
 * inside the call: the error is thrown at once with its `retryAfterMs`, so the engine reschedules
 * the mailbox as throttled (R6) instead of holding a worker.
 */
import { ClientMailError } from "../errors.js";
import { abortError } from "./abort.js";
import { backoffDelay, type BackoffPolicy } from "./backoff.js";
import type { Sleep } from "./sleep.js";

/** How a failed call is repeated: its backoff, how often, and how long a requested wait may be. */
export interface RetryPolicy extends BackoffPolicy {
  /** Attempts per call, the first included. */
  maxAttempts: number;
  /** The longest server-requested wait (Retry-After, quota reset) sat out inside one call. */
  maxWaitMs: number;
}

/** Defaults shared by the HTTP providers: 5 attempts, 1 s doubling to at most 64 s, waits up to 2 minutes. */
export const defaultRetryPolicy: Readonly<RetryPolicy> = {
  maxAttempts: 5,
  baseDelayMs: 1000,
  maxDelayMs: 64_000,
  maxWaitMs: 120_000,
};

/** The wait a failure asks for: `retryAfterMs` of a rate limit, or of a 5xx that carried Retry-After. */
export function requestedWaitMs(error: ClientMailError): number | undefined {
  const direct = (error as { retryAfterMs?: unknown }).retryAfterMs;
  const value = typeof direct === "number" ? direct : error.details.retryAfterMs;
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** Options of {@link retry}. */
export interface RetryOptions {
  policy: RetryPolicy;
  sleep: Sleep;
  /** Jitter source in [0, 1). */
  random: () => number;
  signal?: AbortSignal | undefined;
  /** Told before each wait (for logs and counters). */
  onRetry?: ((info: { attempt: number; delayMs: number; error: ClientMailError }) => void) | undefined;
}

/**
 * Calls `call(attempt)` until it resolves, or fails in a way that repeating will not fix soon:
 * a non-retryable error, a requested wait beyond `maxWaitMs`, the last attempt, or an abort.
 * `call` must throw `ClientMailError`s (translate at the edge first); anything else is rethrown
 * at once. An aborted signal ends the wait promptly with {@link abortError}.
 */
export async function retry<T>(call: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, signal } = options;
  for (let attempt = 1; ; attempt += 1) {
    if (signal?.aborted) throw abortError(signal);
    try {
      return await call(attempt);
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      if (!ClientMailError.isInstance(error) || !error.retryable) throw error;
      if (error.details.reason === "deadline_exceeded") throw error;
      const asked = requestedWaitMs(error);
      if (asked !== undefined && asked > policy.maxWaitMs) throw error;
      if (attempt >= policy.maxAttempts) throw error;
      const delayMs = asked ?? backoffDelay(attempt, policy, options.random);
      options.onRetry?.({ attempt, delayMs, error });
      try {
        await options.sleep(delayMs, signal);
      } catch (sleepError) {
        if (signal?.aborted) throw abortError(signal);
        throw sleepError;
      }
    }
  }
}
