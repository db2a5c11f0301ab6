/**
 * Faults against a real Dovecot: dropped connections mid-fetch (through a TCP proxy), a server
 * restart, bad credentials, a missing folder, and IDLE being re-issued on schedule (the 29-minute
 * rule, with a shortened period). TLS and the host policy are in `network-safety.test.ts` (R9).
 */
import { createHash, randomBytes } from "node:crypto";
import { chmod, readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientMailError, isUnreadable, type FetchedMessage, type FetchResult } from "@clientmail/core";
import type { ChangePage, MailProvider } from "@clientmail/core/ports";
import {
  buildConformanceMessage,
  fetchedMessages,
  startDovecot,
  startTcpProxy,
  type DovecotServer,
  type DovecotUser,
} from "@clientmail/testkit";
import { createImapProvider } from "../src/index.js";
import { adminConnection, dovecotSkipReason, providerSettings, sharedDovecot } from "./dovecot-fixture.js";

const skip = dovecotSkipReason();

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (condition()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 20);
  });
}

async function appendTo(
  server: DovecotServer,
  user: DovecotUser,
  raw: string,
  folder = "INBOX",
): Promise<void> {
  const admin = await adminConnection(server, user);
  try {
    await admin.append(folder, raw);
  } finally {
    await admin.logout().catch(() => admin.close());
  }
}

/** Makes the Maildir file of a message unreadable for Dovecot (which runs as the mail user). */
async function makeUnreadable(server: DovecotServer, user: DovecotUser, messageId: string): Promise<void> {
  const maildir = server.maildir(user.user);
  for (const sub of ["cur", "new"]) {
    for (const name of await readdir(join(maildir, sub)).catch(() => [] as string[])) {
      const file = join(maildir, sub, name);
      if ((await readFile(file, "latin1")).includes(messageId)) {
        await chmod(file, 0);
        return;
      }
    }
  }
  throw new Error(`no Maildir file holds ${messageId}`);
}

function lastCursor(pages: readonly ChangePage[]): string {
  return pages[pages.length - 1]!.cursor;
}

