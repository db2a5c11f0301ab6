/**
 * Per-provider pacing shared across worker processes: two workers, each with its own pool, store,
 * queue and provider for one Outlook mailbox (as two processes would have), run a pass and a
 * targeted backfill of that mailbox at once. Alone, each keeps its own 4 requests; together they
 * would send 8 and Outlook would throttle them. With `createPostgresPacing` they share the 4.
 */
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createWorker, defaultNotifyPreferences, type SyncWorker } from "@clientmail/core";
import { backfillJob } from "@clientmail/core/internal";
import { silentLogger, type JobQueue, type Pacing, type Store } from "@clientmail/core/ports";
import { createGraphProvider } from "@clientmail/graph";
import {
  createPostgresJobQueue,
  createPostgresPacing,
  createPostgresStore,
  installJobQueue,
  migrate,
} from "@clientmail/postgres";
import { createGraphFake, type GraphFake } from "@clientmail/testkit";
import { freshDatabase } from "../support/postgres.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 60_000) {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One worker process: its own pool, store, queue and (optionally) pacing. */
async function process_(url: string, fake: GraphFake, shared: boolean, holder: string) {
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  pool.on("error", () => undefined);
  const store = createPostgresStore({ pool });
  const queue = createPostgresJobQueue({ pool, store, retryDelayMs: () => 50, lockTimeoutMs: 5_000 });
  const pacing: Pacing | undefined = shared ? createPostgresPacing({ pool, pollMs: 10 }) : undefined;
  const worker = createWorker({
    store,
    queue,
    clock: { now: () => new Date() },
    logger: silentLogger,
    holder,
    concurrency: 1,
    pacing,
    providerFor: (mailbox, _credentials, context) =>
      createGraphProvider({
        mailbox: mailbox.address,
        getAccessToken: async () => fake.accessTokenFor(mailbox.address),
        fetch: fake.fetch,
        pageSize: 20,
        sharedRequests: context?.pacing,
        retry: { baseDelayMs: 20, maxDelayMs: 100 },
      }),
    queuePollIntervalMs: 20,
    pollIntervalMs: 60 * 60_000,
    auditIntervalMs: 365 * 86_400_000,
    maxWatchers: 0,
  });
  cleanups.push(async () => {
    await worker.stop({ timeoutMs: 2_000 });
    await queue.close();
    await pool.end();
  });
  return { store, queue, worker };
}

async function run(shared: boolean) {
  const url = await freshDatabase("pacing");
  const setup = new pg.Pool({ connectionString: url, max: 2 });
  await migrate(setup);
  await installJobQueue(setup);
  await setup.end();
  const fake = createGraphFake({ latencyMs: 25, mailboxRequestLimit: false });
  const address = "ann@ledger.example";
  const box = fake.addMailbox(address);
  const a = await process_(url, fake, shared, "a");
  const store: Store = a.store;
  const firm = await store.createFirm({
    name: "Ledger",
    internalDomains: ["ledger.example"],
    deletionMode: "mirror",
  });
  const owner = await store.createMember(firm.id, {
    name: "Ann",
    email: address,
    role: "owner",
    newMailNotifications: "none",
    timeZone: "UTC",
  });
  const mailbox = await store.createMailbox(
    firm.id,
    {
      provider: "graph",
      address,
      displayName: "Ann",
      ownerMemberId: owner.id,
      settings: { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" },
    },
    new Date(),
  );
  const account = await store.createAccount(firm.id, { name: "Jordan", kind: "family" }, new Date());
  const link = async (first: string, email: string, emailSync: boolean) =>
    store.createLink(firm.id, {
      accountId: account.id,
      contactId: (await store.createContact(firm.id, { firstName: first, lastName: "Jordan" })).id,
      email,
      login: false,
      notify: false,
      emailSync,
      signatory: false,
      notifyPreferences: defaultNotifyPreferences(),
    });
  await link("Jo", "jo@home.example", true);
  const sam = await link("Sam", "sam@home.example", false);
  const mail = (from: string, n: number) =>
    box.addMessage({ from, to: [address], subject: `Note ${n}`, messageId: `<n${n}-${from}>`, text: "x" });
  for (let n = 0; n < 60; n += 1) mail("sam@home.example", n);
  const filed = async () =>
    (await store.listAccountThreads(firm.id, account.id, { view: "inbox", limit: 500 })).flatMap(
      (t) => t.messages,
    ).length;

  // The first pass files nothing (no client mail yet); then both workers are up.
  await a.worker.start();
  await eventually(
    async () => (await store.getMailbox(firm.id, mailbox.id))!.lastSyncedAt !== undefined,
    "the first pass",
  );
  const b = await process_(url, fake, shared, "b");
  await b.worker.start();
  for (let n = 0; n < 60; n += 1) mail("jo@home.example", n);
  await store.updateLink(firm.id, sam.id, { emailSync: true });
  const queue: JobQueue = a.queue;
  // A targeted backfill (60 of Sam's messages) and a pass (60 new of Jo's) of one mailbox at once,
  // each worker taking one job at a time: they run on the two workers.
  await queue.enqueue(store, [backfillJob(firm.id, ["sam@home.example"])]);
  await a.worker.requestSync(firm.id, mailbox.id);
  await eventually(async () => (await filed()) === 120, "both jobs' mail");
  const workers: SyncWorker[] = [a.worker, b.worker];
  return {
    throttled: fake.requests.filter((r) => r.status === 429).length,
    maxConcurrency: fake.maxConcurrencySeen(address),
    workers,
  };
}

describe("pacing shared across worker processes", () => {
  it("Graph's 4 concurrent requests per mailbox hold across two workers with PostgreSQL pacing; without it they are exceeded and throttled", async () => {
    const withoutPacing = await run(false);
    // The control: two processes each keeping their own 4 overrun the mailbox's limit.
    expect(withoutPacing.throttled).toBeGreaterThan(0);
    const withPacing = await run(true);
    expect(withPacing.throttled).toBe(0);
    expect(withPacing.maxConcurrency).toBeLessThanOrEqual(4);
  }, 120_000);
});
