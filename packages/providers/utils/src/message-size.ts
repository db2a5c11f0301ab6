/**
 * R7: the size limit of one message, a setting every provider takes (`maxMessageBytes`). A
 * message over it is not downloaded when its size is known beforehand, and not kept when the
 * download passes it: it is yielded as `too_large` (the engine quarantines it, R2), never in part.
 */
import type { ValidationIssue } from "@clientmail/core";

/** 50 MiB: above what Gmail (25 MB of attachments, ~35 MB encoded) and Exchange (150 MB only on request) deliver as a rule. */
export const DEFAULT_MAX_MESSAGE_BYTES = 50 * 2 ** 20;
/** The smallest limit accepted: a limit below a typical header block would refuse every message. */
export const MIN_MAX_MESSAGE_BYTES = 64 * 1024;
/** The largest limit accepted: 2 GiB, past any mail system's own limit. */
export const MAX_MAX_MESSAGE_BYTES = 2 * 2 ** 30;

/**
 * Validates a `maxMessageBytes` setting; pushes an issue naming `field` when it is invalid.
 * Returns the limit to use (the default when not set or invalid).
 */
export function resolveMaxMessageBytes(issues: ValidationIssue[], field: string, value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_MESSAGE_BYTES;
  if (
    typeof value !== "number" ||
    !Number.isSafeInteger(value) ||
    value < MIN_MAX_MESSAGE_BYTES ||
    value > MAX_MAX_MESSAGE_BYTES
  ) {
    issues.push({
      field,
      value,
      expected: `a whole number of bytes from ${MIN_MAX_MESSAGE_BYTES} (64 KiB) to ${MAX_MAX_MESSAGE_BYTES} (2 GiB)`,
    });
    return DEFAULT_MAX_MESSAGE_BYTES;
  }
  return value;
}
