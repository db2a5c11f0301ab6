/**
 * The R rules through the engine and a real store (memory and PostgreSQL): faults at the
 * provider, content no store can hold, Message-IDs that are not identities, and toggles that
 * change while a page is in flight.
 */
import { describe, expect, it } from "vitest";
import type { MemoryMessageInput } from "@clientmail/testkit";
import { ClientMailError, ValidationError, type FetchResult } from "../../src/index.js";
import { MailboxSync } from "../../src/engine/mailbox-sync.js";
import type { ChangePage, MailProvider, Store } from "../../src/ports/index.js";
import { at, makeFirm, minutes, type Firm } from "./firm-fixture.js";
import { engineStores } from "./stores.js";

function clientMail(f: Firm, mailboxId: string, overrides: Partial<MemoryMessageInput> = {}): string {
  return f.box(mailboxId).append({
    from: [at("jo@home.example", "Jo Jordan")],
    to: [at("ann@ledger.example")],
    subject: "Receipts for 2025",
    messageId: "<r1@home.example>",
    date: minutes(0),
    text: "Here are the receipts.",
    ...overrides,
  });
}

/** Every visible filed message: subject and the names of its accounts. */
async function filed(f: Firm): Promise<Array<{ subject: string; accounts: string[]; threadId: string }>> {
  const accounts = await f.store.listAccounts(f.firm.id);
  const seen = new Map<string, { subject: string; accounts: string[]; threadId: string }>();
  for (const account of accounts) {
    for (const thread of await f.store.listAccountThreads(f.firm.id, account.id, {
      view: "inbox",
      limit: 500,
    })) {
      for (const message of thread.messages) {
        const names = message.filings
          .map((filing) => accounts.find((a) => a.id === filing.accountId)?.name ?? "?")
          .sort();
        seen.set(message.id, { subject: message.subject, accounts: names, threadId: message.threadId });
      }
    }
  }
  return [...seen.values()].sort((a, b) => a.subject.localeCompare(b.subject));
}

/** A provider whose `fetch` fails at connection level while `outage.down` (after `outage.after` good calls). */
function fetchDuringOutage(provider: MailProvider, outage: { down: boolean; after: number }): MailProvider {
  let call = 0;
  return {
    ...provider,
    fetch: (ids, options) => {
      call += 1;
      if (outage.down && call > outage.after) {
        return {
          [Symbol.asyncIterator]: () => ({
            next: (): Promise<IteratorResult<FetchResult>> =>
              Promise.reject(new ClientMailError("transient", "Connection reset by peer")),
          }),
        };
      }
      return provider.fetch(ids, options);
    },
  };
}

