/**
 * `@clientmail/testkit`: what an adapter author or an integrating team tests with — faithful
 * HTTP-level fakes of the Gmail API and Microsoft Graph (msw), an in-memory mailbox, a Dovecot
 * launcher, a fault-injecting TCP proxy and the fixtures the conformance suites drive. Needs no
 * test runner: it loads from ESM and CommonJS alike, with or without vitest installed.
 *
 * The conformance suites themselves define vitest tests and live on the `@clientmail/testkit/vitest`
 * subpath.
 *
 * @module
 */
export * from "./fakes/gmail/index.js";
export * from "./fakes/graph/index.js";
export * from "./provider-fixture.js";
export * from "./raw-headers.js";
export * from "./dovecot.js";
export * from "./tcp-proxy.js";
export * from "./loopback-host-policy.js";
export * from "./memory-mailbox.js";
export * from "./privacy-scan.js";
export * from "./end-to-end-firm.js";
export * from "./folder-document-sink.js";
export * from "./fetch-messages.js";
export * from "./broken-mime.js";
export * from "./drain-jobs.js";
export * from "./stallable-fetch.js";
export * from "./http-bridge.js";
export * from "./fake-mail-sender.js";
export * from "./smtp-relay.js";
export * from "./dovecot-append.js";
