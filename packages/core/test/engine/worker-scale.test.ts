/**
 * Workers at scale, on the memory store and queue: IMAP IDLE watchers bounded per process and
 * placed where a mailbox's pass ran, fairness across firms, graceful shutdown (finish or release
 * in-flight work), and quarantine retries as keyed sync jobs.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  createMemoryJobQueue,
  createMemoryPacing,
  createMemoryStore,
  type MemoryStore,
} from "@clientmail/memory";
import { MemoryMailbox } from "@clientmail/testkit";
import { createWorker, type SyncWorker } from "../../src/index.js";
import { silentLogger, type MailboxPacing, type MailProvider, type Pacing } from "../../src/ports/index.js";
import { at, makeFirm, minutes, type Firm } from "./firm-fixture.js";

const workers: SyncWorker[] = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop({ timeoutMs: 1_000 });
});

function startWorker(f: Firm, extra: Partial<Parameters<typeof createWorker>[0]> = {}): SyncWorker {
  const worker = createWorker({
    store: f.store,
    queue: f.queue!,
    clock: { now: () => new Date() },
    logger: process.env.DEBUG_WORKER
      ? { ...silentLogger, warn: (m: string, d: unknown) => console.log(m, d) }
      : silentLogger,
    events: f.events,
    random: () => 0,
    holder: "test",
    providerFor: (mailbox) => f.box(mailbox.id).provider(),
    queuePollIntervalMs: 20,
    pollIntervalMs: 60 * 60_000,
    ...extra,
  });
  workers.push(worker);
  return worker;
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 8_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const filedCount = async (f: Firm) =>
  (await f.store.listAccountThreads(f.firm.id, f.accounts.family.id, { view: "inbox", limit: 500 })).flatMap(
    (t) => t.messages,
  ).length;

const clientMail = (to: string, n: number) => ({
  from: [at("jo@home.example")],
  to: [at(to)],
  subject: `Idle ${n}`,
  messageId: `<idle-${n}@home>`,
  date: minutes(n),
});

describe("IMAP IDLE watchers held by workers", () => {
  it("Y2: each IMAP mailbox is watched once across two workers; a change is filed without waiting for the poll", async () => {
    const f = await makeFirm();
    const pacing = createMemoryPacing();
    const a = startWorker(f, { pacing, maxWatchers: 4, holder: "a" });
    const b = startWorker(f, { pacing, maxWatchers: 4, holder: "b" });
    await Promise.all([a.start(), b.start()]);
    await eventually(
      async () => (await a.health()).watchers + (await b.health()).watchers === 4,
      "four watchers",
    );
    // Both workers ran passes of every mailbox at start; each mailbox still has one IDLE connection.
    for (const box of Object.values(f.boxes)) await a.requestSync(f.firm.id, box.id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([...f.mailboxes.values()].map((box) => box.calls.watch)).toEqual([1, 1, 1, 1]);
    // The poll is an hour away: only IDLE can bring this in.
    f.box(f.boxes.ann.id).append(clientMail("ann@ledger.example", 1));
    await eventually(async () => (await filedCount(f)) === 1, "the pushed message", 4_000);
  });

  it("Y2: a process holds at most maxWatchers; the mailboxes it cannot watch are still synced by the poll", async () => {
    const f = await makeFirm();
    const worker = startWorker(f, { pacing: createMemoryPacing(), maxWatchers: 1, pollIntervalMs: 300 });
    await worker.start();
    await eventually(async () => (await worker.health()).watchers === 1, "one watcher");
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await worker.health()).watchers).toBe(1);
    expect([...f.mailboxes.values()].reduce((sum, box) => sum + box.calls.watch, 0)).toBe(1);
    f.box(f.boxes.ann.id).append(clientMail("ann@ledger.example", 6));
    f.box(f.boxes.bob.id).append({ ...clientMail("bob@ledger.example", 7), to: [at("bob@ledger.example")] });
    await eventually(async () => (await filedCount(f)) === 2, "both messages");
  });

  it("Y2: a worker that stops gives its watchers' slots back; the next pass elsewhere watches the mailbox", async () => {
    const f = await makeFirm();
    const pacing = createMemoryPacing();
    const a = startWorker(f, { pacing, maxWatchers: 4, holder: "a" });
    await a.start();
    await eventually(async () => (await a.health()).watchers === 4, "a's watchers");
    const b = startWorker(f, { pacing, maxWatchers: 4, holder: "b" });
    await b.start();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await b.health()).watchers).toBe(0);
    await a.stop({ timeoutMs: 1_000 });
    for (const box of Object.values(f.boxes)) await b.requestSync(f.firm.id, box.id);
    await eventually(async () => (await b.health()).watchers === 4, "b's watchers");
    f.box(f.boxes.bob.id).append(clientMail("bob@ledger.example", 2));
    await eventually(async () => (await filedCount(f)) === 1, "the pushed message", 4_000);
  });
});

describe("IMAP IDLE watchers whose slot renewal was missed", () => {
  /** Memory pacing whose clock the test can move, as if this process had been too busy to renew. */
  function lateClockPacing() {
    let offset = 0;
    const pacing = createMemoryPacing({ clock: { now: () => new Date(Date.now() + offset) } });
    return { pacing, skip: (ms: number) => (offset += ms) };
  }

  it("Y2: a watcher whose slot expired before this busy process renewed it keeps watching; a change is filed without waiting for the poll", async () => {
    const f = await makeFirm();
    const { pacing, skip } = lateClockPacing();
    const worker = startWorker(f, { pacing, maxWatchers: 4, watchTtlMs: 300 });
    await worker.start();
    await eventually(async () => (await worker.health()).watchers === 4, "four watchers");
    // Every slot expires before its next renewal, with no other process holding it.
    skip(1_000);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await worker.health()).watchers).toBe(4);
    expect([...f.mailboxes.values()].map((box) => box.calls.watch)).toEqual([1, 1, 1, 1]);
    // The poll is an hour away: only IDLE can bring this in.
    f.box(f.boxes.ann.id).append(clientMail("ann@ledger.example", 3));
    await eventually(async () => (await filedCount(f)) === 1, "the pushed message", 4_000);
  });

  it("Y2: a renewal that fails keeps the watcher; a change is filed without waiting for the poll", async () => {
    const f = await makeFirm();
    const memory = createMemoryPacing();
    // One failed renewal per watcher.
    let failures = 4;
    const pacing: Pacing = {
      take: (...args) => memory.take(...args),
      acquire: (...args) => memory.acquire(...args),
      tryAcquire: async (...args) => {
        const slot = await memory.tryAcquire(...args);
        return (
          slot && {
            release: () => slot.release(),
            renew: () =>
              failures-- > 0 ? Promise.reject(new Error("connection terminated unexpectedly")) : slot.renew(),
          }
        );
      },
    };
    const worker = startWorker(f, { pacing, maxWatchers: 4, watchTtlMs: 600 });
    await worker.start();
    await eventually(async () => (await worker.health()).watchers === 4, "four watchers");
    await eventually(async () => failures <= 0, "the failed renewals");
    expect((await worker.health()).watchers).toBe(4);
    // The next renewals succeed: the slots were still held.
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect((await worker.health()).watchers).toBe(4);
    f.box(f.boxes.bob.id).append({ ...clientMail("bob@ledger.example", 4), to: [at("bob@ledger.example")] });
    await eventually(async () => (await filedCount(f)) === 1, "the pushed message", 4_000);
  });

  it("Y2: a watcher whose expired slot another process took stops here and brings a pass forward", async () => {
    const f = await makeFirm();
    const { pacing, skip } = lateClockPacing();
    const worker = startWorker(f, { pacing, maxWatchers: 4, watchTtlMs: 300 });
    await worker.start();
    await eventually(async () => (await worker.health()).watchers === 4, "four watchers");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const passes = f.box(f.boxes.ann.id).calls.changes;
    skip(1_000);
    // Another process takes ann's expired slot before this one renews it.
    const elsewhere = await pacing.tryAcquire(f.firm.id, `watch:${f.boxes.ann.id}`, 60_000);
    expect(elsewhere).toBeDefined();
    await eventually(async () => (await worker.health()).watchers === 3, "ann's watcher stopped here");
    await eventually(async () => f.box(f.boxes.ann.id).calls.changes > passes, "a pass of ann's mailbox");
    await elsewhere!.release();
  });
});

