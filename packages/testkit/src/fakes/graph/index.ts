/**
 * A faithful in-memory Microsoft Graph mail API for tests: msw handlers (or a plain `fetch`)
 * over a mailbox model, with per-folder delta quirks, throttling, `$batch`, subscriptions with
 * the validation handshake and lifecycle events, and fault scripting.
 *
 * @module
 */
export { createGraphFake, graphBaseUrl, microsoftLoginUrl } from "./fake.js";
export type {
  GraphFake,
  GraphFakeMailbox,
  GraphFakeOptions,
  GraphFakeQuirks,
  GraphOperation,
  RecordedGraphRequest,
  RecordedDelivery,
  FakeSubscription,
} from "./fake.js";
export { graphFaults, syncStateNotFoundMessage } from "./responses.js";
export type { GraphFault, GraphRetryAfter } from "./responses.js";
export type {
  GraphAddress,
  GraphFakeAttachment,
  GraphFakeMessageInput,
  StoredMessage as GraphStoredMessage,
} from "./model.js";
export { graphConformanceSetup } from "./conformance.js";
export type { GraphFixtureEnvironment, GraphFixtureProvider } from "./conformance.js";
