/**
 * The Gmail API failures the fake can produce, with the exact status codes and bodies the real
 * service sends (see the provider semantics brief, §1 and §5). Each has a stable name that fault
 * scripts and tests refer to.
 */

/** A canned HTTP failure: status, body text and extra headers. */
export interface GmailFailure {
  status: number;
  /** Body text, sent as is (it is not always valid JSON: see `truncatedJson`). */
  body: string;
  headers?: Record<string, string>;
}

function googleError(
  code: number,
  message: string,
  reason: string,
  domain: string,
  status?: string,
  extra: Record<string, unknown> = {},
): string {
  const error: Record<string, unknown> = { code, message, errors: [{ message, domain, reason, ...extra }] };
  if (status !== undefined) error.status = status;
  return JSON.stringify({ error });
}

/** The legacy documentation sample shape: no `status` field, `errors` before `code`. */
function legacyUsageLimit(reason: string, message: string): string {
  return JSON.stringify({
    error: { errors: [{ domain: "usageLimits", reason, message }], code: 403, message },
  });
}

/** The shape of the Google client libraries' 400s: `errors` with `reason`, no `status`. */
function legacyShape(code: number, message: string, reason: string): string {
  return JSON.stringify({ error: { errors: [{ domain: "global", reason, message }], code, message } });
}

const notFoundBody = googleError(404, "Requested entity was not found.", "notFound", "global", "NOT_FOUND");