/** A store whose `fileMessages` refuses (like a database would) any batch holding a message that matches. */
function refusingStore(store: Store, refuse: (subject: string) => boolean): Store {
  const wrap = (inner: Store): Store =>
    new Proxy(inner, {
      get(target, property, receiver) {
        if (property === "transaction")
          return <T>(fn: (tx: Store) => Promise<T>) => target.transaction((tx) => fn(wrap(tx)));
        if (property === "fileMessages") {
          return async (...args: Parameters<Store["fileMessages"]>) => {
            const [, messages] = args;
            const index = messages.findIndex((m) => refuse(m.subject));
            if (index >= 0)
              throw new ValidationError([
                { field: `messages.${index}.subject`, value: "…", expected: "a value the database accepts" },
              ]);
            return target.fileMessages(...args);
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  return wrap(store);
}

describe.each(engineStores)("integrity under faults on the $name", ({ make }) => {
  describe("R1: faults never mark a message, nor move the cursor past unfiled client mail", () => {
    it("R1: a dropped connection during fetch fails the page; nothing is quarantined and the next pass files everything", async () => {
      const f = await makeFirm({ makeStore: make });
      const box = f.boxes.ann.id;
      for (let i = 0; i < 7; i++)
        clientMail(f, box, { messageId: `<m${i}@home.example>`, subject: `Receipt ${i}`, date: minutes(i) });
      // Page 1 commits; the fetch of page 2 hits the outage, and so does every refetch during it.
      const outage = { down: true, after: 1 };
      const provider = fetchDuringOutage(f.box(box).provider(), outage);
      const sync = () => f.sync(box, { provider });
      const error = await sync()
        .syncOnce()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(ClientMailError.hasCode(error, "transient")).toBe(true);
      expect(await f.store.listQuarantine(f.firm.id)).toEqual([]);
      const cursorAfterOutage = await f.store.getCursor(f.firm.id, box);
      expect((await filed(f)).map((m) => m.subject)).toEqual(["Receipt 0", "Receipt 1", "Receipt 2"]);
      await expect(sync().syncOnce()).rejects.toMatchObject({ code: "transient" });
      expect(await f.store.getCursor(f.firm.id, box)).toBe(cursorAfterOutage);
      await expect(sync().syncOnce()).rejects.toMatchObject({ code: "transient" });
      // The connection is back.
      outage.down = false;
      const result = await sync().syncOnce();
      expect(result.quarantined).toEqual([]);
      expect((await filed(f)).map((m) => m.subject)).toEqual(
        [0, 1, 2, 3, 4, 5, 6].map((i) => `Receipt ${i}`),
      );
      expect(await f.store.listQuarantine(f.firm.id)).toEqual([]);
    });

    it("R1, R2: only a message that fails on its own is set aside, durably, with its reason; the rest of its page is filed", async () => {
      const f = await makeFirm({ makeStore: make });
      const box = f.boxes.ann.id;
      const broken = clientMail(f, box, { messageId: "<broken@home.example>", subject: "Broken" });
      clientMail(f, box, { messageId: "<fine@home.example>", subject: "Fine", date: minutes(1) });
      f.box(box).failFetchOf(broken, 2, "unparseable");
      const first = await f.sync(box).syncOnce();
      expect(first.quarantined).toEqual([broken]);
      expect((await filed(f)).map((m) => m.subject)).toEqual(["Fine"]);
      const [entry] = await f.store.listQuarantine(f.firm.id, { mailboxId: box });
      expect(entry).toMatchObject({ providerId: broken, reason: "unparseable", attempts: 1 });
      expect(entry!.firstAttemptAt).toEqual(f.clock.now());
      // Due again: still failing, so the attempt is counted and the next one is later.
      f.clock.current = new Date(entry!.nextAttemptAt.getTime() + 1);
      await f.sync(box).syncOnce();
      const [second] = await f.store.listQuarantine(f.firm.id, { mailboxId: box });
      expect(second).toMatchObject({ attempts: 2, firstAttemptAt: entry!.firstAttemptAt });
      expect(second!.nextAttemptAt.getTime() - second!.lastAttemptAt.getTime()).toBeGreaterThan(
        entry!.nextAttemptAt.getTime() - entry!.lastAttemptAt.getTime(),
      );
      // The server heals: the retry files it and the quarantine is empty.
      f.clock.current = new Date(second!.nextAttemptAt.getTime() + 1);
      await f.sync(box).syncOnce();
      expect(await f.store.listQuarantine(f.firm.id)).toEqual([]);
      expect((await filed(f)).map((m) => m.subject)).toEqual(["Broken", "Fine"]);
    });

    it("R1: a message that makes the server drop the connection every time is set aside alone; the rest of its page is filed", async () => {
      const f = await makeFirm({ makeStore: make, pageSize: 10 });
      const box = f.boxes.ann.id;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push(
          clientMail(f, box, { messageId: `<k${i}@home.example>`, subject: `Doc ${i}`, date: minutes(i) }),
        );
      const killer = ids[2]!;
      const inner = f.box(box).provider();
      const provider: MailProvider = {
        ...inner,
        fetch: (requested, options) =>
          requested.includes(killer)
            ? {
                [Symbol.asyncIterator]: () => ({
                  next: (): Promise<IteratorResult<FetchResult>> =>
                    Promise.reject(new ClientMailError("transient", "The IMAP connection was lost")),
                }),
              }
            : inner.fetch(requested, options),
      };
      const result = await f.sync(box, { provider }).syncOnce();
      expect(result.quarantined).toEqual([killer]);
      expect((await filed(f)).map((m) => m.subject)).toEqual(["Doc 0", "Doc 1", "Doc 3", "Doc 4"]);
      expect(await f.store.listQuarantine(f.firm.id)).toMatchObject([
        { providerId: killer, reason: "server_refused" },
      ]);
    });

    it("R1, R2: an envelope the listing cannot read alone is quarantined by id; a later attempt files it if it is client mail", async () => {
      const f = await makeFirm({ makeStore: make });
      const box = f.boxes.ann.id;
      const odd = clientMail(f, box, { messageId: "<odd@home.example>", subject: "Odd envelope" });
      const personal = f.box(box).append({
        from: [at("friend@personal.example")],
        to: [at("ann@ledger.example")],
        subject: "Private",
        messageId: "<private@personal.example>",
        date: minutes(1),
        text: "private",
      });
      clientMail(f, box, { messageId: "<fine@home.example>", subject: "Fine", date: minutes(2) });
      f.box(box).failListingOf(odd);
      f.box(box).failListingOf(personal);
      const first = await f.sync(box).syncOnce();
      expect(first.quarantined.sort()).toEqual([odd, personal].sort());
      expect((await filed(f)).map((m) => m.subject)).toEqual(["Fine"]);
      f.clock.advance(24 * 60 * 60_000);
      await f.sync(box).syncOnce();
      // The retry learns from the fetched message: client mail is filed, personal mail only leaves.
      expect(await f.store.listQuarantine(f.firm.id)).toEqual([]);
      expect((await filed(f)).map((m) => m.subject)).toEqual(["Fine", "Odd envelope"]);
      expect(await f.store.findMessagesByMessageIds(f.firm.id, ["private@personal.example"])).toEqual([]);
    });

    it("R2: a quarantined message that was deleted meanwhile leaves the quarantine", async () => {
      const f = await makeFirm({ makeStore: make });
      const box = f.boxes.ann.id;
      const broken = clientMail(f, box, { messageId: "<gone@home.example>" });
      f.box(box).failFetchOf(broken, 1, "server_refused");
      await f.sync(box).syncOnce();
      expect(await f.store.listQuarantine(f.firm.id)).toHaveLength(1);
      f.box(box).remove(broken);
      f.clock.advance(24 * 60 * 60_000);
      await f.sync(box).syncOnce();
      expect(await f.store.listQuarantine(f.firm.id)).toEqual([]);
    });
  });

  describe("R3: every pass has a deadline", () => {
    it("R3: a silent server ends the pass as transient at its deadline, with nothing committed; the next pass completes", async () => {
      const f = await makeFirm({ makeStore: make });
      const box = f.boxes.ann.id;
      clientMail(f, box);
      f.box(box).hangNext("changes");
      const started = Date.now();
      const error = await f
        .sync(box, { passDeadlineMs: 300 })
        .syncOnce()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(ClientMailError.hasCode(error, "transient")).toBe(true);
      expect((error as ClientMailError).details).toMatchObject({ reason: "pass_deadline", pages: 0 });
      expect(await f.store.getCursor(f.firm.id, box)).toBeUndefined();
      await f.sync(box, { passDeadlineMs: 300 }).syncOnce();
      expect((await filed(f)).map((m) => m.subject)).toEqual(["Receipts for 2025"]);
    });

    it("R3: a provider that ignores the signal cannot hold the pass past its deadline", async () => {
      const f = await makeFirm({ makeStore: make });
      const box = f.boxes.ann.id;
      const stuck: MailProvider = {
        ...f.box(box).provider(),
        changes: () => ({
          [Symbol.asyncIterator]: () => ({
            next: () => new Promise<IteratorResult<ChangePage>>(() => undefined),
          }),
        }),
      };
      const started = Date.now();
      await expect(f.sync(box, { provider: stuck, passDeadlineMs: 200 }).syncOnce()).rejects.toMatchObject({
        code: "transient",
      });
      expect(Date.now() - started).toBeLessThan(5_000);
      // The lease was released: another pass can run at once.
      expect((await f.sync(box).syncOnce()).ran).toBe(true);
    });

    it("R3: a pass that reaches its deadline after committing pages is resumed at once and not counted as a failure", async () => {
      const f = await makeFirm({ makeStore: make });
      const box = f.boxes.ann.id;
      for (let i = 0; i < 6; i++)
        clientMail(f, box, { messageId: `<d${i}@home.example>`, subject: `Doc ${i}`, date: minutes(i) });
      let calls = 0;
      const inner = f.box(box);
      const hangingProvider: MailProvider = {
        ...inner.provider(),
        fetch: (ids, options) => {
          calls += 1;
          // The second page's content never arrives.
          if (calls === 2) inner.hangNext("fetch");
          return inner.provider().fetch(ids, options);
        },
      };
      const sync = f.sync(box, { provider: hangingProvider, passDeadlineMs: 400, maxConsecutiveFailures: 1 });
      await expect(sync.passWithRetry()).resolves.toBe("ok");
      expect(f.sleeps).toEqual([]);
      expect((await filed(f)).map((m) => m.subject)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `Doc ${i}`));
    });
  });

  describe("R4: content no store can hold never blocks a mailbox", () => {
    it("R4: NUL bytes and lone surrogates in subject, body, display name and attachment name are made storable at the edge", async () => {
      const f = await makeFirm({ makeStore: make });
      const box = f.boxes.ann.id;
      clientMail(f, box, {
        messageId: "<nul@home.example>",
        from: [at("jo@home.example", "Jo\u0000 Jordan")],
        subject: "Invoice\u0000 2025 \ud800",
        text: "Total:\u0000 42 \udc00",
        html: "<p>Total:\u0000 42</p>",
        attachments: [
          { filename: "inv\u0000oice.pdf", contentType: "application/pdf", content: new Uint8Array([1, 2]) },
        ],
      });
      clientMail(f, box, { messageId: "<ok@home.example>", subject: "Fine", date: minutes(1) });
      const result = await f.sync(box).syncOnce();
      expect(result.quarantined).toEqual([]);
      const [message] = await f.store.findMessagesByMessageIds(f.firm.id, ["nul@home.example"]);
      expect(message).toMatchObject({
        subject: "Invoice 2025 \ufffd",
        text: "Total: 42 \ufffd",
        html: "<p>Total: 42</p>",
        from: [{ name: "Jo Jordan", address: "jo@home.example" }],
      });
      expect(message!.attachments[0]!.filename).toBe("invoice.pdf");
      expect((await filed(f)).map((m) => m.subject)).toEqual(["Fine", "Invoice 2025 \ufffd"]);
    });

    it("R4: a message the store still refuses is quarantined alone; the rest of its page commits and the cursor moves", async () => {
      const f = await makeFirm({ makeStore: make });
      const box = f.boxes.ann.id;
      const store = refusingStore(f.store, (subject) => subject.includes("REFUSED"));
      const refused = clientMail(f, box, {
        messageId: "<x1@home.example>",
        subject: "REFUSED by the database",
      });
      clientMail(f, box, { messageId: "<x2@home.example>", subject: "Kept", date: minutes(1) });
      const sync = new MailboxSync(
        { store, clock: f.clock, logger: { debug() {}, info() {}, warn() {}, error() {} } },
        { firmId: f.firm.id, mailboxId: box, provider: f.box(box).provider(), holder: "t" },
      );
      const result = await sync.syncOnce();
      expect(result.quarantined).toEqual([refused]);
      expect((await filed(f)).map((m) => m.subject)).toEqual(["Kept"]);
      expect(await f.store.getCursor(f.firm.id, box)).toBeDefined();
      expect(await f.store.listQuarantine(f.firm.id)).toMatchObject([
        { providerId: refused, reason: "unstorable" },
      ]);
      // The mailbox is not stopped or wedged: the next pass runs and changes nothing.
      await expect(sync.passWithRetry()).resolves.toBe("ok");
    });
  });

  describe("R5: a Message-ID is a claim, not an identity", () => {
    it("R5: client B's message reusing client A's Message-ID is filed separately, in B's account only, and recorded", async () => {
      const f = await makeFirm({ makeStore: make });
      clientMail(f, f.boxes.ann.id, {
        messageId: "<reused@x>",
        subject: "Jo's tax return",
        date: minutes(0),
      });
      await f.sync(f.boxes.ann.id).syncOnce();
      f.box(f.boxes.bob.id).append({
        from: [at("petra@acme.example")],
        to: [at("bob@ledger.example")],
        subject: "Acme order",
        messageId: "<reused@x>",
        date: minutes(90),
        text: "Order",
      });
      await f.sync(f.boxes.bob.id).syncOnce();
      const messages = await filed(f);
      expect(messages.map(({ subject, accounts }) => ({ subject, accounts }))).toEqual([
        { subject: "Acme order", accounts: ["Acme Tools"] },
        { subject: "Jo's tax return", accounts: ["Jordan family", "Jordan's Bakery"] },
      ]);
      // Not one thread either: Acme's account must not show Jo's message.
      expect(messages[0]!.threadId).not.toBe(messages[1]!.threadId);
      const acme = await f.store.listAccountThreads(f.firm.id, f.accounts.acme.id, { view: "inbox" });
      expect(acme.flatMap((t) => t.messages.map((m) => m.subject))).toEqual(["Acme order"]);
      const audit = await f.store.listAudit(f.firm.id);
      expect(audit.filter((a) => a.action === "message.id_collision")).toHaveLength(1);
    });

    it("R5: a message squatting a Message-ID before the real one arrives hides nothing: both are filed where they belong", async () => {
      const f = await makeFirm({ makeStore: make });
      f.box(f.boxes.bob.id).append({
        from: [at("petra@acme.example")],
        to: [at("bob@ledger.example")],
        subject: "Squatter",
        messageId: "<real@home.example>",
        date: minutes(0),
        text: "first",
      });
      await f.sync(f.boxes.bob.id).syncOnce();
      clientMail(f, f.boxes.ann.id, {
        messageId: "<real@home.example>",
        subject: "The real one",
        date: minutes(5),
      });
      await f.sync(f.boxes.ann.id).syncOnce();
      expect((await filed(f)).map(({ subject, accounts }) => ({ subject, accounts }))).toEqual([
        { subject: "Squatter", accounts: ["Acme Tools"] },
        { subject: "The real one", accounts: ["Jordan family", "Jordan's Bakery"] },
      ]);
    });

    it("F5, R5: the same message through two mailboxes, a gateway's [EXTERNAL] tag and a reported Sender equal to From, is still one message", async () => {
      const f = await makeFirm({ makeStore: make });
      const sent = {
        from: [at("ann@ledger.example")],
        to: [at("jo@home.example")],
        cc: [at("bob@ledger.example")],
        subject: "Your engagement letter",
        messageId: "<letter@ledger.example>",
        date: minutes(3),
        text: "Attached.",
      };
      f.box(f.boxes.ann.id).append({ ...sent, folder: "Sent" });
      f.box(f.boxes.bob.id).append({
        ...sent,
        subject: "[EXTERNAL] Your engagement letter",
        sender: [at("ann@ledger.example")],
      });
      await f.sync(f.boxes.ann.id).syncOnce();
      await f.sync(f.boxes.bob.id).syncOnce();
      const [message, ...rest] = await f.store.findMessagesByMessageIds(f.firm.id, ["letter@ledger.example"]);
      expect(rest).toEqual([]);
      expect(message!.sightings.map((s) => s.mailboxId).sort()).toEqual(
        [f.boxes.ann.id, f.boxes.bob.id].sort(),
      );
      expect((await f.store.listAudit(f.firm.id)).some((a) => a.action === "message.id_collision")).toBe(
        false,
      );
    });

    it("R5: two copies with one Message-ID but different Cc in one page keep every account each of them gives", async () => {
      const f = await makeFirm({ makeStore: make, pageSize: 10 });
      const box = f.boxes.ann.id;
      clientMail(f, box, {
        messageId: "<cc@home.example>",
        subject: "Meeting",
        to: [at("ann@ledger.example")],
      });
      clientMail(f, box, {
        messageId: "<cc@home.example>",
        subject: "Meeting",
        folder: "Archive",
        to: [at("ann@ledger.example")],
        cc: [at("petra@acme.example")],
      });
      await f.sync(box).syncOnce();
      const accounts = (await filed(f)).map((m) => m.accounts.join("+")).sort();
      expect(accounts).toEqual(["Acme Tools+Jordan family+Jordan's Bakery", "Jordan family+Jordan's Bakery"]);
    });
  });

  describe("F7 and F8 at the edges", () => {
    it("F7: email sync turned off while a page is in flight files nothing more through that link", async () => {
      const f = await makeFirm({ makeStore: make });
      const box = f.boxes.ann.id;
      clientMail(f, box, {
        messageId: "<p1@acme.example>",
        from: [at("petra@acme.example")],
        subject: "Acme 1",
      });
      const base = f.box(box).provider();
      const provider: MailProvider = {
        ...base,
        fetch: (ids, options) => {
          const inner = base.fetch(ids, options);
          return (async function* () {
            // The firm turns sync off for Petra while the content is on the wire.
            await f.store.updateLink(f.firm.id, f.links.petraAcme.id, { emailSync: false });
            yield* inner;
          })();
        },
      };
      await f.sync(box, { provider }).syncOnce();
      expect(await filed(f)).toEqual([]);
      expect(await f.store.findMessagesByMessageIds(f.firm.id, ["p1@acme.example"])).toEqual([]);
      expect(await f.store.getCursor(f.firm.id, box)).toBeDefined();
    });

    it("F8, Y6: a full resync under new ids (UIDVALIDITY change) keeps messages filed through a link whose sync is now off", async () => {
      const f = await makeFirm({ makeStore: make });
      const box = f.boxes.ann.id;
      clientMail(f, box, {
        messageId: "<kept@acme.example>",
        from: [at("petra@acme.example")],
        subject: "Acme",
      });
      await f.sync(box).syncOnce();
      await f.store.updateLink(f.firm.id, f.links.petraAcme.id, { emailSync: false });
      f.box(box).renumber();
      const result = await f.sync(box).syncOnce();
      expect(result.resynced).toBe(true);
      expect(result.removed).toBe(0);
      const [message] = await f.store.findMessagesByMessageIds(f.firm.id, ["kept@acme.example"]);
      expect(message!.removedAt).toBeUndefined();
      // F8 still follows the copy under its new id.
      const [newId] = message!.sightings.map((s) => s.providerId);
      f.box(box).remove(newId!);
      expect((await f.sync(box).syncOnce()).removed).toBe(1);
    });
  });

  describe("H1–H3 through the engine", () => {
    it("H3: a page that links two filed threads and carries its own copies of both merges them without failing", async () => {
      const f = await makeFirm({ makeStore: make, pageSize: 10 });
      const p = { from: [at("jo@home.example")], to: [at("ann@ledger.example"), at("bob@ledger.example")] };
      clientMail(f, f.boxes.ann.id, { ...p, messageId: "<p@home>", subject: "P", providerThreadId: "a1" });
      clientMail(f, f.boxes.ann.id, { ...p, messageId: "<q@home>", subject: "Q", providerThreadId: "a2" });
      await f.sync(f.boxes.ann.id).syncOnce();
      expect(new Set((await filed(f)).map((m) => m.threadId)).size).toBe(2);
      const bob = f.box(f.boxes.bob.id);
      bob.append({
        ...p,
        messageId: "<n@home>",
        subject: "N",
        references: ["<p@home>", "<q@home>"],
        date: minutes(5),
        providerThreadId: "b1",
      });
      bob.append({ ...p, messageId: "<p@home>", subject: "P", providerThreadId: "b1", date: minutes(0) });
      bob.append({ ...p, messageId: "<q@home>", subject: "Q", providerThreadId: "b2", date: minutes(0) });
      await expect(f.sync(f.boxes.bob.id).passWithRetry()).resolves.toBe("ok");
      const all = await filed(f);
      expect(all.map((m) => m.subject)).toEqual(["N", "P", "Q"]);
      expect(new Set(all.map((m) => m.threadId)).size).toBe(1);
    });

    it("H1: a listing that leaves out In-Reply-To and References (as Graph's delta does) threads a reply by the headers of its fetched source", async () => {
      const f = await makeFirm({ makeStore: make, pageSize: 10 });
      const box = f.boxes.ann.id;
      clientMail(f, box, { messageId: "<q1@home.example>", subject: "Question", providerThreadId: "t1" });
      clientMail(f, box, {
        from: [at("ann@ledger.example")],
        to: [at("jo@home.example")],
        messageId: "<a1@ledger.example>",
        subject: "About your question",
        inReplyTo: ["<q1@home.example>"],
        references: ["<q1@home.example>"],
        date: minutes(5),
        providerThreadId: "t2",
      });
      const inner = f.box(box).provider();
      const headerless: MailProvider = {
        ...inner,
        changes: async function* (cursor, options) {
          for await (const page of inner.changes(cursor, options))
            yield { ...page, added: page.added.map((e) => ({ ...e, inReplyTo: [], references: [] })) };
        },
      };
      await f.sync(box, { provider: headerless }).syncOnce();
      const all = await filed(f);
      expect(all.map((m) => m.subject)).toEqual(["About your question", "Question"]);
      expect(new Set(all.map((m) => m.threadId)).size).toBe(1);
      const [reply] = await f.store.findMessagesByMessageIds(f.firm.id, ["a1@ledger.example"]);
      expect(reply?.references).toEqual(["q1@home.example"]);
    });

    it("H1, H3: subject-only mail on day 0, 40 and 45 gives {day 0} and {day 40, day 45} in every arrival order", async () => {
      const days = [0, 40, 45];
      const orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
      ];
      for (const order of orders) {
        const f = await makeFirm({ makeStore: make, pageSize: 1 });
        const box = f.boxes.ann.id;
        for (const index of order) {
          clientMail(f, box, {
            messageId: `<day${days[index]}@home.example>`,
            subject: "Re: Question",
            date: new Date(minutes(0).getTime() + days[index]! * 24 * 60 * 60_000),
          });
          // Each message in its own pass: arrival order is the order of the passes.
          await f.sync(box).syncOnce();
        }
        const messages = await f.store.findMessagesByMessageIds(
          f.firm.id,
          days.map((d) => `day${d}@home.example`),
        );
        const threadOf = (d: number) =>
          messages.find((m) => m.messageId === `day${d}@home.example`)!.threadId;
        expect(threadOf(0), `order ${order.join(",")}`).not.toBe(threadOf(40));
        expect(threadOf(40), `order ${order.join(",")}`).toBe(threadOf(45));
      }
    });
  });
});
