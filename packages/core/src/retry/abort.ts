/**
 * What an aborted call rejects with. The port's contract (`CallOptions.signal`): the signal's
 * reason when it is a `ClientMailError` (a deadline, or a caller that says why), else
 * `transient`, not retryable as such — the caller stopped the call, repeating it is its choice.
 */
import { ClientMailError } from "../errors.js";

/** The error an aborted call rejects with (see the module comment). */
export function abortError(signal: AbortSignal, provider?: string): ClientMailError {
  const reason: unknown = signal.reason;
  if (ClientMailError.isInstance(reason)) return reason;
  return new ClientMailError("transient", "The call was aborted", {
    cause: reason,
    retryable: false,
    details: { aborted: true, ...(provider === undefined ? {} : { provider }) },
  });
}

/** Throws {@link abortError} when `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, provider?: string): void {
  if (signal?.aborted) throw abortError(signal, provider);
}
