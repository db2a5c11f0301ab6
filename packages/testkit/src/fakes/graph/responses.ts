/**
 * The exact failure bodies Microsoft Graph sends for the mail endpoints the clientmail adapter
 * uses, as captured from the live service (see the provider-semantics research notes). Each
 * builder returns a {@link GraphFault}: status, headers and body, ready to be scripted with
 * {@link GraphFake.failNext} or returned by the fake itself.
 */

/** A scripted HTTP failure: what the fake answers instead of the real result. */
export interface GraphFault {
  status: number;
  headers?: Record<string, string>;
  /** JSON body; ignored when `rawBody` is set. */
  body?: unknown;
  /** A raw body, e.g. JSON cut off mid-way. */
  rawBody?: string;
  /** Instead of answering, make `fetch` reject as a dropped connection would. */
  networkError?: boolean;
}

/** How a 429 says when to come back. */
export type GraphRetryAfter = number | Date | undefined;

function retryAfterHeader(retryAfter: GraphRetryAfter): Record<string, string> {
  if (retryAfter === undefined) return {};
  if (retryAfter instanceof Date) return { "Retry-After": retryAfter.toUTCString() };
  return { "Retry-After": String(retryAfter) };
}

/** The verbatim SyncStateNotFound message observed from the live service. */
export const syncStateNotFoundMessage =
  "The sync state generation is not found; generation=149;[highest=157][157][155][156].";

