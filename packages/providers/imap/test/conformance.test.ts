/**
 * The provider conformance suite, run by the IMAP provider against a real Dovecot: once with
 * CONDSTORE/QRESYNC (the run's shared server) and once against a server that offers neither, so
 * the plain UID-diffing path is held to the same contract (deletions included).
 */
import { afterAll } from "vitest";
import { startDovecot, type DovecotServer } from "@clientmail/testkit";
import { providerConformance } from "@clientmail/testkit/vitest";
import {
  conformanceCommandTimeoutMs,
  dovecotSkipReason,
  imapFixture,
  sharedDovecot,
} from "./dovecot-fixture.js";

const skip = dovecotSkipReason();

let shared: Promise<DovecotServer> | undefined;
let plain: Promise<DovecotServer> | undefined;

afterAll(async () => {
  if (!process.env.CLIENTMAIL_TEST_DOVECOT) await (await shared)?.stop();
  await (await plain)?.stop();
});

providerConformance({
  name: "imap (Dovecot, CONDSTORE/QRESYNC)",
  skip,
  operationDeadlineMs: conformanceCommandTimeoutMs,
  async setup() {
    shared ??= sharedDovecot();
    return await imapFixture(await shared);
  },
});

providerConformance({
  name: "imap (Dovecot without CONDSTORE)",
  skip,
  operationDeadlineMs: conformanceCommandTimeoutMs,
  async setup() {
    plain ??= startDovecot({ condstore: false });
    return await imapFixture(await plain);
  },
});
