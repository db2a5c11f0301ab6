/**
 * Translation of Microsoft Graph failures into clientmail's codes, at the edge. The bodies are
 * the ones Graph documents and really sends (see `research/provider-semantics.md` §2):
 *
 * | failure | code |
 * | --- | --- |
 * | 410 Gone; `SyncStateNotFound` / `syncStateNotFound`, `resyncRequired` (any status) | `cursor_expired` |
 * | 429 (`TooManyRequests`, `ApplicationThrottled`) | `rate_limited`, `retryAfterMs` from Retry-After (0 or missing: not said) |
 * | 5xx `ErrorMimeContentConversionFailed` / `ErrorContentConversionFailed` (one message Exchange cannot convert) | `internal`, not retryable: a per-message failure |
 * | other 5xx, network failure, a 2xx JSON body cut short | `transient` (`retryAfterMs` when a 503 said) |
 * | 401 after one token refresh, 403, `invalid_grant` from the token source | `auth_revoked` |
 * | 404 | `not_found` |
 * | any other 4xx | `internal`, not retryable |
 */
import { ClientMailError, RateLimitedError } from "@clientmail/core";
import { parseRetryAfter } from "@clientmail/provider-utils";

/** A Graph error body, as far as we read it. */
interface GraphErrorBody {
  error?: { code?: unknown; message?: unknown } | string;
}

const cursorExpiredCodes = new Set([
  "syncstatenotfound",
  "resyncrequired",
  "invalidsyncstatedata",
  "syncstateinvalid",
]);

/**
 * Error codes Exchange answers, with a 500, for one message it cannot convert, on every attempt:
 * `$value` of S/MIME items (OpenArchiver#487), a message with a corrupt body
 * (microsoft-graph-docs#7758). Retrying them only delays the rest of the mailbox; they are
 * per-message failures (R1).
 */
const perMessageCodes = new Set(["errormimecontentconversionfailed", "errorcontentconversionfailed"]);

/** True when the failure concerns one message alone, whatever its status (see `perMessageCodes`). */
export function isPerMessageFailure(failure: GraphFailure): boolean {
  const code = graphErrorCode(failure.body);
  return code !== undefined && perMessageCodes.has(code);
}

/** The Graph error code of a parsed body, lower-cased; undefined when there is none. */
export function graphErrorCode(body: unknown): string | undefined {
  const error = (body as GraphErrorBody | undefined)?.error;
  if (typeof error === "object" && error !== null && typeof error.code === "string")
    return error.code.toLowerCase();
  return undefined;
}

/** Milliseconds the response asks us to wait; undefined when it does not say (missing, 0, unparseable). */
export function retryAfterMs(headers: { get(name: string): string | null }, now: Date): number | undefined {
  return parseRetryAfter(headers.get("Retry-After"), now);
}

/** True when `error` is an OAuth `invalid_grant` (revoked or expired refresh token), in any of the shapes token libraries use. */
export function isInvalidGrant(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const record = error as Record<string, unknown>;
  for (const key of ["error", "errorCode", "code"]) if (record[key] === "invalid_grant") return true;
  const body = record.body ?? record.response;
  if (
    typeof body === "object" &&
    body !== null &&
    (body as Record<string, unknown>).error === "invalid_grant"
  )
    return true;
  return typeof record.message === "string" && /\binvalid_grant\b/.test(record.message);
}

/** What a failed response (or a failed item of a `$batch`) said. */
export interface GraphFailure {
  status: number;
  body: unknown;
  retryAfterMs: number | undefined;
}

/** Turns a failed response into the port's error codes (see the module comment). Details are log-safe. */
export function translateGraphFailure(
  failure: GraphFailure,
  details: Record<string, unknown> = {},
): ClientMailError {
  const code = graphErrorCode(failure.body);
  const all: Record<string, unknown> = {
    provider: "graph",
    status: failure.status,
    graphCode: code,
    ...details,
  };
  if (failure.retryAfterMs !== undefined) all.retryAfterMs = failure.retryAfterMs;
  if (failure.status === 410 || (code !== undefined && cursorExpiredCodes.has(code))) {
    return new ClientMailError(
      "cursor_expired",
      "Microsoft Graph no longer accepts this delta link; a full resync is needed",
      {
        details: all,
      },
    );
  }
  if (isPerMessageFailure(failure)) {
    return new ClientMailError("internal", `Microsoft Graph cannot convert this message (${code})`, {
      details: all,
      retryable: false,
    });
  }
  if (failure.status === 429) {
    return new RateLimitedError("Microsoft Graph is throttling this mailbox", failure.retryAfterMs, {
      details: all,
    });
  }
  if (failure.status >= 500)
    return new ClientMailError("transient", "Microsoft Graph failed; retry later", { details: all });
  if (failure.status === 401)
    return new ClientMailError("auth_revoked", "Microsoft Graph rejects the access token", { details: all });
  if (failure.status === 403)
    return new ClientMailError("auth_revoked", "Microsoft Graph denies access to this mailbox", {
      details: all,
    });
  if (failure.status === 404)
    return new ClientMailError("not_found", "Microsoft Graph did not find the item", { details: all });
  return new ClientMailError(
    "internal",
    `Microsoft Graph refused the request (${failure.status} ${code ?? ""})`.trim(),
    {
      details: all,
      retryable: false,
    },
  );
}
