/**
 * IMAP-specific behaviour beyond the shared conformance suite, against a real Dovecot.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientMailError, ValidationError, isUnreadable } from "@clientmail/core";
import type { ChangePage, MailProvider } from "@clientmail/core/ports";
import {
  buildConformanceMessage,
  startDovecot,
  type DovecotServer,
  type DovecotUser,
} from "@clientmail/testkit";
import { createImapProvider } from "../src/index.js";
import { nodeSocketFactory } from "@clientmail/provider-utils";
import { FETCH_CHUNK } from "../src/fetch.js";
import { adminConnection, dovecotSkipReason, providerSettings, sharedDovecot } from "./dovecot-fixture.js";

const skip = dovecotSkipReason();

async function pagesOf(provider: MailProvider, cursor: string | undefined): Promise<ChangePage[]> {
  const pages: ChangePage[] = [];
  for await (const page of provider.changes(cursor)) pages.push(page);
  return pages;
}

const last = (pages: readonly ChangePage[]) => pages[pages.length - 1]!.cursor;

describe("createImapProvider settings", () => {
  it("T12: names every invalid setting with its value and what was expected", () => {
    let error: unknown;
    try {
      createImapProvider({
        host: "",
        user: "",
        port: 0,
        pageSize: -1,
        backfillPageSize: 0,
        security: "plain" as never,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const fields = (error as ValidationError).issues.map((issue) => issue.field).sort();
    expect(fields).toEqual(["backfillPageSize", "host", "pageSize", "password", "port", "security", "user"]);
    expect(JSON.stringify((error as ValidationError).issues)).not.toMatch(/secret/);
    expect(() => createImapProvider({ host: "h", user: "u", password: "p", accessToken: "t" })).toThrow(
      ValidationError,
    );
    expect(() =>
      createImapProvider({ host: "h", user: "u", password: "p", idleRestartMs: 31 * 60_000 }),
    ).toThrow(/idleRestartMs/);
  });

  it("Y5: rejects an invalid search address before contacting the server", async () => {
    const provider = createImapProvider({
      host: "127.0.0.1",
      port: 1,
      user: "u",
      password: "p",
      security: "none",
    });
    let error: unknown;
    try {
      for await (const batch of provider.search({ addresses: ["not an address"] })) void batch;
    } catch (e) {
      error = e;
    }
    expect((error as ValidationError).issues).toMatchObject([
      { field: "addresses.0", value: "not an address" },
    ]);
    await provider.close();
  });
});

describe.skipIf(skip !== undefined)(`imap provider on Dovecot${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let server: DovecotServer;
  beforeAll(async () => {
    server = await sharedDovecot();
  });
  afterAll(async () => {
    if (!process.env.CLIENTMAIL_TEST_DOVECOT) await server.stop();
  });

  async function mailbox(extra = {}): Promise<{
    user: DovecotUser;
    provider: MailProvider;
    append(raw: string | Buffer, folder?: string): Promise<void>;
    done(): Promise<void>;
  }> {
    const user = await server.addUser();
    const admin = await adminConnection(server, user);
    const provider = createImapProvider(providerSettings(server, user, extra));
    return {
      user,
      provider,
      append: async (raw, folder = "INBOX") => {
        await admin.append(folder, raw);
      },
      done: async () => {
        await provider.close();
        await admin.logout();
      },
    };
  }

  it("an unchanged mailbox yields one empty page and the same cursor", async () => {
    const box = await mailbox();
    try {
      await box.append(
        buildConformanceMessage({ messageId: "<u1@x.example>", from: "a@x.example", subject: "u" }),
      );
      const backfill = await pagesOf(box.provider, undefined);
      const again = await pagesOf(box.provider, last(backfill));
      expect(again).toHaveLength(1);
      expect(again[0]).toMatchObject({ added: [], removed: [], done: true, cursor: last(backfill) });
    } finally {
      await box.done();
    }
  });

  it("with CONDSTORE, a flag change lists the message again with its new flags", async () => {
    const box = await mailbox();
    const admin = await adminConnection(server, box.user);
    try {
      await box.append(
        buildConformanceMessage({ messageId: "<f1@x.example>", from: "a@x.example", subject: "f" }),
      );
      await box.append(
        buildConformanceMessage({ messageId: "<f2@x.example>", from: "a@x.example", subject: "f" }),
      );
      const backfill = await pagesOf(box.provider, undefined);
      const lock = await admin.getMailboxLock("INBOX");
      try {
        await admin.messageFlagsAdd({ header: { "message-id": "<f2@x.example>" } }, ["\\Flagged"]);
      } finally {
        lock.release();
      }
      const delta = (await pagesOf(box.provider, last(backfill))).flatMap((page) => page.added);
      expect(delta.map((envelope) => envelope.messageId)).toEqual(["<f2@x.example>"]);
      expect(delta[0]!.flags).toContain("\\Flagged");
    } finally {
      await admin.logout();
      await box.done();
    }
  });

  it("a UIDVALIDITY change of one folder expires the cursor, naming that folder", async () => {
    const box = await mailbox();
    try {
      await box.append(
        buildConformanceMessage({ messageId: "<v1@x.example>", from: "a@x.example", subject: "v" }),
        "Sent",
      );
      const backfill = await pagesOf(box.provider, undefined);
      await server.setUidValidity(
        box.user.user,
        "Sent",
        (await server.uidValidity(box.user.user, "Sent")) + 10,
      );
      const error = await pagesOf(box.provider, last(backfill)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(ClientMailError.hasCode(error, "cursor_expired")).toBe(true);
      expect((error as ClientMailError).details).toMatchObject({ folder: "Sent" });
      const relisted = (await pagesOf(box.provider, undefined)).flatMap((page) => page.added);
      expect(relisted[0]!.providerId).not.toBe(backfill.flatMap((page) => page.added)[0]!.providerId);
    } finally {
      await box.done();
    }
  });

  it("F8: a folder dropped from the settings reports its messages removed", async () => {
    const box = await mailbox();
    try {
      await box.append(
        buildConformanceMessage({ messageId: "<d1@x.example>", from: "a@x.example", subject: "d" }),
        "Sent",
      );
      await box.append(
        buildConformanceMessage({ messageId: "<d2@x.example>", from: "a@x.example", subject: "d" }),
      );
      const backfill = await pagesOf(box.provider, undefined);
      const sentId = backfill
        .flatMap((page) => page.added)
        .find((envelope) => envelope.folder === "Sent")!.providerId;
      const inboxOnly = createImapProvider(providerSettings(server, box.user, { folders: ["\\Inbox"] }));
      try {
        const delta = await pagesOf(inboxOnly, last(backfill));
        expect(delta.flatMap((page) => page.removed)).toEqual([sentId]);
        expect(delta.flatMap((page) => page.added)).toEqual([]);
      } finally {
        await inboxOnly.close();
      }
    } finally {
      await box.done();
    }
  });

  it("Y5: search with many addresses finds a participant in any position", async () => {
    const box = await mailbox();
    try {
      const addresses = Array.from({ length: 20 }, (_, i) => `person${i}@client.example`);
      await box.append(
        buildConformanceMessage({
          messageId: "<m15@x.example>",
          from: "a@x.example",
          cc: addresses[15]!,
          subject: "m",
        }),
      );
      await box.append(
        buildConformanceMessage({ messageId: "<m2@x.example>", from: addresses[2]!, subject: "m" }),
        "Sent",
      );
      await box.append(
        buildConformanceMessage({ messageId: "<none@x.example>", from: "a@x.example", subject: "m" }),
      );
      const found: string[] = [];
      for await (const batch of box.provider.search({ addresses }))
        found.push(...batch.map((envelope) => envelope.messageId ?? ""));
      expect(found.sort()).toEqual(["<m15@x.example>", "<m2@x.example>"]);
    } finally {
      await box.done();
    }
  });

  it("Y5: search for an IDN address finds mail whose header has the UTF-8 domain and mail with the ASCII one (SEARCH CHARSET UTF-8)", async () => {
    const box = await mailbox();
    try {
      const utf8 = (messageId: string, from: string) =>
        Buffer.from(
          `From: ${from}\r\nTo: owner@firm.example\r\nSubject: Rechnung\r\nMessage-ID: ${messageId}\r\n` +
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo\r\n",
          "utf8",
        );
      await box.append(utf8("<idn-unicode@x.example>", "Kunde <kunde@bücher.example>"));
      await box.append(utf8("<idn-ascii@x.example>", "kunde@xn--bcher-kva.example"));
      await box.append(utf8("<idn-other@x.example>", "andere@bücher.example"));
      const found = [];
      for await (const batch of box.provider.search({ addresses: ["kunde@xn--bcher-kva.example"] }))
        found.push(...batch);
      expect(found.map((envelope) => envelope.messageId).sort()).toEqual([
        "<idn-ascii@x.example>",
        "<idn-unicode@x.example>",
      ]);
      expect(found.every((envelope) => envelope.from[0]?.address === "kunde@xn--bcher-kva.example")).toBe(
        true,
      );
    } finally {
      await box.done();
    }
  });

  it("watch also reports changes in folders it does not IDLE on (STATUS polling)", async () => {
    const box = await mailbox({ pollIntervalMs: 200 });
    try {
      let changes = 0;
      const subscription = await box.provider.watch(() => changes++);
      try {
        await box.append(
          buildConformanceMessage({ messageId: "<poll@x.example>", from: "a@x.example", subject: "p" }),
          "Sent",
        );
        const deadline = Date.now() + 10_000;
        while (changes === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(changes).toBeGreaterThan(0);
      } finally {
        await subscription.stop();
      }
    } finally {
      await box.done();
    }
  });

  it("R3: an aborted signal stops a listing between pages, as a clientmail error", async () => {
    const box = await mailbox({ pageSize: 1 });
    try {
      for (let i = 0; i < 3; i++)
        await box.append(
          buildConformanceMessage({ messageId: `<a${i}@x.example>`, from: "a@x.example", subject: "a" }),
        );
      const controller = new AbortController();
      const seen: ChangePage[] = [];
      const error = await (async () => {
        for await (const page of box.provider.changes(undefined, { signal: controller.signal })) {
          seen.push(page);
          controller.abort();
        }
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(seen).toHaveLength(1);
      // The port: the signal's reason when it is a ClientMailError, else `transient`.
      expect(ClientMailError.hasCode(error, "transient"), String(error)).toBe(true);
      expect((error as ClientMailError).details.aborted).toBe(true);
    } finally {
      await box.done();
    }
  });

  it("R7: a fetch right after the listing plans by the listed sizes: more than two chunks arrive, a message over maxMessageBytes is too_large undownloaded, one expunged since the listing is skipped", async () => {
    const box = await mailbox({ maxMessageBytes: 64 * 1024 });
    try {
      const count = 2 * FETCH_CHUNK + 5;
      for (let i = 0; i < count; i++)
        await box.append(
          buildConformanceMessage({
            messageId: `<z${i}@x.example>`,
            from: "a@x.example",
            subject: `z${i}`,
            text: i === 3 ? "large ".repeat(20_000) : `body ${i}`,
          }),
        );
      const listed = (await pagesOf(box.provider, undefined)).flatMap((page) => page.added);
      expect(listed).toHaveLength(count);
      const admin = await adminConnection(server, box.user);
      try {
        const lock = await admin.getMailboxLock("INBOX");
        try {
          await admin.messageDelete({ header: { "message-id": "<z7@x.example>" } });
        } finally {
          lock.release();
        }
      } finally {
        await admin.logout();
      }
      const results = [];
      for await (const result of box.provider.fetch(listed.map((envelope) => envelope.providerId)))
        results.push(result);
      const large = listed.find((envelope) => envelope.messageId === "<z3@x.example>")!;
      const gone = listed.find((envelope) => envelope.messageId === "<z7@x.example>")!;
      expect(results.filter(isUnreadable)).toEqual([
        expect.objectContaining({
          providerId: large.providerId,
          unreadable: expect.objectContaining({ reason: "too_large" }),
        }),
      ]);
      const fetched = results.flatMap((result) => (isUnreadable(result) ? [] : [result]));
      expect(fetched.map((message) => message.envelope.providerId)).toEqual(
        listed
          .map((envelope) => envelope.providerId)
          .filter((id) => id !== large.providerId && id !== gone.providerId),
      );
      expect(fetched.map((message) => message.text?.trim())).toEqual(
        listed
          .filter((envelope) => envelope !== large && envelope !== gone)
          .map((envelope) => `body ${envelope.subject.slice(1)}`),
      );
    } finally {
      await box.done();
    }
  });

  it("a full listing uses backfillPageSize, a listing from a cursor pageSize", async () => {
    const box = await mailbox({ pageSize: 1, backfillPageSize: 2 });
    try {
      const append = (i: number) =>
        box.append(
          buildConformanceMessage({ messageId: `<s${i}@x.example>`, from: "a@x.example", subject: "s" }),
        );
      for (let i = 0; i < 5; i++) await append(i);
      const backfill = await pagesOf(box.provider, undefined);
      expect(backfill.map((page) => page.added.length)).toEqual([2, 2, 1]);
      for (let i = 5; i < 8; i++) await append(i);
      const delta = await pagesOf(box.provider, last(backfill));
      expect(delta.map((page) => page.added.length)).toEqual([1, 1, 1]);
    } finally {
      await box.done();
    }
  });

  it("Y2 R7: a full listing hands out a page as soon as it is listed when more of its folder follows, and lists the next one only when asked", async () => {
    // Every header listing command the provider sends, over all its connections.
    const listings: string[] = [];
    const box = await mailbox({
      backfillPageSize: 2,
      socketFactory: ((options, onConnect) => {
        const socket = nodeSocketFactory(options, onConnect);
        const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
        socket.write = (chunk: unknown, ...rest: unknown[]) => {
          if (String(chunk).includes("HEADER.FIELDS")) listings.push(String(chunk));
          return write(chunk, ...rest);
        };
        return socket;
      }) satisfies typeof nodeSocketFactory,
    });
    try {
      for (let i = 0; i < 5; i++)
        await box.append(
          buildConformanceMessage({ messageId: `<h${i}@x.example>`, from: "a@x.example", subject: "h" }),
        );
      const pages = box.provider.changes(undefined)[Symbol.asyncIterator]();
      const first = await pages.next();
      // The first page came out after one listing command: the second page was not listed first.
      expect(first.done).toBe(false);
      expect(first.value?.added).toHaveLength(2);
      expect(first.value?.done).toBe(false);
      expect(listings).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(listings).toHaveLength(1);
      const second = await pages.next();
      expect(second.value?.added).toHaveLength(2);
      expect(listings).toHaveLength(2);
      // The folder's last page waits until the listing knows whether it is the last of all.
      const third = await pages.next();
      expect(third.value).toMatchObject({ done: true });
      expect(third.value?.added).toHaveLength(1);
      expect(listings).toHaveLength(3);
      await pages.return?.(undefined);
    } finally {
      await box.done();
    }
  });

  it("backfill pages carry an estimate of the total", async () => {
    const box = await mailbox({ pageSize: 1 });
    try {
      for (let i = 0; i < 3; i++)
        await box.append(
          buildConformanceMessage({ messageId: `<e${i}@x.example>`, from: "a@x.example", subject: "e" }),
        );
      const pages = await pagesOf(box.provider, undefined);
      expect(pages.length).toBe(3);
      expect(pages.every((page) => page.estimatedTotal === 3)).toBe(true);
    } finally {
      await box.done();
    }
  });
});

describe.skipIf(skip !== undefined)("imap provider on Dovecot without CONDSTORE", () => {
  let server: DovecotServer;
  beforeAll(async () => {
    server = await startDovecot({ condstore: false });
  });
  afterAll(async () => {
    await server.stop();
  });

  it("F8: detects a deletion by UID diffing even when another message arrived meanwhile", async () => {
    const user = await server.addUser();
    const admin = await adminConnection(server, user);
    const provider = createImapProvider(providerSettings(server, user));
    try {
      for (const id of ["<p1@x.example>", "<p2@x.example>", "<p3@x.example>"]) {
        await admin.append(
          "INBOX",
          buildConformanceMessage({ messageId: id, from: "a@x.example", subject: "p" }),
        );
      }
      const backfill = await pagesOf(provider, undefined);
      const p2 = backfill
        .flatMap((page) => page.added)
        .find((envelope) => envelope.messageId === "<p2@x.example>")!;
      const lock = await admin.getMailboxLock("INBOX");
      try {
        await admin.messageDelete({ header: { "message-id": "<p2@x.example>" } });
      } finally {
        lock.release();
      }
      await admin.append(
        "INBOX",
        buildConformanceMessage({ messageId: "<p4@x.example>", from: "a@x.example", subject: "p" }),
      );
      const delta = await pagesOf(provider, last(backfill));
      expect(delta.flatMap((page) => page.removed)).toEqual([p2.providerId]);
      expect(delta.flatMap((page) => page.added.map((envelope) => envelope.messageId))).toEqual([
        "<p4@x.example>",
      ]);
    } finally {
      await provider.close();
      await admin.logout();
    }
  });
});
