/**
 * Workers on a job queue (issue "durable work"): every mailbox's sync scheduled as jobs, push hints,
 * the safety-net poll, the engine's failure policy kept across jobs in the mailbox's state, and
 * targeted backfills fanned out per mailbox.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ClientMailError, createWorker, RateLimitedError, type SyncWorker } from "../../src/index.js";
import { backfillJob, pushRenewJob, pushSubscribeJob, workerJobs } from "../../src/internal.js";
import { silentLogger, type MailProvider, type PushRegistrar } from "../../src/ports/index.js";
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
    logger: silentLogger,
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

describe("workers on a job queue", () => {
  it("Y2: at start a worker schedules a pass of every mailbox that is not stopped; each pass schedules the next poll", async () => {
    const f = await makeFirm();
    f.box(f.boxes.ann.id).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Hello",
      messageId: "<w1@home>",
      date: minutes(0),
    });
    await f.store.setMailboxState(f.firm.id, f.boxes.carl.id, {
      status: "stopped",
      reason: "disconnected_by_user",
      at: new Date(),
    });
    const worker = startWorker(f, { pollIntervalMs: 150 });
    await worker.start();
    await eventually(async () => (await filedCount(f)) === 1, "the first pass");
    expect(f.box(f.boxes.carl.id).calls.changes).toBe(0);
    // The safety net: without any push, the next poll files new mail.
    f.box(f.boxes.ann.id).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Again",
      messageId: "<w2@home>",
      date: minutes(1),
    });
    await eventually(async () => (await filedCount(f)) === 2, "the poll");
    expect((await f.store.getMailbox(f.firm.id, f.boxes.ann.id))!.state).toEqual({ status: "live" });
  });

  it("Y2, R8: a start whose enqueue meets a deadlock with another worker's tries again and still schedules every mailbox", async () => {
    const f = await makeFirm();
    f.box(f.boxes.ann.id).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Hello",
      messageId: "<w3@home>",
      date: minutes(0),
    });
    const queue = f.queue!;
    let failures = 0;
    const sleeps: number[] = [];
    /** The firm's queue with its enqueue replaced. */
    const withEnqueue = (enqueue: typeof queue.enqueue): typeof queue =>
      new Proxy(queue, {
        get: (target, key) => {
          if (key === "enqueue") return enqueue;
          const value: unknown = Reflect.get(target, key);
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    const racing = withEnqueue(async (store, jobs) => {
      if (failures < 2) {
        failures++;
        throw new ClientMailError("transient", "The database asked to retry");
      }
      return queue.enqueue(store, jobs);
    });
    const worker = startWorker(f, {
      queue: racing,
      sleep: async (ms: number) => {
        sleeps.push(ms);
      },
    });
    await worker.start();
    expect(failures).toBe(2);
    expect(sleeps).toHaveLength(2);
    await eventually(async () => (await filedCount(f)) === 1, "the first pass");

    // Anything else is not retried: the start fails with it.
    const broken = withEnqueue(async () => {
      throw new ClientMailError("unsupported", "The job queue's tables are missing");
    });
    await expect(startWorker(f, { queue: broken, holder: "second" }).start()).rejects.toMatchObject({
      code: "unsupported",
    });
  });

  it("R1, R2: workers audit each mailbox's completeness after a pass when the last audit is older than the interval", async () => {
    const f = await makeFirm();
    f.box(f.boxes.ann.id).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Audited",
      messageId: "<audited@home>",
      date: minutes(0),
    });
    const worker = startWorker(f, { auditIntervalMs: 60 * 60_000 });
    await worker.start();
    await eventually(
      async () => (await f.store.getMailbox(f.firm.id, f.boxes.ann.id))!.verification !== undefined,
      "the audit",
    );
    expect((await f.store.getMailbox(f.firm.id, f.boxes.ann.id))!.verification).toMatchObject({
      complete: true,
      clientMessages: 1,
    });
  });

  it("R6, R1: an audit that meets a storm of rate limits waits for each reset and completes; it is never dead-lettered", async () => {
    const f = await makeFirm();
    f.box(f.boxes.ann.id).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Audited",
      messageId: "<storm@home>",
      date: minutes(0),
    });
    const worker = startWorker(f, { auditIntervalMs: 60 * 60_000 });
    await worker.start();
    const verifiedAt = async () => (await f.store.getMailbox(f.firm.id, f.boxes.ann.id))!.verification?.at;
    await eventually(async () => (await verifiedAt()) !== undefined, "the first audit");
    const first = (await verifiedAt())!;
    const listedBefore = f.box(f.boxes.ann.id).calls.changes;
    // More rate limits in a row than the audit job has attempts.
    f.box(f.boxes.ann.id).failNext("changes", { code: "rate_limited", retryAfterMs: 20 }, 5);
    await f.queue!.enqueue(f.store, [
      {
        name: workerJobs.audit,
        payload: { firmId: f.firm.id, mailboxId: f.boxes.ann.id },
        key: `${workerJobs.audit}:${f.firm.id}:${f.boxes.ann.id}`,
        group: f.firm.id,
        maxAttempts: 2,
      },
    ]);
    await eventually(async () => (await verifiedAt())! > first, "the audit after the storm");
    expect(f.box(f.boxes.ann.id).calls.changes - listedBefore).toBeGreaterThanOrEqual(6);
    expect((await f.store.getMailbox(f.firm.id, f.boxes.ann.id))!.verification).toMatchObject({
      complete: true,
      clientMessages: 1,
    });
    expect(await f.queue!.listFailed()).toEqual([]);
  });

  it("R6, Y2: push registration and renewal wait out a storm of rate limits; neither job is dead-lettered", async () => {
    const f = await makeFirm();
    const day = 86_400_000;
    const refusals = { subscribe: 4, renew: 4 };
    const limited = (call: keyof typeof refusals) => {
      if (refusals[call] === 0) return;
      refusals[call] -= 1;
      throw new RateLimitedError(`${call}: rate limited`, 20);
    };
    const push: PushRegistrar = {
      subscribe: async () => {
        limited("subscribe");
        return [{ id: "sub-1", resource: "inbox", expiresAt: new Date(Date.now() + day), secret: "s" }];
      },
      renew: async (registration) => {
        limited("renew");
        return { ...registration, expiresAt: new Date(Date.now() + 3 * day) };
      },
      unsubscribe: async () => {},
    };
    const worker = startWorker(f, { providerFor: (mailbox) => ({ ...f.box(mailbox.id).provider(), push }) });
    await worker.start();
    const registration = () => f.store.getPushRegistration(f.firm.id, "sub-1");
    // More refusals in a row than either job has attempts.
    await f.queue!.enqueue(f.store, [{ ...pushSubscribeJob(f.firm.id, f.boxes.ann.id), maxAttempts: 2 }]);
    await eventually(async () => (await registration()) !== undefined, "the registration");
    await f.queue!.enqueue(f.store, [
      { ...pushRenewJob(f.firm.id, (await registration())!, new Date()), runAt: new Date(), maxAttempts: 2 },
    ]);
    await eventually(
      async () => (await registration())!.expiresAt.getTime() > Date.now() + 2 * day,
      "the renewal",
    );
    expect(refusals).toEqual({ subscribe: 0, renew: 0 });
    expect(await f.queue!.listFailed()).toEqual([]);
  });

  it("Y2: a push hint syncs the mailbox at once, long before the next poll", async () => {
    const f = await makeFirm();
    const worker = startWorker(f);
    await worker.start();
    await eventually(async () => f.box(f.boxes.ann.id).calls.changes > 0, "the first pass");
    f.box(f.boxes.ann.id).append({
      from: [at("jo@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Pushed",
      messageId: "<push@home>",
      date: minutes(0),
    });
    await worker.requestSync(f.firm.id, f.boxes.ann.id);
    await eventually(async () => (await filedCount(f)) === 1, "the pushed message");
    const health = await worker.health();
    expect(health.failed).toBe(0);
  });

  it("Y7, N2: the failure count lives in the mailbox's state across jobs; enough failures stop the mailbox and tell its members", async () => {
    const f = await makeFirm();
    f.box(f.boxes.support.id).failNext("changes", { code: "transient" }, 10);
    const worker = startWorker(f, { maxConsecutiveFailures: 3 });
    await worker.start();
    await eventually(
      async () => (await f.store.getMailbox(f.firm.id, f.boxes.support.id))!.state.status === "stopped",
      "the mailbox to stop",
    );
    expect(f.box(f.boxes.support.id).calls.changes).toBe(3);
    expect((await f.store.getMailbox(f.firm.id, f.boxes.support.id))!.state).toMatchObject({
      reason: "repeated_failures",
    });
    for (const member of [f.members.ann, f.members.bob]) {
      const notes = await f.store.listNotifications(f.firm.id, member.id, new Date());
      expect(notes.filter((n) => n.kind === "sync_stopped")).toHaveLength(1);
    }
  });

  it("R6: rate limits put the mailbox in throttled and its next pass after the reset; they never stop it", async () => {
    const f = await makeFirm();
    f.box(f.boxes.ann.id).failNext("changes", { code: "rate_limited", retryAfterMs: 200 }, 6);
    const states: string[] = [];
    f.events.on("sync.state", (e) => {
      if (e.mailboxId === f.boxes.ann.id) states.push(e.state.status);
    });
    const worker = startWorker(f, { maxConsecutiveFailures: 2 });
    await worker.start();
    await eventually(async () => states.at(-1) === "live", "the mailbox to go live");
    expect(states.filter((s) => s === "throttled")).toHaveLength(6);
    expect(states).not.toContain("stopped");
  });

  it("Y5, T7: a backfill job fans out per mailbox; a failing mailbox is retried alone while the others file the history", async () => {
    const f = await makeFirm();
    for (const box of [f.boxes.ann.id, f.boxes.bob.id]) {
      f.box(box).append({
        from: [at("sam@home.example")],
        to: [at(box === f.boxes.ann.id ? "ann@ledger.example" : "bob@ledger.example")],
        subject: `Old ${box === f.boxes.ann.id ? "A" : "B"}`,
        messageId: `<old-${box}@home>`,
        date: minutes(0),
      });
    }
    const worker = startWorker(f);
    await worker.start();
    await eventually(async () => f.box(f.boxes.bob.id).calls.changes > 0, "the first passes");
    await f.store.updateLink(f.firm.id, f.links.samFamily.id, { emailSync: true });
    f.box(f.boxes.bob.id).failNext("search", { code: "transient" }, 1);
    await f.queue!.enqueue(f.store, [backfillJob(f.firm.id, ["sam@home.example"])]);
    await eventually(async () => (await filedCount(f)) === 2, "both mailboxes' history");
    expect(f.box(f.boxes.bob.id).calls.search).toBe(2);
    expect((await f.queue!.stats()).failed).toBe(0);
  });

  it("T7, R8: a pass that fails while the mailbox's backfill runs does not close the provider under the backfill; the history is filed", async () => {
    const f = await makeFirm();
    f.box(f.boxes.ann.id).append({
      from: [at("sam@home.example")],
      to: [at("ann@ledger.example")],
      subject: "Old",
      messageId: "<old-ann@home>",
      date: minutes(0),
    });
    let openSearch = () => undefined as void;
    const searchMayGoOn = new Promise<void>((resolve) => {
      openSearch = resolve;
    });
    let searching = false;
    // A provider that, like the real ones, refuses every call once closed.
    const closable = (inner: MailProvider): MailProvider => {
      let closed = false;
      const check = () => {
        if (closed) throw new ClientMailError("internal", "closed", { retryable: false });
      };
      return {
        kind: inner.kind,
        changes: (cursor, options) => (check(), inner.changes(cursor, options)),
        fetch: (ids, options) => (check(), inner.fetch(ids, options)),
        watch: (onChange, options) => inner.watch(onChange, options),
        async *search(query, options) {
          check();
          searching = true;
          await searchMayGoOn;
          check();
          yield* inner.search(query, options);
        },
        close: async () => {
          closed = true;
        },
      };
    };
    // Room for the four mailboxes' backfills and a pass at once.
    const worker = startWorker(f, {
      concurrency: 8,
      providerFor: (mailbox) => closable(f.box(mailbox.id).provider()),
    });
    await worker.start();
    try {
      await eventually(async () => f.box(f.boxes.ann.id).calls.changes > 0, "the first passes");
      await f.store.updateLink(f.firm.id, f.links.samFamily.id, { emailSync: true });
      await f.queue!.enqueue(f.store, [backfillJob(f.firm.id, ["sam@home.example"])]);
      await eventually(async () => searching, "the backfill's search");
      // Meanwhile a pass of the same mailbox fails, and the worker asks for a fresh connection.
      f.box(f.boxes.ann.id).failNext("changes", { code: "transient" }, 1);
      await worker.requestSync(f.firm.id, f.boxes.ann.id);
      await eventually(
        async () => (await f.store.getMailbox(f.firm.id, f.boxes.ann.id))!.state.status === "retrying",
        "the failed pass",
      );
    } finally {
      openSearch();
    }
    await eventually(async () => (await filedCount(f)) === 1, "the backfilled history");
    expect(await f.queue!.listFailed()).toEqual([]);
  });

  it("auth_revoked through a job stops the mailbox at once and schedules nothing more", async () => {
    const f = await makeFirm();
    f.box(f.boxes.ann.id).failNext("changes", { code: "auth_revoked" }, 1);
    const worker = startWorker(f);
    await worker.start();
    await eventually(
      async () => (await f.store.getMailbox(f.firm.id, f.boxes.ann.id))!.state.status === "stopped",
      "the stop",
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(f.box(f.boxes.ann.id).calls.changes).toBe(1);
    expect(ClientMailError.isInstance(new ClientMailError("auth_revoked", "x"))).toBe(true);
  });
});
