/**
 * `@clientmail/testkit/vitest`: the conformance suites every clientmail adapter runs — stores,
 * providers, senders, job queues, blob stores, document sinks and pacing. Each defines vitest
 * tests: call it at the top level of a test file. Needs `vitest` (a peer dependency, optional for
 * the root export).
 *
 * @module
 */
export * from "./store-conformance/index.js";
export * from "./provider-conformance.js";
export * from "./job-queue-conformance.js";
export * from "./blob-store-conformance.js";
export * from "./document-sink-conformance.js";
export * from "./pacing-conformance.js";
export * from "./mail-sender-conformance.js";
export * from "./outbox-sender-contract.js";
