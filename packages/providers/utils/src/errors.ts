/**
 * The errors every provider throws alike, so callers see one code for one situation whatever
 * the provider.
 */
import { ClientMailError } from "@clientmail/core";

/**
 * A call on a provider after `close()`: a bug in the caller, not a state of the mailbox, so
 * `internal` and not retryable (the same instance will never work again).
 */
export function providerClosedError(provider: string): ClientMailError {
  return new ClientMailError("internal", `This ${provider} provider was closed`, {
    retryable: false,
    details: { provider, reason: "closed" },
  });
}

/** `cursor_expired`: the provider no longer accepts the cursor, and only a full listing can follow (Y6). */
export function cursorExpiredError(
  provider: string,
  message: string,
  options: { cause?: unknown; details?: Record<string, unknown> } = {},
): ClientMailError {
  return new ClientMailError("cursor_expired", message, {
    ...(options.cause === undefined ? {} : { cause: options.cause }),
    details: { provider, ...options.details },
  });
}

/**
 * Decodes a cursor with the provider's own `decode`. A cursor it cannot read (corrupt, truncated,
 * from another provider) is reported as `cursor_expired` with the decoding failure as its cause:
 * the port's contract, since only a full listing can follow either way (Y6).
 */
export function readCursor<T>(provider: string, cursor: string, decode: (cursor: string) => T): T {
  try {
    return decode(cursor);
  } catch (error) {
    if (ClientMailError.hasCode(error, "cursor_expired")) throw error;
    throw cursorExpiredError(provider, `The ${provider} cursor cannot be read: run a full listing`, {
      cause: error,
      details: { reason: "unreadable" },
    });
  }
}
