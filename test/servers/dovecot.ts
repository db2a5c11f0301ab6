/**
 * Starts one Dovecot for the whole test run and hands its details to the test workers as
 * `CLIENTMAIL_TEST_DOVECOT` (JSON {@link DovecotInfo}). Tests add their own users to it.
 *
 * When this machine cannot run Dovecot, sets `CLIENTMAIL_TEST_DOVECOT_SKIP` to the reason and the
 * IMAP suites skip, saying why — except under CI (`CI` set), where that is a failure.
 */
import { dovecotAvailability, startDovecot } from "../../packages/testkit/src/dovecot.js";

export async function start(): Promise<{ env: Record<string, string>; stop(): Promise<void> }> {
  const availability = dovecotAvailability();
  if (!availability.available) {
    const reason = `Dovecot unavailable: ${availability.reason}`;
    if (process.env.CI) throw new Error(`${reason}. The IMAP suites must run in CI.`);
    console.warn(
      `\n[test] IMAP suites against Dovecot are SKIPPED — ${reason}. Run \`pnpm test\` as root on Debian/Ubuntu to install it.\n`,
    );
    return { env: { CLIENTMAIL_TEST_DOVECOT_SKIP: reason }, stop: async () => undefined };
  }
  const server = await startDovecot();
  return {
    env: { CLIENTMAIL_TEST_DOVECOT: JSON.stringify(server.info) },
    stop: () => server.stop(),
  };
}
