/**
 * Waiting and trying again, written once for the engine, the job queues and the providers
 * (see `backoff.ts` for why there are three kinds of wait).
 */
export { abortError, throwIfAborted } from "./abort.js";
export { sleep, type Sleep } from "./sleep.js";
export { backoffDelay, jobRetryDelay, spreadWait, type BackoffPolicy } from "./backoff.js";
export { defaultRetryPolicy, requestedWaitMs, retry, type RetryOptions, type RetryPolicy } from "./retry.js";
