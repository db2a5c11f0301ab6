/**
 * `@clientmail/provider-utils`: what every clientmail mail provider (IMAP, Gmail, Graph) would
 * otherwise repeat, with one implementation each — abortable sleep, retry with full-jitter backoff
 * that honours Retry-After, operation deadlines (R3), RFC 5322 headers -> envelope, raw source ->
 * fetched message (R11), spooling that bounds memory by bytes and the message size limit (R7),
 * per-message failure isolation (R1), and the errors providers share.
 * Internal to clientmail's providers; a third-party provider may use it too.
 *
 * @example
 * ```ts
 * import { RateLimitedError } from "@clientmail/core";
 * import { defaultRetryPolicy, parseRetryAfter, retry, sleep, withDeadline } from "@clientmail/provider-utils";
 *
 * const body = await retry(
 *   () =>
 *     withDeadline({ provider: "example", operation: "list", timeoutMs: 60_000 }, async (signal) => {
 *       const response = await fetch(url, { signal });
 *       const wait = parseRetryAfter(response.headers.get("retry-after"), Date.now());
 *       if (response.status === 429) throw new RateLimitedError("throttled", wait);
 *       return await response.json();
 *     }),
 *   { policy: defaultRetryPolicy, sleep, random: Math.random },
 * );
 * ```
 *
 * @module
 */
// Waiting and retrying live in core, which the engine and the job queues share with the providers.
export {
  abortError,
  throwIfAborted,
  sleep,
  backoffDelay,
  defaultRetryPolicy,
  requestedWaitMs,
  retry,
} from "@clientmail/core";
export type { Sleep, RetryOptions, RetryPolicy } from "@clientmail/core";
export { parseRetryAfter } from "./retry-after.js";
export { deadlineExceeded, withDeadline } from "./deadline.js";
export type { DeadlineOptions, DeadlineScope } from "./deadline.js";
export { cursorExpiredError, providerClosedError, readCursor } from "./errors.js";
export {
  ENVELOPE_HEADER_FIELDS,
  envelopeFromHeaders,
  headerBlockOf,
  headerFieldsOf,
  messageIdTokens,
  parseHeaderBlock,
  parseSimpleAddressList,
} from "./envelope-from-headers.js";
export type { EnvelopeParts, HeaderFields } from "./envelope-from-headers.js";
export { parseRawMessage, tooLarge, unreadable } from "./parse-message.js";
export type { ParseOptions } from "./parse-message.js";
export {
  SpoolArea,
  SpoolLimitError,
  SpoolReleasedError,
  SpoolWriter,
  inMemory,
  readPrefix,
  withSpoolArea,
} from "./spool.js";
export type { SpoolAreaOptions, SpooledBytes } from "./spool.js";
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  MAX_MAX_MESSAGE_BYTES,
  MIN_MAX_MESSAGE_BYTES,
  resolveMaxMessageBytes,
} from "./message-size.js";
export { MessageRefusedError, isolateFailures } from "./isolate-failures.js";
export { addressSearchForms } from "./address-forms.js";
export { classifyAddress, parseAddress, parseAddressRange } from "./address-ranges.js";
export type { AddressClass, AddressKind, AddressRange, ParsedAddress } from "./address-ranges.js";
export {
  STANDARD_PORTS,
  createHostPolicy,
  parseHost,
  resolveHostPolicy,
  systemResolver,
} from "./host-policy.js";
export type {
  Destination,
  HostPolicy,
  HostPolicySettings,
  HostResolver,
  MailProtocol,
  ParsedHost,
  ResolvedAddress,
  VetOptions,
  VettedDestination,
} from "./host-policy.js";
export {
  MIN_TLS_VERSION,
  nodeSocketFactory,
  openVettedSocket,
  tlsOptionsFor,
  upgradeVettedSocket,
} from "./vetted-socket.js";
export type { SocketFactory, SocketOpenOptions, TlsSettings } from "./vetted-socket.js";
export {
  checkConnectionSecurity,
  checkHttpsUrls,
  checkTransportSecurity,
  isLoopbackHost,
  warnInsecureUrls,
} from "./transport-security.js";
export type { InsecureAspect, TransportSecurity, TransportSecuritySettings } from "./transport-security.js";
export { classifyNetworkError } from "./connection-failures.js";
export type { ConnectionFailure } from "./connection-failures.js";
export { COMPOSED_ID_HEADER, buildMime, firstAddressOf, outgoingHeaderIssues } from "./mime.js";
export type { BuildMimeOptions, BuiltMime } from "./mime.js";
export { GMAIL_SEND_LIMITS, GRAPH_SEND_LIMITS, SendPacer } from "./send-pacer.js";
export type { SendLimit, SendReservation } from "./send-pacer.js";
