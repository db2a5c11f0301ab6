/**
 * A faithful in-memory Gmail API for tests: msw handlers (or a plain `fetch`) over a mailbox
 * model, with history paging quirks, quota units, batch, OAuth, push and fault scripting.
 *
 * @module
 */
export { GmailFake, createGmailFake, legacyGmailCosts, gmail2026Costs } from "./fake.js";
export type { GmailFakeOptions, GmailFault, GmailMethod, GmailRequest, GmailCallRecord } from "./fake.js";
export { gmailFailures, mailSendingLimitFailure } from "./failures.js";
export type { GmailFailure, GmailFailureName } from "./failures.js";
export { GmailFakeMailbox } from "./mailbox.js";
export type {
  GmailFakeMessage,
  GmailHistoryRecord,
  GmailSendAs,
  GmailWatch,
  GmailPushMessage,
  NewGmailMessage,
  HistoryMessageRef,
  MailboxHost,
} from "./mailbox.js";
export type { GmailHeader, GmailMessagePart } from "./mime.js";
export { parseQuery, matchesQuery } from "./query.js";
export type { QueryNode, QueryTarget } from "./query.js";
export { buildRawMessage } from "./compose.js";
export { createGmailConformanceBackend } from "./conformance-fixture.js";
export type { GmailConformanceBackend, PushAwareProvider } from "./conformance-fixture.js";
export type { RawMessageInput } from "./compose.js";
