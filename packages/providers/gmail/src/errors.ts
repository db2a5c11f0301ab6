/**
 * Translation of Gmail API failures into clientmail's codes, at the edge. The failure bodies are
 * the ones Google documents and, where they differ, the ones it really sends (see
 * `research/provider-semantics.md` §1.4):
 *
 * | failure | code |
 * | --- | --- |
 * | 429 (any reason: `rateLimitExceeded`, "Too many concurrent requests for user", the mail-sending limit) | `rate_limited`, `retryAfterMs` from Retry-After or "Retry after <time>" |
 * | 403 `rateLimitExceeded` / `userRateLimitExceeded` / `quotaExceeded` | `rate_limited` |
 * | 403 `dailyLimitExceeded` | `rate_limited`, `retryAfterMs` = until the quota resets (midnight Pacific time) |
 * | 5xx, network failure, a 2xx body cut short | `transient` (`retryAfterMs` when the server said) |
 * | 401 (after one token refresh), 403 `insufficientPermissions` | `auth_revoked` |
 * | other 403 | `permission_denied` |
 * | 404 | `not_found` |
 * | anything else | `internal`, not retryable |
 */
import { ClientMailError, RateLimitedError } from "@clientmail/core";
import { parseRetryAfter } from "@clientmail/provider-utils";

/** A Google API error body, as far as the provider reads it. */
interface GoogleErrorBody {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    errors?: { reason?: string; domain?: string; message?: string }[];
  };
}

/** What went wrong with one call (or one part of a batch), before it becomes a ClientMailError. */
export interface CallFailure {
  status: number;
  reason: string | undefined;
  message: string;
  retryAfterMs: number | undefined;
}

const rateLimitReasons = new Set(["rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"]);

/**
 * Milliseconds until Gmail's daily quotas reset: midnight Pacific time, the day boundary Google
 * uses for API quotas.
 */
export function untilQuotaReset(now: number): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: "America/Los_Angeles",
    hourCycle: "h23",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  }).formatToParts(new Date(now));
  const value = (type: string) => Number(parts.find((part) => part.type === type)?.value ?? 0);
  const elapsed = ((value("hour") * 60 + value("minute")) * 60 + value("second")) * 1000 + (now % 1000);
  return Math.max(1000, 86_400_000 - elapsed);
}

/** The wait a failure asks for: Retry-After (seconds or date), else Gmail's "Retry after <ISO time>" text. */
export function retryAfterFrom(message: string, header: string | null, now: number): number | undefined {
  const fromHeader = parseRetryAfter(header, now);
  if (fromHeader !== undefined) return fromHeader;
  const match = /Retry after (\d{4}-\d{2}-\d{2}T[0-9:.]+Z)/i.exec(message);
  const at = match ? Date.parse(match[1]!) : Number.NaN;
  return at > now ? at - now : undefined;
}

/** Reads status, reason and retry hint from a failed response. Never keeps the body itself. */
export function describeFailure(
  status: number,
  bodyText: string,
  retryAfterHeader: string | null,
  now: number,
): CallFailure {
  let body: GoogleErrorBody = {};
  try {
    body = JSON.parse(bodyText) as GoogleErrorBody;
  } catch {
    // not JSON: keep the status only
  }
  const message = body.error?.message ?? "";
  const reason = body.error?.errors?.[0]?.reason ?? body.error?.status;
  const retryAfterMs =
    reason === "dailyLimitExceeded"
      ? (retryAfterFrom(message, retryAfterHeader, now) ?? untilQuotaReset(now))
      : retryAfterFrom(message, retryAfterHeader, now);
  return { status, reason, message, retryAfterMs };
}

/** True when the failure means "slow down" (429, or a 403 with a rate-limit reason). */
export function isRateLimit(failure: CallFailure): boolean {
  if (failure.status === 429) return true;
  return (
    failure.status === 403 &&
    failure.reason !== undefined &&
    (rateLimitReasons.has(failure.reason) || failure.reason === "dailyLimitExceeded")
  );
}

/** True when repeating the call soon may succeed. */
export function isRetryable(failure: CallFailure): boolean {
  return (
    isRateLimit(failure) ||
    failure.status >= 500 ||
    failure.status === 0 ||
    failure.reason === "truncatedBody" ||
    failure.reason === "missingPart"
  );
}

/** Turns a failure into the port's error codes (see the module comment). Details are log-safe. */
export function toClientMailError(failure: CallFailure, method: string): ClientMailError {
  const details: Record<string, unknown> = {
    provider: "gmail",
    method,
    status: failure.status,
    reason: failure.reason,
  };
  if (failure.retryAfterMs !== undefined) details.retryAfterMs = failure.retryAfterMs;
  if (failure.reason === "dailyLimitExceeded") {
    return new RateLimitedError(`Gmail ${method}: daily limit exceeded`, failure.retryAfterMs, { details });
  }
  if (isRateLimit(failure)) {
    return new RateLimitedError(
      `Gmail ${method}: rate limited (${failure.reason ?? failure.status})`,
      failure.retryAfterMs,
      { details },
    );
  }
  if (isRetryable(failure)) {
    return new ClientMailError(
      "transient",
      `Gmail ${method} failed: ${failure.status === 0 ? (failure.reason ?? "network error") : failure.status}`,
      { details },
    );
  }
  if (failure.status === 401)
    return new ClientMailError("auth_revoked", `Gmail ${method}: credentials rejected`, { details });
  if (failure.status === 403 && failure.reason === "insufficientPermissions") {
    return new ClientMailError("auth_revoked", `Gmail ${method}: the grant lacks a required scope`, {
      details,
    });
  }
  if (failure.status === 403)
    return new ClientMailError("permission_denied", `Gmail ${method}: forbidden (${failure.reason ?? "?"})`, {
      details,
    });
  if (failure.status === 404)
    return new ClientMailError("not_found", `Gmail ${method}: not found`, { details });
  return new ClientMailError(
    "internal",
    `Gmail ${method} was refused: ${failure.status} ${failure.reason ?? ""}`.trim(),
    {
      details,
      retryable: false,
    },
  );
}
