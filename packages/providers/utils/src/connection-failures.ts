/**
 * Node's and OpenSSL's connection errors, reduced to the few reasons a user sees (R9). Every
 * protocol client (imapflow, nodemailer) surfaces these native errors for the socket underneath,
 * so the table lives here once; each provider adds its client's own codes on top.
 *
 * Failures to reach an allowed host are deliberately coarse: refused, reset, unreachable and
 * "no route" are all `connection_refused`, so the errors of a provider say no more about a
 * network than connecting to it from outside would.
 */
import type { ConnectionFailureHint, ConnectionFailureReason } from "@clientmail/core";

/** A reason, and a hint when the failure points at a setting. */
export interface ConnectionFailure {
  reason: ConnectionFailureReason;
  hint?: ConnectionFailureHint | undefined;
}

const dnsCodes = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME", "EAI_NODATA", "ENODATA"]);

const unreachableCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENETRESET",
  "EPIPE",
  "EADDRNOTAVAIL",
  "ERR_SOCKET_CLOSED",
  "ERR_STREAM_DESTROYED",
]);

const timeoutCodes = new Set(["ETIMEDOUT", "ETIMEOUT", "ESOCKETTIMEDOUT"]);

/**
 * What OpenSSL says when a TLS client reads a cleartext greeting (`* OK ...`, `220 ...`) as a TLS
 * record: the port speaks plain text.
 */
const plaintextPeerCodes = new Set([
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_SSL_PACKET_LENGTH_TOO_LONG",
  "ERR_SSL_UNKNOWN_PROTOCOL",
  "ERR_SSL_HTTP_REQUEST",
  "ERR_SSL_RECORD_LAYER_FAILURE",
]);

const certificateCodes = new Set([
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
]);

/**
 * Classifies a native socket, DNS or TLS error by its `code`; undefined when it is none of those
 * (the caller decides). `code` is read, never the message.
 */
export function classifyNetworkError(error: unknown): ConnectionFailure | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return undefined;
  if (dnsCodes.has(code)) return { reason: "dns_failed" };
  if (unreachableCodes.has(code)) return { reason: "connection_refused" };
  if (timeoutCodes.has(code)) return { reason: "timeout" };
  if (plaintextPeerCodes.has(code)) return { reason: "tls_failed", hint: "tls_to_plaintext_port" };
  if (certificateCodes.has(code) || code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) {
    return { reason: "tls_failed" };
  }
  return undefined;
}
