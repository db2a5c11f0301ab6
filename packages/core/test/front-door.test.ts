/**
 * The front door: `createClientMail({ store, keyring, providers, queue?, metrics?, logger?, sync? })`
 * gives the facade with the sync attached. Backfills are wired inside (no host event wiring), the
 * engine reports metrics and logs through the adapters given, and every setting is validated.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryJobQueue, createMemoryStore, MemoryStore } from "@clientmail/memory";
import { FakeMailSender } from "@clientmail/testkit";
import {
  ClientMailError,
  createAesGcmKeyring,
  createClientMail,
  generateKeyringKey,
  ValidationError,
  type ClientMail,
  type MailboxSyncState,
} from "../src/index.js";
import { fromPino, systemClock, type Metrics } from "../src/ports/index.js";
import { at, makeFirm, minutes, type Firm } from "./engine/firm-fixture.js";

const keyring = createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" });
const open: ClientMail[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((cm) => cm.close()));
});

function frontDoor(f: Firm, extra: Partial<Parameters<typeof createClientMail>[0]> = {}): ClientMail {
  const cm = createClientMail({
    store: f.store,
    clock: f.clock,
    keyring,
    providers: { imap: (mailbox) => f.box(mailbox.id).provider() },
    sync: { pollIntervalMs: 200, holder: "front-door-test" },
    ...extra,
  });
  open.push(cm);
  return cm;
}

function validationIssues(run: () => unknown): ValidationError["issues"] {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error("expected a ValidationError");
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function samWrites(f: Firm): void {
  f.box(f.boxes.ann.id).append({
    from: [at("sam@home.example", "Sam Jordan")],
    to: [at("ann@ledger.example")],
    subject: "Receipts",
    messageId: "<sam-receipts@home.example>",
    date: minutes(1),
    text: "Here they are",
  });
}

const samThreads = (f: Firm) =>
  f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox" });

describe("front door: settings", () => {
  it("every bad setting is named with what was expected; no setting's value is echoed", async () => {
    const f = await makeFirm();
    expect(validationIssues(() => createClientMail({} as never))).toEqual([
      expect.objectContaining({ field: "settings.store", expected: expect.stringMatching(/a Store/) }),
    ]);
    const issues = validationIssues(() =>
      createClientMail({
        store: f.store,
        // Key material where the keyring belongs.
        keyring: { keys: { k1: "c3VwZXItc2VjcmV0LWtleQ" } } as never,
        providers: { pop3: () => undefined } as never,
        queue: {} as never,
        metrics: { increment: () => undefined } as never,
        logger: { info: () => undefined } as never,
        sync: { pollIntervalMs: -5, concurrency: 0, holder: "", maxOpenProviders: 0 },
      }),
    );
    expect(issues.map((issue) => issue.field).sort()).toEqual([
      "settings.keyring",
      "settings.logger",
      "settings.metrics",
      "settings.providers",
      "settings.queue",
      "settings.sync.concurrency",
      "settings.sync.holder",
      "settings.sync.maxOpenProviders",
      "settings.sync.pollIntervalMs",
    ]);
    expect(issues.find((issue) => issue.field === "settings.sync.pollIntervalMs")).toMatchObject({
      value: -5,
      expected: expect.stringMatching(/100/),
    });
    expect(JSON.stringify(issues)).not.toContain("c3VwZXItc2VjcmV0LWtleQ");
    expect(validationIssues(() => createClientMail(null as never))[0]?.field).toBe("settings");
  });

  it("Y1: sync without providers is unsupported and names the setting; the facade itself still works", async () => {
    const f = await makeFirm();
    const cm = createClientMail({ store: f.store, keyring });
    const failure = await cm.sync.syncMailbox(f.firm.id, f.boxes.ann.id).catch((e: unknown) => e);
    expect(ClientMailError.hasCode(failure, "unsupported")).toBe(true);
    expect((failure as ClientMailError).details).toEqual({ option: "providers" });
    await expect(cm.start()).rejects.toThrow(/providers/);
    expect((await cm.listAccounts(f.firm.id)).length).toBe(3);
    await cm.close();
  });

  it("T12: cm.sync validates its inputs: ids, and backfill addresses are normalised or refused by name", async () => {
    const f = await makeFirm();
    const cm = frontDoor(f);
    const refused = await cm.sync.syncOnce("", "x\ny").catch((e: unknown) => e);
    expect((refused as ValidationError).issues.map((issue) => issue.field)).toEqual(["firmId", "mailboxId"]);
    const badAddresses = await cm.sync
      .backfillAddresses(f.firm.id, ["sam@home.example", "not an address"])
      .catch((e: unknown) => e);
    expect((badAddresses as ValidationError).issues).toMatchObject([
      { field: "addresses.1", value: "not an address" },
    ]);
    const empty = await cm.sync.backfillAddresses(f.firm.id, []).catch((e: unknown) => e);
    expect((empty as ValidationError).issues[0]?.field).toBe("addresses");
    samWrites(f);
    await f.store.updateLink(f.firm.id, f.links.samFamily.id, { emailSync: true });
    const outcomes = await cm.sync.backfillAddresses(f.firm.id, ["  Sam@Home.Example "]);
    expect(outcomes.reduce((sum, outcome) => sum + outcome.filed, 0)).toBe(1);
    await expect(cm.sync.stopSync(f.firm.id, f.boxes.ann.id, "")).rejects.toThrow(ValidationError);
  });

  it("Y1: a provider kind without a factory is unsupported, naming providers.<kind>", async () => {
    const f = await makeFirm();
    const cm = frontDoor(f, { providers: { gmail: () => f.box(f.boxes.ann.id).provider() } });
    const failure = await cm.sync.syncOnce(f.firm.id, f.boxes.ann.id).catch((e: unknown) => e);
    expect((failure as ClientMailError).details).toEqual({ option: "providers.imap" });
  });

  it("fromPino: a pino-shaped logger gets fields first, then the message; anything else is refused", () => {
    const calls: Array<[string, object, string | undefined]> = [];
    const pinoLike = {
      level: "debug",
      debug: (fields: object, message?: string) => calls.push(["debug", fields, message]),
      info: (fields: object, message?: string) => calls.push(["info", fields, message]),
      warn: (fields: object, message?: string) => calls.push(["warn", fields, message]),
      error: (fields: object, message?: string) => calls.push(["error", fields, message]),
    };
    const logger = fromPino(pinoLike);
    logger.warn("sync pass failed; retrying", { firmId: "f1", code: "transient" });
    logger.info("no fields");
    expect(calls).toEqual([
      ["warn", { firmId: "f1", code: "transient" }, "sync pass failed; retrying"],
      ["info", {}, "no fields"],
    ]);
    expect(validationIssues(() => fromPino({ info: () => undefined } as never)).map((i) => i.field)).toEqual([
      "logger.debug",
      "logger.warn",
      "logger.error",
    ]);
  });
});

describe("front door: sync attached", () => {
  it("T7 Y5: without a queue, turning a contact's email sync on backfills the address inside; close() waits for it", async () => {
    const f = await makeFirm();
    const cm = frontDoor(f);
    let hostEvents = 0;
    cm.on("backfill.requested", () => void (hostEvents += 1));
    samWrites(f);
    expect(await samThreads(f)).toHaveLength(0);
    await cm.updateLink(f.firm.id, f.links.samFamily.id, { emailSync: true });
    await cm.close();
    expect(await samThreads(f)).toHaveLength(1);
    // Still announced for hosts that watch, but nothing had to be wired.
    expect(hostEvents).toBe(1);
  });

  it("Y2 T7 Y5: with a queue, start() runs the workers: mailboxes sync, the backfill is a job, events come through the facade, close() stops everything", async () => {
    const f = await makeFirm();
    const queue = createMemoryJobQueue({ store: f.store as MemoryStore, retryDelayMs: () => 10 });
    // The queue's jobs run by the wall clock, so the engine's clock must be it too.
    const cm = frontDoor(f, {
      queue,
      clock: systemClock,
      sync: { pollIntervalMs: 200, holder: "t", maxWatchers: 0 },
    });
    const filed: string[] = [];
    cm.on("message.filed", ({ mailboxId }) => filed.push(mailboxId));
    f.box(f.boxes.bob.id).append({
      from: [at("jo@home.example")],
      to: [at("bob@ledger.example")],
      subject: "Hello",
      messageId: "<jo-hello@home.example>",
      date: minutes(2),
      text: "Hi",
    });
    await cm.start();
    await until(
      () => f.store.listAccountThreads(f.firm.id, f.accounts.bakery.id, { view: "inbox" }),
      (threads) => threads.length === 1,
    );
    expect(filed).toContain(f.boxes.bob.id);
    samWrites(f);
    await cm.updateLink(f.firm.id, f.links.samFamily.id, { emailSync: true });
    await until(
      () => samThreads(f),
      (threads) => threads.length === 1,
    );
    expect((await cm.sync.health()) as { openProviders: number }).toMatchObject({
      openProviders: expect.any(Number),
    });
    await cm.close();
    const before = f.box(f.boxes.ann.id).calls.changes;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(f.box(f.boxes.ann.id).calls.changes).toBe(before);
    await queue.close();
  });

  it("S1 S4: with senders and a queue, the workers start() runs send the outbox from the mailbox's own sender, once", async () => {
    const f = await makeFirm();
    const queue = createMemoryJobQueue({ store: f.store as MemoryStore, retryDelayMs: () => 10 });
    const senders = new Map<string, FakeMailSender>();
    const cm = frontDoor(f, {
      queue,
      clock: systemClock,
      sync: { pollIntervalMs: 60_000, holder: "t", maxWatchers: 0 },
      senders: {
        imap: (mailbox) => {
          const sender = new FakeMailSender({ address: mailbox.address });
          senders.set(mailbox.id, sender);
          return sender;
        },
      },
    });
    await cm.start();
    const { messages } = await cm.send(f.firm.id, {
      actor: { kind: "member", memberId: f.members.ann.id },
      mailboxId: f.boxes.ann.id,
      accountIds: [f.accounts.bakery.id],
      subject: "Your receipts",
      text: "Thank you.",
    });
    expect(messages).toHaveLength(1);
    const sent = await until(
      () => f.store.getOutbox(f.firm.id, messages[0]!.id),
      (message) => message?.state === "sent",
    );
    expect(sent?.state).toBe("sent");
    const sender = senders.get(f.boxes.ann.id)!;
    expect(sender.deliveries.map((d) => [d.from.address, d.subject])).toEqual([
      ["ann@ledger.example", "Your receipts"],
    ]);
    expect(sender.deliveriesOf(sent!.messageId!)).toBe(1);
    await cm.close();
    await queue.close();
  });

  it("T2 R8: with an invitations handler and a queue, the workers start() runs hand it each invitation a change enqueued", async () => {
    const f = await makeFirm();
    const queue = createMemoryJobQueue({ store: f.store as MemoryStore, retryDelayMs: () => 10 });
    const delivered: Array<{ type: string; linkId: string }> = [];
    const cm = frontDoor(f, {
      queue,
      clock: systemClock,
      sync: { pollIntervalMs: 60_000, holder: "t", maxWatchers: 0 },
      invitations: async (event) => {
        delivered.push({ type: event.type, linkId: event.linkId });
      },
    });
    await cm.start();
    await cm.updateLink(f.firm.id, f.links.joBakery.id, { login: true });
    await until(
      async () => delivered.length,
      (count) => count === 1,
    );
    expect(delivered).toEqual([{ type: "invitation.requested", linkId: f.links.joBakery.id }]);
    await cm.close();
    await queue.close();
  });

  it("S4: a sender factory must be a function, or one per provider kind", () => {
    const f = { store: createMemoryStore() };
    const issues = validationIssues(() =>
      createClientMail({ store: f.store, senders: { pop3: () => undefined } as never }),
    );
    expect(issues[0]).toMatchObject({ field: "settings.senders" });
  });

  it("Y2: without a queue, start() follows every mailbox in this process, and a mailbox connected later too", async () => {
    const f = await makeFirm();
    const cm = frontDoor(f);
    samWrites(f);
    await f.store.updateLink(f.firm.id, f.links.samFamily.id, { emailSync: true });
    await cm.start();
    await until(
      () => samThreads(f),
      (threads) => threads.length === 1,
    );
    expect(await cm.sync.health()).toEqual({ loops: 4, running: true });
    await cm.close();
    expect(await cm.sync.health()).toEqual({ loops: 0, running: false });
  });
});

describe("front door: diagnosable", () => {
  it("N5 Y7: a failed pass's retry log (through fromPino) and the mailbox's retrying state carry the code and the cause", async () => {
    const f = await makeFirm();
    const logged: Array<[object, string | undefined]> = [];
    const pinoLike = {
      debug: () => undefined,
      info: () => undefined,
      warn: (fields: object, message?: string) => void logged.push([fields, message]),
      error: () => undefined,
    };
    const cm = frontDoor(f, { logger: fromPino(pinoLike) });
    const states: MailboxSyncState[] = [];
    cm.on("sync.state", ({ state }) => states.push(state));
    f.box(f.boxes.ann.id).failNext("changes", { code: "transient" });
    expect(await cm.sync.syncMailbox(f.firm.id, f.boxes.ann.id)).toBe("ok");
    const retry = logged.find(([, message]) => message === "sync pass failed; retrying");
    expect(retry?.[0]).toMatchObject({
      firmId: f.firm.id,
      mailboxId: f.boxes.ann.id,
      code: "transient",
      cause: expect.stringMatching(/\w/),
      attempt: 1,
    });
    const retrying = states.find((state) => state.status === "retrying");
    expect(retrying).toMatchObject({ lastError: "transient", lastErrorMessage: expect.stringMatching(/\w/) });
  });

  it("the engine calls the metrics hooks: messages examined, filed, quarantined, pass duration, queue depth", async () => {
    const f = await makeFirm();
    const recorded: Array<[string, string, number, Record<string, string>]> = [];
    const metrics: Metrics = {
      increment: (name, value, labels) => recorded.push(["counter", name, value, { ...labels }]),
      observe: (name, value, labels) => recorded.push(["histogram", name, value, { ...labels }]),
      gauge: (name, value, labels) => recorded.push(["gauge", name, value, { ...labels }]),
    };
    const queue = createMemoryJobQueue({ store: f.store as MemoryStore, retryDelayMs: () => 10 });
    const cm = frontDoor(f, {
      metrics,
      queue,
      clock: systemClock,
      sync: { pollIntervalMs: 60_000, maxWatchers: 0 },
    });
    samWrites(f);
    const broken = f.box(f.boxes.ann.id).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Broken",
      messageId: "<broken@home.example>",
      date: minutes(3),
      text: "?",
    });
    f.box(f.boxes.ann.id).failFetchOf(broken);
    await f.store.updateLink(f.firm.id, f.links.samFamily.id, { emailSync: true });
    await cm.start();
    await until(
      async () => recorded,
      (all) => all.some(([kind]) => kind === "gauge"),
    );
    await cm.close();
    await queue.close();
    const total = (name: string) =>
      recorded
        .filter(([, n, , labels]) => n === name && labels.provider === "imap")
        .reduce((s, [, , v]) => s + v, 0);
    expect(total("clientmail_messages_examined_total")).toBeGreaterThanOrEqual(2);
    expect(total("clientmail_messages_filed_total")).toBeGreaterThanOrEqual(1);
    expect(total("clientmail_messages_quarantined_total")).toBeGreaterThanOrEqual(1);
    const passes = recorded.filter(([, name]) => name === "clientmail_sync_pass_duration_seconds");
    expect(passes.length).toBeGreaterThanOrEqual(4);
    expect(passes[0]?.[3]).toEqual({ provider: "imap", outcome: "ok" });
    expect(recorded.find(([kind]) => kind === "gauge")).toEqual([
      "gauge",
      "clientmail_queue_depth",
      expect.any(Number),
      {},
    ]);
  });
});

describe("front door: exports", () => {
  it("the root entry is the public API; engine internals are only on /internal", async () => {
    const root = await import("../src/index.js");
    const internal = await import("../src/internal.js");
    for (const name of [
      "createClientMail",
      "createWorker",
      "fromPino",
      "silentLogger",
      "systemClock",
      "noopMetrics",
    ])
      expect(root).toHaveProperty(name);
    for (const name of [
      "MailboxSync",
      "saveAttachmentsHandler",
      "workerJobs",
      "backfillJob",
      "outboxSendHandler",
      "secretHash",
      "auditMailbox",
    ]) {
      expect(root).not.toHaveProperty(name);
      expect(internal).toHaveProperty(name);
    }
  });
});