/** Builders for every Graph failure the fake can produce. */
export const graphFaults = {
  /**
   * `sendMail` / draft `send` over the mailbox's size limit (Exchange's
   * `ErrorMessageSizeExceeded`, with the 413 Graph answers for a body over its limit).
   */
  messageSizeExceeded(): GraphFault {
    return {
      status: 413,
      body: {
        error: {
          code: "ErrorMessageSizeExceeded",
          message:
            "The message exceeds the maximum supported size., Cannot save changes made to an item to store.",
        },
      },
    };
  },
  /** A recipient Exchange cannot take (user-sendmail docs). */
  invalidRecipients(): GraphFault {
    return {
      status: 400,
      body: { error: { code: "ErrorInvalidRecipients", message: "At least one recipient isn't valid." } },
    };
  },
  /** A MIME `sendMail` body that is not base64 (outlook-send-mime-message docs). */
  mimeContentInvalidBase64String(): GraphFault {
    return {
      status: 400,
      body: {
        error: {
          code: "ErrorMimeContentInvalidBase64String",
          message: "Invalid base64 string for MIME content.",
        },
      },
    };
  },
  /** A From the signed-in user may not send as (outlook-send-mail-from-other-user docs). */
  sendAsDenied(): GraphFault {
    return {
      status: 403,
      body: {
        error: {
          code: "ErrorSendAsDenied",
          message:
            "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account. Cannot submit message.",
        },
      },
    };
  },
  /** 410 Gone for an expired delta or skip token (Y6). */
  syncStateNotFound(now: Date = new Date()): GraphFault {
    return {
      status: 410,
      body: {
        error: {
          code: "SyncStateNotFound",
          message: syncStateNotFoundMessage,
          innerError: {
            date: now.toISOString().slice(0, 19),
            "request-id": "4f1e2c7a-8b0d-4e59-9c2b-3f5a1d6e7b80",
            "client-request-id": "4f1e2c7a-8b0d-4e59-9c2b-3f5a1d6e7b80",
          },
        },
      },
    };
  },
  /** The lower-case variant some tenants send with a 400 instead of a 410. */
  syncStateNotFoundLowerCase(): GraphFault {
    return { status: 400, body: { error: { code: "syncStateNotFound", message: "Sync state not found." } } };
  },
  /** 410 with a Location holding an empty `$deltatoken`: restart with a full synchronisation. */
  resyncRequired(
    location = "https://graph.microsoft.com/v1.0/me/mailFolders/inbox/messages/delta?$deltatoken=",
  ): GraphFault {
    return {
      status: 410,
      headers: { Location: location },
      body: { error: { code: "resyncRequired", message: "A resync is required." } },
    };
  },
  /**
   * 500 ErrorMimeContentConversionFailed: `$value` of a message Exchange cannot turn into MIME
   * (S/MIME items), the same on every attempt (OpenArchiver#487).
   */
  mimeContentConversionFailed(): GraphFault {
    return {
      status: 500,
      body: {
        error: { code: "ErrorMimeContentConversionFailed", message: "MIME content conversion failed." },
      },
    };
  },
  /**
   * 500 ErrorContentConversionFailed: a GET of a message whose body is corrupt, the same on every
   * attempt (microsoft-graph-docs#7758).
   */
  contentConversionFailed(): GraphFault {
    return {
      status: 500,
      body: {
        error: {
          code: "ErrorContentConversionFailed",
          message: "Content conversion failed., Content conversion: Body conversion failed.",
        },
      },
    };
  },
  /** The generic throttling 429 (learn.microsoft.com/graph/throttling). */
  tooManyRequests(retryAfter: GraphRetryAfter = 10, now: Date = new Date()): GraphFault {
    return {
      status: 429,
      headers: retryAfterHeader(retryAfter),
      body: {
        error: {
          code: "TooManyRequests",
          innerError: {
            code: "429",
            date: now.toISOString().slice(0, 19),
            message: "Please retry after",
            "request-id": "94fb3b52-452a-4535-a601-69e0a90e3aa2",
            status: "429",
          },
          message: "Please retry again later.",
        },
      },
    };
  },
  /** The Outlook concurrency 429 as actually sent; Retry-After is often missing or 0. */
  applicationThrottled(retryAfter: GraphRetryAfter = undefined): GraphFault {
    return {
      status: 429,
      headers: retryAfterHeader(retryAfter),
      body: {
        error: { code: "ApplicationThrottled", message: "Application is over its MailboxConcurrency limit." },
      },
    };
  },
  serviceUnavailable(retryAfter: GraphRetryAfter = undefined): GraphFault {
    return {
      status: 503,
      headers: retryAfterHeader(retryAfter),
      body: { error: { code: "ServiceNotAvailable", message: "The service is temporarily unavailable." } },
    };
  },
  gatewayTimeout(): GraphFault {
    return {
      status: 504,
      body: { error: { code: "GatewayTimeout", message: "The gateway did not receive a response." } },
    };
  },
  invalidAuthenticationToken(): GraphFault {
    return {
      status: 401,
      body: {
        error: {
          code: "InvalidAuthenticationToken",
          message: "Access token has expired or is not yet valid.",
        },
      },
    };
  },
  accessDenied(): GraphFault {
    return {
      status: 403,
      body: {
        error: { code: "ErrorAccessDenied", message: "Access is denied. Check credentials and try again." },
      },
    };
  },
  itemNotFound(): GraphFault {
    return {
      status: 404,
      body: {
        error: { code: "ErrorItemNotFound", message: "The specified object was not found in the store." },
      },
    };
  },
  subscriptionExpirationTooFar(): GraphFault {
    return {
      status: 400,
      body: {
        error: {
          code: "ExtensionError",
          message: "Subscription expiration can only be 10070 minutes in the future.",
        },
      },
    };
  },
  subscriptionValidationFailed(): GraphFault {
    return {
      status: 400,
      body: {
        error: {
          code: "InvalidRequest",
          message:
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
        },
      },
    };
  },
  batchTooLarge(): GraphFault {
    return {
      status: 400,
      body: { error: { code: "BadRequest", message: "Limit of 20 requests exceeded." } },
    };
  },
  batchMalformed(message: string): GraphFault {
    return { status: 400, body: { error: { code: "BadRequest", message } } };
  },
  /** A 200 whose JSON body is cut off mid-way, as a dropped proxy connection leaves it. */
  truncatedJson(): GraphFault {
    return {
      status: 200,
      headers: { "Content-Type": "application/json" },
      rawBody:
        '{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(message)","value":[{"id":"AAMk',
    };
  },
  /** `fetch` rejects, as on a reset connection. */
  networkError(): GraphFault {
    return { status: 0, networkError: true };
  },
  /** The token endpoint's answer for a revoked or expired refresh token. */
  invalidGrant(): GraphFault {
    return {
      status: 400,
      body: {
        error: "invalid_grant",
        error_description:
          "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
        error_codes: [50173],
      },
    };
  },
} as const;

/** Turns a fault into the `Response` the fake answers with. */
export function faultResponse(fault: GraphFault): Response {
  if (fault.networkError) return Response.error();
  const headers = new Headers(fault.headers);
  if (fault.rawBody !== undefined) {
    if (!headers.has("Content-Type")) headers.set("Content-Type", "application/json");
    return new Response(fault.rawBody, { status: fault.status, headers });
  }
  if (fault.body === undefined) return new Response(null, { status: fault.status, headers });
  headers.set("Content-Type", "application/json");
  return new Response(JSON.stringify(fault.body), { status: fault.status, headers });
}
