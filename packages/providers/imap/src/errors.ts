/**
 * Translation of imapflow's and Node's socket errors into clientmail's codes, at the edge: no
 * native error reaches a caller of the provider, and no server text reaches a message (it stays
 * in `cause`). Opening a connection fails with a {@link ConnectionError} and its reason (R9);
 * a command on an open connection with the codes below.
 */
import {
  ClientMailError,
  ConnectionError,
  NotFoundError,
  RateLimitedError,
  type ConnectionFailureHint,
  type ConnectionFailureReason,
} from "@clientmail/core";
import { classifyNetworkError } from "@clientmail/provider-utils";

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
 * authentication refused -> `auth_revoked` (a {@link ConnectionError}, `auth_failed`); folder
 * missing (`NONEXISTENT`) -> `not_found`; throttling -> `rate_limited`; dropped or refused
 * connections, timeouts, server restarts and server-side `UNAVAILABLE`/`INUSE` -> `transient`; a
 * TLS certificate that does not verify -> `mailbox_unavailable` (`tls_failed`, not retryable:
 * retrying will not fix it); anything else -> `internal`. A ClientMailError passes through
 * unchanged. Failures while connecting go through {@link translateConnectError}.
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

  if (isAuthFailure(native, responseCode)) {
    return new ConnectionError("auth_failed", {
      cause: error,
      details: connectionDetails(context, responseCode),
    });
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
    return new ConnectionError("tls_failed", { cause: error, details: connectionDetails(context) });
  }
  if (
    (code !== undefined && connectionCodes.has(code)) ||
    (responseCode !== undefined && busyResponseCodes.has(responseCode))
  ) {
    return new ClientMailError("transient", "The IMAP connection failed; retry later", options);
  }
  return new ClientMailError("internal", "The IMAP server rejected a command", options);
}

function isAuthFailure(native: NativeImapError, responseCode: string | undefined): boolean {
  return (
    native.authenticationFailed === true ||
    (responseCode !== undefined && authResponseCodes.has(responseCode))
  );
}

/** Details of a ConnectionError: where, never the native code or text (those stay in `cause`). */
function connectionDetails(context: ImapErrorContext, serverResponseCode?: string): Record<string, unknown> {
  return {
    provider: "imap",
    operation: context.operation,
    ...(context.folder === undefined ? {} : { folder: context.folder }),
    ...(serverResponseCode === undefined ? {} : { serverResponseCode }),
  };
}

/** imapflow's own codes for a connection that did not come up. */
const imapflowConnectFailures: Record<string, ConnectionFailureReason> = {
  CONNECT_TIMEOUT: "timeout",
  GREETING_TIMEOUT: "timeout",
  UPGRADE_TIMEOUT: "timeout",
  NoConnection: "connection_refused",
  EConnectionClosed: "connection_refused",
  ClosedAfterConnectText: "connection_refused",
  ClosedAfterConnectTLS: "connection_refused",
  STARTTLS_INJECTION: "tls_failed",
};

/**
 * Maps a failure to open a connection (connect, greeting, STARTTLS, login) to a
 * {@link ConnectionError} with one of the R9 reasons:
 *
 * | failure                                                                | reason               | hint                     |
 * | ---------------------------------------------------------------------- | -------------------- | ------------------------ |
 * | host policy (thrown before connecting), cleartext to a remote address  | `host_refused`       |                          |
 * | `ENOTFOUND`, `EAI_AGAIN`, ...                                          | `dns_failed`         |                          |
 * | refused, reset, unreachable, closed before or at the greeting (`BYE`)  | `connection_refused` |                          |
 * | connect, greeting or upgrade timeout                                   | `timeout`            | `plaintext_to_tls_port` for a cleartext greeting timeout |
 * | certificate, handshake, protocol version, STARTTLS injection           | `tls_failed`         | `tls_to_plaintext_port` when the answer was cleartext |
 * | STARTTLS not offered, refused, or impossible after `PREAUTH`           | `tls_failed`         | `starttls_not_offered`   |
 * | credentials refused                                                    | `auth_failed`        |                          |
 *
 * Anything else is translated as a command failure ({@link translateImapError}).
 */
export function translateConnectError(
  error: unknown,
  context: ImapErrorContext & { secure: boolean },
): ClientMailError {
  if (ClientMailError.isInstance(error)) return error;
  const native = (typeof error === "object" && error !== null ? error : {}) as NativeImapError;
  const code = typeof native.code === "string" ? native.code : undefined;
  const responseCode =
    typeof native.serverResponseCode === "string" ? native.serverResponseCode.toUpperCase() : undefined;
  const fail = (reason: ConnectionFailureReason, hint?: ConnectionFailureHint) =>
    new ConnectionError(reason, { cause: error, hint, details: connectionDetails(context) });

  if (isAuthFailure(native, responseCode)) {
    return new ConnectionError("auth_failed", {
      cause: error,
      details: connectionDetails(context, responseCode),
    });
  }
  const network = classifyNetworkError(error);
  if (network !== undefined) return fail(network.reason, network.hint);
  if (native.tlsFailed === true) {
    // imapflow's own STARTTLS refusals carry no code; handshake failures carry OpenSSL's.
    return code === undefined ? fail("tls_failed", "starttls_not_offered") : fail("tls_failed");
  }
  const reason = code === undefined ? undefined : imapflowConnectFailures[code];
  if (reason !== undefined) {
    const hint = code === "GREETING_TIMEOUT" && !context.secure ? "plaintext_to_tls_port" : undefined;
    return fail(reason, hint);
  }
  return translateImapError(error, context);
}
