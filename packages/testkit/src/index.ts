/**
 * `@clientmail/testkit`: what an adapter author or an integrating team tests with — the store and
 * provider conformance suites every clientmail adapter runs, faithful HTTP-level fakes of the
 * Gmail API and Microsoft Graph (msw), an in-memory mailbox, a Dovecot launcher and a
 * fault-injecting TCP proxy.
 *
 * @module
 */
export * from "./fakes/gmail/index.js";
export * from "./fakes/graph/index.js";
export * from "./store-conformance/index.js";
export * from "./provider-conformance.js";
export * from "./dovecot.js";
export * from "./tcp-proxy.js";
export * from "./loopback-host-policy.js";
export * from "./memory-mailbox.js";
export * from "./privacy-scan.js";
export * from "./end-to-end-firm.js";
export * from "./folder-document-sink.js";
export * from "./fetch-messages.js";
export * from "./broken-mime.js";
export * from "./job-queue-conformance.js";
export * from "./blob-store-conformance.js";
export * from "./drain-jobs.js";
export * from "./stallable-fetch.js";
export * from "./http-bridge.js";
export * from "./document-sink-conformance.js";
export * from "./pacing-conformance.js";
export * from "./fake-mail-sender.js";
export * from "./mail-sender-conformance.js";
export * from "./outbox-sender-contract.js";
export * from "./smtp-relay.js";