/** Every named failure of the Gmail fake. */
export const gmailFailures = {
  /** history.list with an expired startHistoryId; also messages.get on a purged message. */
  notFound: { status: 404, body: notFoundBody },
  /** history.list with a malformed startHistoryId. */
  invalidStartHistoryId: {
    status: 400,
    body: googleError(
      400,
      "Missing/invalid parameter: startHistoryId",
      "invalidArgument",
      "global",
      "INVALID_ARGUMENT",
    ),
  },
  /** A `q` longer than the fake's query-length limit. */
  invalidQuery: {
    status: 400,
    body: googleError(
      400,
      "Invalid query: the query is too long.",
      "invalidArgument",
      "global",
      "INVALID_ARGUMENT",
    ),
  },
  /** 403 per-user limit, as in the documentation sample. */
  userRateLimitExceeded: {
    status: 403,
    body: legacyUsageLimit("userRateLimitExceeded", "User Rate Limit Exceeded"),
  },
  /** 403 per-project limit, as in the documentation sample. */
  rateLimitExceeded: { status: 403, body: legacyUsageLimit("rateLimitExceeded", "Rate Limit Exceeded") },
  /** 403 daily project limit, as in the documentation sample. */
  dailyLimitExceeded: { status: 403, body: legacyUsageLimit("dailyLimitExceeded", "Daily Limit Exceeded") },
  /** 403 per-user quota as the service really sends it (legacy "Queries per minute per user"). */
  quotaExceededQueriesPerUser: {
    status: 403,
    body: googleError(
      403,
      "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'gmail.googleapis.com' for consumer 'project_number:000000000000'.",
      "rateLimitExceeded",
      "usageLimits",
      "PERMISSION_DENIED",
    ),
  },
  /** 403 per-user quota under the 2026 unit regime ("Units per minute per user"). */
  quotaExceededUnitsPerUser: {
    status: 403,
    body: googleError(
      403,
      "Quota exceeded for quota metric 'Total Query Cost' and limit 'Units per minute per user' of service 'gmail.googleapis.com' for consumer 'project_number:000000000000'.",
      "rateLimitExceeded",
      "usageLimits",
      "PERMISSION_DENIED",
    ),
  },
  /** 429 as the service really sends it. */
  resourceExhausted: {
    status: 429,
    body: googleError(
      429,
      "Resource has been exhausted (e.g. check quota).",
      "rateLimitExceeded",
      "global",
      "RESOURCE_EXHAUSTED",
    ),
  },
  /** 429 for the per-user concurrency cap (large batches trip it). */
  tooManyConcurrentRequests: {
    status: 429,
    body: googleError(
      429,
      "Too many concurrent requests for user",
      "rateLimitExceeded",
      "global",
      "RESOURCE_EXHAUSTED",
    ),
  },
  /** 500 backendError. */
  backendError: {
    status: 500,
    body: googleError(500, "Backend Error", "backendError", "global", "INTERNAL"),
  },
  /** 503 service unavailable. */
  serviceUnavailable: {
    status: 503,
    body: googleError(503, "The service is currently unavailable.", "backendError", "global", "UNAVAILABLE"),
  },
  /** 401 for a missing, wrong or expired access token. */
  unauthenticated: {
    status: 401,
    body: googleError(
      401,
      "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
      "authError",
      "global",
      "UNAUTHENTICATED",
      { location: "Authorization", locationType: "header" },
    ),
    headers: { "www-authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
  },
  /** The OAuth token endpoint refusing a revoked or expired refresh token. */
  invalidGrant: {
    status: 400,
    body: JSON.stringify({ error: "invalid_grant", error_description: "Token has been expired or revoked." }),
  },
  /** The OAuth token endpoint refusing the client credentials (a misconfiguration). */
  invalidClient: {
    status: 401,
    body: JSON.stringify({ error: "invalid_client", error_description: "The OAuth client was not found." }),
  },
  /** users.watch when the Pub/Sub topic does not grant publish rights to Gmail. */
  pubsubForbidden: {
    status: 403,
    body: googleError(
      403,
      "Error sending test message to Cloud PubSub projects/example/topics/gmail : User not authorized to perform this action.",
      "forbidden",
      "global",
      "PERMISSION_DENIED",
    ),
  },
  /**
   * 400 failedPrecondition: Google's answer when an operation cannot be done on a resource in
   * its current state; on one `messages.get` of a batch it concerns that message alone.
   */
  failedPrecondition: {
    status: 400,
    body: googleError(
      400,
      "Precondition check failed.",
      "failedPrecondition",
      "global",
      "FAILED_PRECONDITION",
    ),
  },
  /** A 200 whose JSON body is cut mid-way (a dropped connection). */
  truncatedJson: {
    status: 200,
    body: '{"messages":[{"id":"18c',
    headers: { "content-type": "application/json; charset=UTF-8" },
  },
  /**
   * `messages.send` over the size limit: Google's front end answers 413 with its HTML error page
   * ([send-email-with-r#6](https://github.com/jennybc/send-email-with-r/issues/6)).
   */
  messageTooLarge: {
    status: 413,
    body:
      "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 413 (Request Entity Too Large)!!1</title>\n" +
      "  <p><b>413.</b> <ins>That’s an error.</ins>\n  <p>Your client issued a request that was too large.  <ins>That’s all we know.</ins>\n",
    headers: { "content-type": "text/html; charset=UTF-8" },
  },
  /**
   * `messages.send` with a body over the simple-upload limit
   * ([google-api-dotnet-client#856](https://github.com/googleapis/google-api-dotnet-client/issues/856)).
   */
  requestPayloadTooLarge: {
    status: 400,
    body: legacyShape(400, "Request payload size exceeds the limit: 1048576 bytes.", "badRequest"),
  },
  /** `messages.send` with a recipient Gmail cannot parse ([google-apis-rs#351](https://github.com/Byron/google-apis-rs/issues/351)). */
  invalidToHeader: {
    status: 400,
    body: googleError(400, "Invalid To header", "invalidArgument", "global", "INVALID_ARGUMENT"),
  },
  /** `messages.send` with no recipient at all. */
  recipientAddressRequired: {
    status: 400,
    body: googleError(400, "Recipient address required", "invalidArgument", "global", "INVALID_ARGUMENT"),
  },
} as const satisfies Record<string, GmailFailure>;

/** The name of a canned failure. */
export type GmailFailureName = keyof typeof gmailFailures;

/**
 * The 429 the service sends when the user's mail-sending limit is exceeded; it carries the time
 * after which sending is allowed again.
 */
export function mailSendingLimitFailure(retryAfter: Date): GmailFailure {
  const message = `User-rate limit exceeded.  Retry after ${retryAfter.toISOString()} (Mail sending)`;
  return {
    status: 429,
    body: googleError(429, message, "rateLimitExceeded", "usageLimits", "RESOURCE_EXHAUSTED"),
  };
}
