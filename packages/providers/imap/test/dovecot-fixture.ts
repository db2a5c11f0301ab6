/**
 * Test support: the Dovecot of this test run (from the environment the global setup filled) and
 * the provider-conformance fixture on top of it.
 */
import type { ImapFlow } from "imapflow";
import {
  connectToDovecot,
  attachDovecot,
  dovecotAvailability,
  loopbackHostPolicy,
  startDovecot,
  startTcpProxy,
  type DovecotInfo,
  type DovecotServer,
  type DovecotUser,
  type ProviderFixture,
} from "@clientmail/testkit";
import { createImapProvider, type ImapProviderSettings } from "../src/index.js";

/** Why the Dovecot suites cannot run here, or undefined when they can. */
export function dovecotSkipReason(): string | undefined {
  const reason = process.env.CLIENTMAIL_TEST_DOVECOT_SKIP;
  if (reason) return reason;
  if (!process.env.CLIENTMAIL_TEST_DOVECOT) {
    const availability = dovecotAvailability();
    return availability.available ? undefined : availability.reason;
  }
  return undefined;
}

/** The run's shared server (attached), or a server this file starts when run without the global setup. */
export async function sharedDovecot(): Promise<DovecotServer> {
  const info = process.env.CLIENTMAIL_TEST_DOVECOT;
  if (info) return attachDovecot(JSON.parse(info) as DovecotInfo);
  return await startDovecot();
}

/** An admin connection for a user, used to drive the mailbox from the "outside". */
export const adminConnection = (
  server: { host: string; port: number },
  user: DovecotUser,
): Promise<ImapFlow> => connectToDovecot(server, user);

/** Deletes (expunges) every message with this Message-ID from the given folders. */
export async function deleteByMessageId(
  admin: ImapFlow,
  messageId: string,
  folders: readonly string[],
): Promise<void> {
  for (const folder of folders) {
    const lock = await admin.getMailboxLock(folder);
    try {
      const uids = (await admin.search({ header: { "message-id": messageId } }, { uid: true })) || [];
      if (uids.length > 0) await admin.messageDelete(uids, { uid: true });
    } catch (error) {
      const e = error as { responseText?: string; executedCommand?: string; serverResponseCode?: string };
      throw new Error(
        `deleting ${messageId} from ${folder} failed: ${e.executedCommand} -> ${e.serverResponseCode} ${e.responseText}`,
        { cause: error },
      );
    } finally {
      lock.release();
    }
  }
}

/**
 * Settings for a provider of `user` on `server`: cleartext on loopback, which the host policy
 * allows explicitly (R9), small pages.
 */
export function providerSettings(
  server: { host: string; port: number },
  user: DovecotUser,
  extra: Partial<ImapProviderSettings> = {},
): ImapProviderSettings {
  return {
    host: server.host,
    port: server.port,
    security: "none",
    hostPolicy: loopbackHostPolicy,
    user: user.user,
    password: user.password,
    pageSize: 2,
    pollIntervalMs: 500,
    ...extra,
  };
}

/** The command deadline of the conformance fixture's provider. */
export const conformanceCommandTimeoutMs = 1500;

/**
 * A conformance fixture: a fresh user on `server`, an admin connection, and the provider under
 * test, connected through a TCP proxy that `stall()` turns into a half-open peer.
 */
export async function imapFixture(
  server: DovecotServer,
  extra: Partial<ImapProviderSettings> = {},
): Promise<ProviderFixture> {
  const user = await server.addUser();
  const admin = await adminConnection(server, user);
  const proxy = await startTcpProxy(server);
  const folders = ["INBOX", "Sent"];
  return {
    provider: createImapProvider(
      providerSettings(proxy, user, { commandTimeoutMs: conformanceCommandTimeoutMs, ...extra }),
    ),
    stall: () => proxy.blackhole(),
    resume: () => proxy.pass(),
    async appendMessage(raw, folder) {
      await admin.append(folder === "sent" ? "Sent" : "INBOX", raw);
    },
    async deleteMessage(messageId) {
      await deleteByMessageId(admin, messageId, folders);
    },
    async expireCursor() {
      for (const folder of folders) {
        await server.setUidValidity(user.user, folder, (await server.uidValidity(user.user, folder)) + 1);
      }
    },
    async close() {
      await proxy.close();
      await admin.logout().catch(() => admin.close());
    },
  };
}
