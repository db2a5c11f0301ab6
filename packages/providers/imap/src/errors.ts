/**
 * Translation of imapflow's and Node's socket errors into clientmail's codes, at the edge: no
 * native error reaches a caller of the provider.
 */
import { ClientMailError, NotFoundError, RateLimitedError } from "@clientmail/core";

/** The fields of an imapflow (or Node socket) error this translation looks at. */
interface NativeImapError {
  code?: unknown;
  authenticationFailed?: unknown;
  serverResponseCode?: unknown;
  responseStatus?: unknown;
  mailboxMissing?: unknown;
  tlsFailed?: unknown;
  throttleReset?: unknown;
  path?: unknown;
}

const connectionCodes = new Set([
  "NoConnection",
  "EConnectionClosed",
  "StateLogout",
  "ClosedAfterConnectText",
  "ClosedAfterConnectTLS",
  "CONNECT_TIMEOUT",
  "GREETING_TIMEOUT",
  "UPGRADE_TIMEOUT",
  "ETIMEOUT",
  "LockTimeout",
  "DownloadIncomplete",
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
  "ERR_STREAM_DESTROYED",
  "ERR_SOCKET_CLOSED",
]);

const certificateCodes = new Set([
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

const authResponseCodes = new Set([
  "AUTHENTICATIONFAILED",
  "AUTHORIZATIONFAILED",
  "EXPIRED",
  "PRIVACYREQUIRED",
]);
const busyResponseCodes = new Set(["UNAVAILABLE", "INUSE", "SERVERBUG", "LIMIT"]);

/** Where the failure happened, for the error's details (log-safe: no content, no credentials). */
export interface ImapErrorContext {
  operation: "connect" | "changes" | "search" | "fetch" | "watch" | "list";
  folder?: string | undefined;
}

/**
 * Maps any failure of an IMAP call to a {@link ClientMailError}:
 * authentication refused -> `auth_revoked`; folder missing (`NONEXISTENT`) -> `not_found`;
 * throttling -> `rate_limited`; dropped or refused connections, timeouts, server restarts and
 * server-side `UNAVAILABLE`/`INUSE` -> `transient`; a TLS certificate that does not verify ->
 * `mailbox_unavailable` (not retryable: retrying will not fix it); anything else -> `internal`.
 * A ClientMailError passes through unchanged.
 */
export function translateImapError(error: unknown, context: ImapErrorContext): ClientMailError {
  if (ClientMailError.isInstance(error)) return error;
  const native = (typeof error === "object" && error !== null ? error : {}) as NativeImapError;
  const code = typeof native.code === "string" ? native.code : undefined;
  const responseCode =
    typeof native.serverResponseCode === "string" ? native.serverResponseCode.toUpperCase() : undefined;
  const details: Record<string, unknown> = { provider: "imap", operation: context.operation };
  if (context.folder !== undefined) details.folder = context.folder;
  if (code !== undefined) details.imapCode = code;
  if (responseCode !== undefined) details.serverResponseCode = responseCode;
  const options = { cause: error, details };

  if (
    native.authenticationFailed === true ||
    (responseCode !== undefined && authResponseCodes.has(responseCode))
  ) {
    return new ClientMailError("auth_revoked", "The IMAP server refused the mailbox's credentials", options);
  }
  if (native.mailboxMissing === true || responseCode === "NONEXISTENT" || code === "NotFound") {
    const folder = context.folder ?? (typeof native.path === "string" ? native.path : "(unknown)");
    return new NotFoundError("folder", folder, options);
  }
  if (code === "ETHROTTLE") {
    const retryAfterMs = typeof native.throttleReset === "number" ? native.throttleReset : undefined;
    return new RateLimitedError("The IMAP server is throttling this mailbox", retryAfterMs, options);
  }
  if (native.tlsFailed === true || (code !== undefined && certificateCodes.has(code))) {
    return new ClientMailError(
      "mailbox_unavailable",
      "The IMAP server's TLS certificate could not be verified",
      {
        ...options,
        retryable: false,
      },
    );
  }
  if (
    (code !== undefined && connectionCodes.has(code)) ||
    (responseCode !== undefined && busyResponseCodes.has(responseCode))
  ) {
    return new ClientMailError("transient", "The IMAP connection failed; retry later", options);
  }
  return new ClientMailError("internal", "The IMAP server rejected a command", options);
}
