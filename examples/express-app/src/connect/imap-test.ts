/**
 * The connection test an IMAP mailbox passes before it is saved: the provider the sync would open
 * (same settings, same host policy, R9) logs in and searches the synced folders once for an
 * address no message has; then, when SMTP settings were given, the SMTP server is greeted and
 * logged in to, sending nothing. Without SMTP settings the sender derives them from the IMAP ones
 * at the first send, so they are not tested here (an IMAP host need not also be a submission
 * server; docs/decisions.md, "Reference app"). A refused destination fails before any connection
 * is made; every failure is the SDK's ConnectionError (reason, and a hint such as a TLS/port
 * mismatch; `details.provider` says which server) or another typed error.
 */
import {
  createImapProvider,
  createSmtpSender,
  testSmtpConnection,
  type ImapProviderSettings,
} from "@clientmail/imap";
import type { ImapCredentials } from "../providers.js";

/** How long the whole test may take. */
const testTimeoutMs = 30_000;

/** Logs in and runs one search; throws the SDK's typed error when the server cannot be used. */
export async function testImapConnection(
  credentials: ImapCredentials,
  hostPolicy: NonNullable<ImapProviderSettings["hostPolicy"]>,
): Promise<void> {
  const imap: ImapProviderSettings = { ...credentials.imap, hostPolicy, commandTimeoutMs: testTimeoutMs };
  // The SMTP settings are validated (host, port, security) before anything connects.
  await createSmtpSender({ imap, smtp: credentials.smtp ?? { host: imap.host, user: imap.user } }).close();
  const provider = createImapProvider(imap);
  try {
    const search = provider.search(
      { addresses: ["connection-test@clientmail.invalid"] },
      { signal: AbortSignal.timeout(testTimeoutMs) },
    );
    for await (const page of search) void page;
  } finally {
    await provider.close();
  }
  if (credentials.smtp) await testSmtpConnection({ imap, smtp: credentials.smtp });
}