describe.skipIf(skip !== undefined)(
  `imap provider faults against Dovecot${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    let shared: DovecotServer;
    const providers: MailProvider[] = [];
    const track = (provider: MailProvider) => {
      providers.push(provider);
      return provider;
    };

    beforeAll(async () => {
      shared = await sharedDovecot();
    });
    afterAll(async () => {
      await Promise.all(providers.map((provider) => provider.close()));
      if (!process.env.CLIENTMAIL_TEST_DOVECOT) await shared.stop();
    });

    it("a connection dropped mid-fetch fails as transient, and the next call succeeds", async () => {
      const user = await shared.addUser();
      const attachment = randomBytes(3 * 1024 * 1024);
      const messageId = `<big-${randomBytes(4).toString("hex")}@client.example>`;
      await appendTo(
        shared,
        user,
        buildConformanceMessage({
          messageId,
          from: "a@client.example",
          to: user.user,
          subject: "big",
          attachment: { filename: "scan.pdf", contentType: "application/pdf", content: attachment },
        }),
      );
      const proxy = await startTcpProxy(shared);
      try {
        const provider = track(createImapProvider(providerSettings(proxy, user)));
        const [envelope] = (await collect(provider.changes(undefined))).flatMap((page) => page.added);
        expect(envelope?.messageId).toBe(messageId);

        const cut = proxy.cutAfterServerBytes(512 * 1024);
        const error = await failureOf(collect(provider.fetch([envelope!.providerId])));
        await cut;
        expect(ClientMailError.hasCode(error, "transient"), `expected transient, got ${String(error)}`).toBe(
          true,
        );
        expect((error as ClientMailError).retryable).toBe(true);

        const [message]: FetchedMessage[] = await fetchedMessages(provider.fetch([envelope!.providerId]));
        expect(message?.attachments[0]?.contentHash).toBe(
          createHash("sha256").update(attachment).digest("hex"),
        );
        expect(proxy.totalConnections).toBeGreaterThanOrEqual(2);
      } finally {
        await proxy.close();
      }
    });

    /** Fails the test when `promise` does not settle within `ms`; returns its rejection and the time it took. */
    async function failureWithin(
      promise: Promise<unknown>,
      ms: number,
    ): Promise<{ error: unknown; tookMs: number }> {
      const started = Date.now();
      const error = await Promise.race([
        failureOf(promise),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms)),
      ]);
      return { error, tookMs: Date.now() - started };
    }

    it("R3: a half-open server (no FIN, no data) fails changes as transient at the command deadline; the next call reconnects", async () => {
      const user = await shared.addUser();
      await appendTo(
        shared,
        user,
        buildConformanceMessage({ messageId: "<half@x.example>", from: "a@client.example", subject: "h" }),
      );
      const proxy = await startTcpProxy(shared);
      try {
        const provider = track(createImapProvider(providerSettings(proxy, user, { commandTimeoutMs: 1500 })));
        const first = await collect(provider.changes(undefined));
        proxy.blackhole();
        const { error, tookMs } = await failureWithin(collect(provider.changes(undefined)), 5000);
        expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
        expect((error as ClientMailError).retryable).toBe(true);
        expect((error as ClientMailError).details.reason).toBe("deadline_exceeded");
        expect(tookMs).toBeGreaterThanOrEqual(1400);
        proxy.pass();
        const again = await collect(provider.changes(undefined));
        expect(again.flatMap((page) => page.added.map((e) => e.messageId))).toEqual(
          first.flatMap((page) => page.added.map((e) => e.messageId)),
        );
        expect(proxy.totalConnections).toBeGreaterThanOrEqual(2);
      } finally {
        await proxy.close();
      }
    });

    it("R3: closing a provider whose server went half-open (LOGOUT never answered) ends within the command deadline", async () => {
      const user = await shared.addUser();
      const proxy = await startTcpProxy(shared);
      try {
        const provider = createImapProvider(providerSettings(proxy, user, { commandTimeoutMs: 1000 }));
        await collect(provider.changes(undefined));
        proxy.blackhole();
        const started = Date.now();
        await Promise.race([
          provider.close(),
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error("close still running after 4 s")), 4000),
          ),
        ]);
        expect(Date.now() - started).toBeLessThan(4000);
      } finally {
        await proxy.close();
      }
    });

    it("R3: a server silent from the first byte (connect accepted, no greeting) fails as transient within the deadline", async () => {
      const user = await shared.addUser();
      const proxy = await startTcpProxy(shared);
      try {
        proxy.blackhole();
        const provider = track(createImapProvider(providerSettings(proxy, user, { commandTimeoutMs: 1000 })));
        const { error } = await failureWithin(collect(provider.changes(undefined)), 4000);
        expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
      } finally {
        await proxy.close();
      }
    });

    it("R3: a trickling server fails fetch as transient at the deadline, though bytes keep coming (no inactivity timeout fires)", async () => {
      const user = await shared.addUser();
      const messageId = `<trickle-${randomBytes(4).toString("hex")}@client.example>`;
      await appendTo(
        shared,
        user,
        buildConformanceMessage({
          messageId,
          from: "a@client.example",
          to: user.user,
          subject: "big",
          attachment: {
            filename: "scan.pdf",
            contentType: "application/pdf",
            content: randomBytes(256 * 1024),
          },
        }),
      );
      const proxy = await startTcpProxy(shared);
      try {
        const provider = track(
          createImapProvider(
            providerSettings(proxy, user, { commandTimeoutMs: 2000, socketTimeoutMs: 1000 }),
          ),
        );
        const [envelope] = (await collect(provider.changes(undefined))).flatMap((page) => page.added);
        proxy.trickle({ bytes: 64, everyMs: 50 });
        const { error, tookMs } = await failureWithin(collect(provider.fetch([envelope!.providerId])), 6000);
        expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
        expect((error as ClientMailError).details.reason).toBe("deadline_exceeded");
        expect(tookMs).toBeGreaterThanOrEqual(1900);
        proxy.pass();
        const [message] = await fetchedMessages(provider.fetch([envelope!.providerId]));
        expect(message?.envelope.messageId).toBe(messageId);
      } finally {
        await proxy.close();
      }
    });

    it("R3: aborting the signal ends a call stuck on a half-open server within a second, with the signal's reason", async () => {
      const user = await shared.addUser();
      await appendTo(
        shared,
        user,
        buildConformanceMessage({ messageId: "<abort@x.example>", from: "a@client.example", subject: "a" }),
      );
      const proxy = await startTcpProxy(shared);
      try {
        const provider = track(
          createImapProvider(providerSettings(proxy, user, { commandTimeoutMs: 60_000 })),
        );
        const [envelope] = (await collect(provider.changes(undefined))).flatMap((page) => page.added);
        proxy.blackhole();
        const reason = new ClientMailError("lease_lost", "another worker took the mailbox");
        for (const call of [
          (signal: AbortSignal) => collect(provider.changes(undefined, { signal })),
          (signal: AbortSignal) => collect(provider.fetch([envelope!.providerId], { signal })),
          (signal: AbortSignal) => collect(provider.search({ addresses: ["a@client.example"] }, { signal })),
        ]) {
          const controller = new AbortController();
          setTimeout(() => controller.abort(reason), 300);
          const { error, tookMs } = await failureWithin(call(controller.signal), 3000);
          expect(error).toBe(reason);
          expect(tookMs).toBeLessThan(1300);
        }
      } finally {
        await proxy.close();
      }
    });

    it("R1: a message the server cannot read (FETCH ends NO, connection healthy) is yielded as server_refused; the rest of the chunk is delivered", async () => {
      const server = await startDovecot({ fetchFailure: "no-after" });
      const proxy = await startTcpProxy(server);
      try {
        const user = await server.addUser();
        const ids = [0, 1, 2].map((i) => `<r1-${i}-${randomBytes(4).toString("hex")}@client.example>`);
        for (const [i, messageId] of ids.entries())
          await appendTo(
            server,
            user,
            buildConformanceMessage({
              messageId,
              from: "a@client.example",
              subject: `m${i}`,
              text: `body ${i}`,
            }),
          );
        const provider = track(createImapProvider(providerSettings(proxy, user)));
        const envelopes = (await collect(provider.changes(undefined))).flatMap((page) => page.added);
        const idOf = (messageId: string) => envelopes.find((e) => e.messageId === messageId)!.providerId;
        await makeUnreadable(server, user, ids[1]!);

        const results: FetchResult[] = await collect(provider.fetch(envelopes.map((e) => e.providerId)));
        const readable = results.filter((r) => !isUnreadable(r)) as FetchedMessage[];
        expect(readable.map((m) => m.envelope.messageId).sort()).toEqual([ids[0], ids[2]].sort());
        expect(readable.map((m) => m.text?.trim()).sort()).toEqual(["body 0", "body 2"]);
        expect(results.filter(isUnreadable)).toEqual([
          {
            providerId: idOf(ids[1]!),
            unreadable: { reason: "server_refused", detail: expect.stringMatching(/^IMAP/) },
          },
        ]);
        // The connection stayed healthy: no reconnect, and it goes on serving. (Two connections
        // in all: the full listing's own, and the command connection the fetches share.)
        const [again] = await fetchedMessages(provider.fetch([idOf(ids[2]!)]));
        expect(again?.envelope.messageId).toBe(ids[2]);
        expect(proxy.totalConnections).toBe(2);
      } finally {
        await proxy.close();
        await server.stop();
      }
    });

    it("R1: a server that drops the connection over one message fails the fetch as transient; no message is set aside", async () => {
      const user = await shared.addUser();
      const ids = [0, 1].map((i) => `<drop-${i}-${randomBytes(4).toString("hex")}@client.example>`);
      for (const messageId of ids)
        await appendTo(
          shared,
          user,
          buildConformanceMessage({ messageId, from: "a@client.example", subject: "d" }),
        );
      const provider = track(createImapProvider(providerSettings(shared, user)));
      const envelopes = (await collect(provider.changes(undefined))).flatMap((page) => page.added);
      await makeUnreadable(shared, user, ids[1]!);
      const results: FetchResult[] = [];
      const error = await failureOf(
        (async () => {
          for await (const result of provider.fetch(envelopes.map((e) => e.providerId))) results.push(result);
        })(),
      );
      expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
      expect(results.filter(isUnreadable)).toEqual([]);
    });

    it("R9: a refused connection is transient (connection_refused)", async () => {
      const proxy = await startTcpProxy(shared);
      const { port } = proxy;
      await proxy.close();
      const user = await shared.addUser();
      const provider = track(createImapProvider(providerSettings({ host: "127.0.0.1", port }, user)));
      const error = await failureOf(collect(provider.changes(undefined)));
      expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
      expect((error as ClientMailError).details.reason).toBe("connection_refused");
    });

    it("rejected credentials are auth_revoked", async () => {
      // Its own server: Dovecot delays every later login from an address that failed one.
      const server = await startDovecot();
      try {
        const user = await server.addUser();
        const provider = track(
          createImapProvider(providerSettings(server, { user: user.user, password: "wrong" })),
        );
        const error = await failureOf(collect(provider.changes(undefined)));
        expect(ClientMailError.hasCode(error, "auth_revoked"), String(error)).toBe(true);
        expect((error as ClientMailError).retryable).toBe(false);
        expect((error as ClientMailError).details.reason).toBe("auth_failed");
        expect(JSON.stringify((error as ClientMailError).details)).not.toContain("wrong");
      } finally {
        await server.stop();
      }
    });

    it("a configured folder that does not exist is not_found", async () => {
      const user = await shared.addUser();
      const provider = track(
        createImapProvider(providerSettings(shared, user, { folders: ["INBOX", "Clients/Missing"] })),
      );
      const error = await failureOf(collect(provider.changes(undefined)));
      expect(ClientMailError.hasCode(error, "not_found"), String(error)).toBe(true);
    });

    it("a special-use folder the server lacks (All Mail on Dovecot) is skipped", async () => {
      const user = await shared.addUser();
      const provider = track(createImapProvider(providerSettings(shared, user)));
      await appendTo(
        shared,
        user,
        buildConformanceMessage({ messageId: "<s@x.example>", from: "a@x.example", subject: "s" }),
        "Sent",
      );
      const added = (await collect(provider.changes(undefined))).flatMap((page) => page.added);
      expect(added.map((envelope) => envelope.folder)).toEqual(["Sent"]);
    });

    it("IDLE is ended and re-issued on schedule (29-minute rule), and keeps reporting", async () => {
      const user = await shared.addUser();
      let idles = 0;
      const proxy = await startTcpProxy(shared, {
        tap: (direction, chunk) => {
          if (direction === "client-to-server")
            idles += (chunk.toString("latin1").match(/ IDLE\r\n/g) ?? []).length;
        },
      });
      try {
        const provider = track(
          createImapProvider(providerSettings(proxy, user, { idleRestartMs: 700, folders: ["INBOX"] })),
        );
        let changes = 0;
        const subscription = await provider.watch(() => changes++);
        try {
          await until(() => idles >= 3, 10_000, "IDLE to be re-issued three times");
          const before = changes;
          await appendTo(
            shared,
            user,
            buildConformanceMessage({ messageId: "<idle@x.example>", from: "a@x.example", subject: "i" }),
          );
          await until(() => changes > before, 10_000, "watch to report the new message");
        } finally {
          await subscription.stop();
        }
      } finally {
        await proxy.close();
      }
    });

    it("a server restart: calls fail as transient at worst, then sync resumes and watch reconnects", async () => {
      const server = await startDovecot();
      try {
        const user = await server.addUser();
        await appendTo(
          server,
          user,
          buildConformanceMessage({ messageId: "<before@x.example>", from: "a@x.example", subject: "b" }),
        );
        const provider = track(createImapProvider(providerSettings(server, user)));
        const backfill = await collect(provider.changes(undefined));
        let changes = 0;
        const subscription = await provider.watch(() => changes++);
        try {
          await server.restart();
          await appendTo(
            server,
            user,
            buildConformanceMessage({ messageId: "<after@x.example>", from: "a@x.example", subject: "a" }),
          );
          await until(() => changes > 0, 20_000, "watch to reconnect and report");

          let added: string[] | undefined;
          for (let attempt = 0; attempt < 3 && added === undefined; attempt++) {
            try {
              added = (await collect(provider.changes(lastCursor(backfill)))).flatMap((page) =>
                page.added.map((e) => e.messageId ?? ""),
              );
            } catch (error) {
              expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
            }
          }
          expect(added).toEqual(["<after@x.example>"]);
        } finally {
          await subscription.stop();
        }
      } finally {
        await server.stop();
      }
    }, 60_000);
  },
);