describe("fairness across firms", () => {
  it("one firm's 500 mailboxes do not starve another firm's one: its pass runs among the first few", async () => {
    const store = createMemoryStore();
    const big = await store.createFirm({
      name: "Big",
      internalDomains: ["big.example"],
      deletionMode: "mirror",
    });
    const small = await store.createFirm({
      name: "Small",
      internalDomains: ["small.example"],
      deletionMode: "mirror",
    });
    const settings = { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" };
    const owner = async (firmId: string, email: string) =>
      store.createMember(firmId, {
        name: "Owner",
        email,
        role: "owner",
        newMailNotifications: "none",
        timeZone: "UTC",
      });
    const bigOwner = await owner(big.id, "o@big.example");
    const smallOwner = await owner(small.id, "o@small.example");
    for (let i = 0; i < 500; i += 1)
      await store.createMailbox(
        big.id,
        {
          provider: "imap",
          address: `m${i}@big.example`,
          displayName: `m${i}`,
          ownerMemberId: bigOwner.id,
          settings,
        },
        new Date(),
      );
    const lone = await store.createMailbox(
      small.id,
      {
        provider: "imap",
        address: "lone@small.example",
        displayName: "lone",
        ownerMemberId: smallOwner.id,
        settings,
      },
      new Date(),
    );
    const queue = createMemoryJobQueue({ store });
    const order: string[] = [];
    let smallFirmSynced = () => undefined as void;
    const reached = new Promise<void>((resolve) => {
      smallFirmSynced = resolve;
    });
    const provider = (mailboxId: string): MailProvider => {
      const inner = new MemoryMailbox().provider();
      return {
        ...inner,
        changes: (cursor, options) => {
          if (!order.includes(mailboxId)) order.push(mailboxId);
          if (mailboxId === lone.id) smallFirmSynced();
          return inner.changes(cursor, options);
        },
      };
    };
    const worker = createWorker({
      store,
      queue,
      clock: { now: () => new Date() },
      logger: silentLogger,
      random: () => 0,
      holder: "fair",
      providerFor: (mailbox) => provider(mailbox.id),
      queuePollIntervalMs: 10,
      pollIntervalMs: 60 * 60_000,
      concurrency: 2,
      maxWatchers: 0,
    });
    workers.push(worker);
    // start() enqueues the big firm's 500 passes first, then the small firm's one.
    await worker.start();
    await reached;
    // First come, first served would run it 501st; round-robin by firm runs it right away.
    expect(order.indexOf(lone.id)).toBeLessThan(4);
    await worker.stop();
    await queue.close();
  });
});

describe("graceful shutdown", () => {
  it("Y2, R1: a pass in flight finishes within the timeout; its page is filed and its next pass is scheduled, not lost", async () => {
    const f = await makeFirm();
    f.box(f.boxes.ann.id).append(clientMail("ann@ledger.example", 3));
    let openChanges = () => undefined as void;
    const gate = new Promise<void>((resolve) => {
      openChanges = resolve;
    });
    let inFlight = false;
    const worker = startWorker(f, {
      maxWatchers: 0,
      providerFor: (mailbox) => {
        const inner = f.box(mailbox.id).provider();
        if (mailbox.id !== f.boxes.ann.id) return inner;
        return {
          ...inner,
          async *changes(cursor, options) {
            inFlight = true;
            await gate;
            yield* inner.changes(cursor, options);
          },
        };
      },
    });
    await worker.start();
    await eventually(async () => inFlight, "the pass to start");
    const stopping = worker.stop({ timeoutMs: 5_000 });
    setTimeout(openChanges, 200);
    await stopping;
    expect(await filedCount(f)).toBe(1);
    const stats = await f.queue!.stats();
    expect(stats.running).toBe(0);
    // Every mailbox's next pass is waiting in the queue: nothing was dropped by the shutdown.
    expect(stats.waiting).toBeGreaterThanOrEqual(4);
  });

  it("Y2, R1: a pass stuck past the timeout is aborted and released: another worker files the mailbox long before the lease would expire", async () => {
    const f = await makeFirm();
    f.box(f.boxes.ann.id).append(clientMail("ann@ledger.example", 4));
    f.box(f.boxes.ann.id).hangNext("changes");
    const a = startWorker(f, { maxWatchers: 0, holder: "a", leaseTtlMs: 10 * 60_000 });
    await a.start();
    await eventually(async () => f.box(f.boxes.ann.id).calls.changes === 1, "the stuck pass");
    const started = Date.now();
    await a.stop({ timeoutMs: 200 });
    const b = startWorker(f, { maxWatchers: 0, holder: "b", leaseTtlMs: 10 * 60_000 });
    await b.start();
    await eventually(async () => (await filedCount(f)) === 1, "the mailbox filed by b");
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(await f.queue!.listFailed()).toEqual([]);
  });
});

describe("shared request slots", () => {
  it("R8 Y2: a worker's request slots outlive it by its lease TTL, not minutes, and a slow request renews its slot", async () => {
    const f = await makeFirm();
    const shared = createMemoryPacing();
    const ttls: number[] = [];
    const pacing: Pacing = {
      ...shared,
      acquire: (firmId, key, weight, options, signal) => {
        ttls.push(options.ttlMs);
        return shared.acquire(firmId, key, weight, options, signal);
      },
    };
    const leaseTtlMs = 300;
    let opened: { pacing: MailboxPacing; key: string } | undefined;
    const worker = startWorker(f, {
      maxWatchers: 0,
      pacing,
      leaseTtlMs,
      providerFor: (mailbox, _secret, context) => {
        if (context?.pacing)
          opened ??= { pacing: context.pacing, key: `${mailbox.provider}:${mailbox.address}` };
        return f.box(mailbox.id).provider();
      },
    });
    await worker.start();
    await eventually(async () => opened !== undefined, "a provider opened");
    // A request that takes three lease TTLs keeps its slot (capacity 1 here) to the end.
    const release = await opened!.pacing.acquire(1, 1);
    await new Promise((resolve) => setTimeout(resolve, 3 * leaseTtlMs));
    const other = { capacity: 1, ttlMs: 1_000 };
    await expect(
      shared.acquire(f.firm.id, opened!.key, 1, other, AbortSignal.timeout(100)),
    ).rejects.toThrow();
    release();
    const next = await shared.acquire(f.firm.id, opened!.key, 1, other, AbortSignal.timeout(1_000));
    await next.release();
    // Every slot the worker takes expires a lease TTL after its last renewal: a killed worker's
    // slots come back with its leases, not two minutes later.
    expect(ttls.length).toBeGreaterThan(0);
    expect(new Set(ttls)).toEqual(new Set([leaseTtlMs]));
  });
});

describe("providers kept open", () => {
  it("R7: a worker keeps at most maxOpenProviders idle providers open, closing the least recently used; a closed one is reopened on its mailbox's next job", async () => {
    const f = await makeFirm();
    const opened = new Map<string, number>();
    const closed = new Map<string, number>();
    const count = (map: Map<string, number>, id: string) => map.set(id, (map.get(id) ?? 0) + 1);
    const worker = startWorker(f, {
      maxWatchers: 0,
      maxOpenProviders: 2,
      providerFor: (mailbox) => {
        count(opened, mailbox.id);
        const inner = f.box(mailbox.id).provider();
        return {
          ...inner,
          close: async () => {
            count(closed, mailbox.id);
            await inner.close();
          },
        };
      },
    });
    await worker.start();
    const boxes = Object.values(f.boxes);
    await eventually(
      async () =>
        (await Promise.all(boxes.map((b) => f.store.getMailbox(f.firm.id, b.id)))).every(
          (m) => m?.lastSyncedAt !== undefined,
        ),
      "a pass of every mailbox",
    );
    const idle = async () => {
      const health = await worker.health();
      return health.running === 0 && health.oldestWaitingAt === undefined;
    };
    await eventually(idle, "the passes and audits to end");
    const sum = (map: Map<string, number>) => [...map.values()].reduce((a, b) => a + b, 0);
    const open = (await worker.health()).openProviders;
    expect(open).toBeLessThanOrEqual(2);
    expect(sum(opened) - sum(closed)).toBe(open);
    // A mailbox whose provider was closed opens a new one for its next job.
    const reopened = [...closed.keys()][0]!;
    await worker.requestSync(f.firm.id, reopened);
    await eventually(async () => (opened.get(reopened) ?? 0) === 2, "the provider opened again");
    await eventually(idle, "that pass to end");
    expect((await worker.health()).openProviders).toBeLessThanOrEqual(2);
    expect(() =>
      createWorker({
        store: f.store,
        queue: f.queue!,
        clock: { now: () => new Date() },
        logger: silentLogger,
        holder: "bad",
        providerFor: (mailbox) => f.box(mailbox.id).provider(),
        maxOpenProviders: 0,
      }),
    ).toThrow(/maxOpenProviders/);
  });
});

describe("a dead holder's lease", () => {
  it("R8 Y2: a mailbox whose lease a killed worker still holds is taken the moment the lease expires, without polling the lease meanwhile", async () => {
    // One clock for the store's leases and the worker, as in a deployment.
    const f = await makeFirm({
      makeStore: async () => createMemoryStore({ clock: { now: () => new Date() } }),
    });
    f.box(f.boxes.ann.id).append(clientMail("ann@ledger.example", 5));
    const leaseTtlMs = 1_500;
    // A worker that was killed mid-pass: its lease stays until it expires.
    expect(await f.store.acquireLease(f.firm.id, f.boxes.ann.id, "killed", leaseTtlMs)).toBeDefined();
    const expiresAt = Date.now() + leaseTtlMs;
    const attempts: { at: number; took: boolean }[] = [];
    const acquire = f.store.acquireLease.bind(f.store);
    f.store.acquireLease = async (firmId, mailboxId, holder, ttlMs) => {
      const token = await acquire(firmId, mailboxId, holder, ttlMs);
      if (mailboxId === f.boxes.ann.id) attempts.push({ at: Date.now(), took: token !== undefined });
      return token;
    };
    const b = startWorker(f, { maxWatchers: 0, holder: "b", leaseTtlMs });
    await b.start();
    await eventually(async () => (await filedCount(f)) === 1, "the mailbox filed by b");
    const taken = attempts.find((a) => a.took)!;
    // b found the lease held, came back just before it expired and took it then: not every tenth
    // of a lease (ten looks), and not a whole lease later.
    expect(attempts.filter((a) => !a.took).length).toBeLessThanOrEqual(3);
    expect(taken.at).toBeGreaterThanOrEqual(expiresAt - 5);
    expect(taken.at - expiresAt).toBeLessThan(300);
  });
});

describe("the completeness audit's provider", () => {
  it("R1 R2: a pass that fails while the audit lists the mailbox does not close the provider under the audit", async () => {
    const f = await makeFirm();
    const box = f.box(f.boxes.ann.id);
    box.append(clientMail("ann@ledger.example", 6));
    let armed = false;
    let usedAfterClose = 0;
    let auditListing!: () => void;
    const auditStarted = new Promise<void>((resolve) => (auditListing = resolve));
    let letAuditGo!: () => void;
    const auditMayGo = new Promise<void>((resolve) => (letAuditGo = resolve));
    // The provider refuses to be used once closed, as the real ones do.
    const closable = (inner: MailProvider): MailProvider => {
      let closed = false;
      return {
        ...inner,
        changes: (cursor, options) =>
          (async function* () {
            // Once the first pass has filed, passes list from their cursor: a full listing is the audit's.
            if (cursor === undefined && armed) {
              armed = false;
              auditListing();
              await auditMayGo;
            }
            for await (const page of inner.changes(cursor, options)) {
              if (closed) {
                usedAfterClose += 1;
                throw new Error("This provider was closed");
              }
              yield page;
            }
          })(),
        close: async () => {
          closed = true;
          await inner.close();
        },
      };
    };
    const worker = startWorker(f, {
      maxWatchers: 0,
      auditIntervalMs: 1,
      providerFor: (mailbox) => closable(f.box(mailbox.id).provider()),
    });
    // The store's clock stands still, so after the first audit no other is due until asked for.
    await worker.start();
    await eventually(async () => (await filedCount(f)) === 1, "the first pass");
    await eventually(
      async () => (await f.store.getMailbox(f.firm.id, f.boxes.ann.id))?.verification !== undefined,
      "the first audit",
    );
    const firstVerdict = (await f.store.getMailbox(f.firm.id, f.boxes.ann.id))!.verification!.at;
    armed = true;
    f.clock.advance(1_000);
    await f.queue!.enqueue(f.store, [
      { name: "audit.mailbox", payload: { firmId: f.firm.id, mailboxId: f.boxes.ann.id } },
    ]);
    await auditStarted;
    // A pass fails while the audit holds the provider: the worker asks for a fresh connection.
    box.failNext("changes", { code: "transient" });
    await worker.requestSync(f.firm.id, f.boxes.ann.id);
    await eventually(
      async () => (await f.store.getMailbox(f.firm.id, f.boxes.ann.id))?.state.status === "retrying",
      "the failed pass",
    );
    letAuditGo();
    await eventually(
      async () =>
        (await f.store.getMailbox(f.firm.id, f.boxes.ann.id))?.verification?.at.getTime() !==
          firstVerdict.getTime() || (await f.queue!.listFailed()).length > 0,
      "the audit's verdict",
    );
    expect(usedAfterClose).toBe(0);
    expect(await f.queue!.listFailed()).toEqual([]);
  });
});

describe("quarantine retries as jobs", () => {
  it("R2, R8: a quarantined message's retry is the mailbox's sync job, due at its next attempt, enqueued with the entry", async () => {
    const f = await makeFirm();
    let offset = 0;
    const clock = { now: () => new Date(Date.now() + offset) };
    const queue = createMemoryJobQueue({ store: f.store as MemoryStore, clock, retryDelayMs: () => 10 });
    const box = f.box(f.boxes.ann.id);
    const id = box.append(clientMail("ann@ledger.example", 5));
    box.failListingOf(id);
    const worker = startWorker(f, { queue, clock, maxWatchers: 0 });
    await worker.start();
    await eventually(
      async () => (await f.store.listQuarantine(f.firm.id, { mailboxId: f.boxes.ann.id })).length === 1,
      "the quarantine entry",
    );
    expect(await filedCount(f)).toBe(0);
    // Past the first retry delay (5 minutes), well before the next poll (an hour): only a retry
    // job due at the entry's next attempt runs the pass that files it.
    offset = 6 * 60_000;
    await eventually(async () => (await filedCount(f)) === 1, "the retried message");
    expect(await f.store.listQuarantine(f.firm.id, { mailboxId: f.boxes.ann.id })).toEqual([]);
    await worker.stop();
    await queue.close();
  });
});

describe("follow-up passes", () => {
  it("Y2: a pass that found changes is followed by another shortly (a change during it may never be pushed); quiet mailboxes wait for the poll", async () => {
    const f = await makeFirm();
    const box = f.box(f.boxes.ann.id);
    box.append(clientMail("ann@ledger.example", 8));
    // Audited a moment ago: no completeness audit (which would also find the message) runs now.
    await f.store.setMailboxVerification(f.firm.id, f.boxes.ann.id, {
      at: new Date(),
      complete: true,
      clientMessages: 0,
      missing: 0,
      repaired: 0,
      quarantined: 0,
    });
    let listings = 0;
    const worker = startWorker(f, {
      maxWatchers: 0,
      followUpMs: 150,
      auditIntervalMs: 365 * 86_400_000,
      providerFor: (mailbox) => {
        const inner = f.box(mailbox.id).provider();
        if (mailbox.id !== f.boxes.ann.id) return inner;
        return {
          ...inner,
          async *changes(cursor, options) {
            for await (const page of inner.changes(cursor, options)) {
              // A message arrives once the first page is listed, while the pass is still running,
              // and no push or watcher announces it.
              if ((listings += 1) === 1) box.append(clientMail("ann@ledger.example", 9));
              yield page;
            }
          },
        };
      },
    });
    await worker.start();
    await eventually(async () => (await filedCount(f)) === 2, "the follow-up pass");
    await new Promise((resolve) => setTimeout(resolve, 600));
    const settled = box.calls.changes;
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(box.calls.changes).toBe(settled);
  });
});
