/**
 * Milliseconds a `Retry-After` value asks the client to wait (RFC 9110 §10.2.3: delay-seconds or
 * an HTTP date). Undefined when the value is missing, unparseable, zero or already past: Graph
 * sends `Retry-After: 0` with its concurrency 429, and waiting nothing would hammer the server,
 * so the caller falls back to its own backoff.
 */
export function parseRetryAfter(value: string | null | undefined, now: Date | number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === "") return undefined;
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) {
    const seconds = Number(trimmed);
    return seconds > 0 ? Math.ceil(seconds * 1000) : undefined;
  }
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  const wait = at - (typeof now === "number" ? now : now.getTime());
  return wait > 0 ? wait : undefined;
}
