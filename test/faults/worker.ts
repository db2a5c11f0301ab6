/**
 * The fault suite's worker: a child process that runs a production worker — `createWorker` over
 * the PostgreSQL store, the PostgreSQL job queue, a folder blob store, the real IMAP provider and
 * the testkit's idempotent `FolderDocumentSink` — for one firm, and that can kill itself with
 * SIGKILL — or pause — at a point the parent chose (see {@link PointKind}). The points are found by
 * wrapping the ports the worker is given (store, job queue, document sink, provider); the engine
 * itself is untouched.
 *
 * Configured by one JSON value in `CLIENTMAIL_FAULT_WORKER` ({@link WorkerConfig}); reports on
 * stdout as JSON lines ({@link WorkerLine}), engine warnings on stderr. The suite runs it as a
 * bundle (see `worker-bundle.ts`); `tsx --conditions=@clientmail/source test/faults/worker.ts`
 * runs it from source.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import { appendFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import pg from "pg";
import {
  createClientMail,
  createWorker,
  isUnreadable,
  type InvitationHandler,
  type UnreadableMessage,
} from "@clientmail/core";
import { saveAttachmentsJob, workerJobs } from "@clientmail/core/internal";
import type { DocumentSink, Logger, MailProvider, Store } from "@clientmail/core/ports";
import { createFolderBlobStore } from "@clientmail/folder";
import { createGmailProvider } from "@clientmail/gmail";
import { createGraphProvider } from "@clientmail/graph";
import { createImapProvider } from "@clientmail/imap";
import { createPostgresJobQueue, createPostgresStore } from "@clientmail/postgres";
import { FolderDocumentSink, loopbackHostPolicy } from "@clientmail/testkit";
import { tagOf } from "./corpus.js";
import { codeOf, isIdle, PassWatch, pollIntervalMs, queueLoad, watchQueue, wraps } from "./jobs.js";
import {
  pointKinds,
  workerConfigVariable,
  type HttpTarget,
  type PointKind,
  type WorkerConfig,
  type WorkerLine,
} from "./worker-protocol.js";

function report(line: WorkerLine): void {
  // Synchronous, so that the line is out before a SIGKILL that follows it.
  writeSync(1, `${JSON.stringify(line)}\n`);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      },
      { once: true },
    );
  });
}

/** Mulberry32. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Counts the points, and kills or pauses the process at the chosen one. */
class Points {
  readonly counts = Object.fromEntries(pointKinds.map((kind) => [kind, 0])) as Record<PointKind, number>;
  private paused: Promise<void> | undefined;
  private resume: (() => void) | undefined;

  constructor(private readonly config: WorkerConfig) {
    if (config.pause) {
      const lines = createInterface({ input: process.stdin });
      lines.on("line", (line) => {
        if (line.trim() === "resume") this.resume?.();
      });
    }
  }

  async hit(kind: PointKind): Promise<void> {
    const n = ++this.counts[kind];
    if (this.config.reportPoints) report({ t: "point", kind, n });
    const { crash, pause } = this.config;
    if (crash && crash.kind === kind && crash.n === n) {
      report({ t: "crash", kind, n });
      process.kill(process.pid, "SIGKILL");
      await new Promise(() => undefined);
    }
    if (pause && pause.kind === kind && pause.n === n) {
      this.paused = new Promise<void>((resolve) => {
        this.resume = resolve;
      });
      // Quiet first: writes already under way (e.g. the previous page's) finish, new ones wait.
      while (this.inflight > 0) await sleep(5);
      report({ t: "paused", kind, n });
      await this.paused;
      this.paused = undefined;
    }
  }

  /** Store writes (and transactions) under way. */
  inflight = 0;

  /**
   * Waits while paused; every store write goes through here. A pause must not be chosen inside a
   * transaction (`before-commit`): it would wait for itself.
   */
  async gate(): Promise<void> {
    while (this.paused) await this.paused;
  }

  /** Runs a store write, counted as under way. */
  async write<T>(run: () => Promise<T>): Promise<T> {
    await this.gate();
    this.inflight += 1;
    try {
      return await run();
    } finally {
      this.inflight -= 1;
    }
  }
}

const isRead = (name: string) => /^(get|list|find)/.test(name);

/** The outer store transaction the current code runs in: the points to hit once it committed. */
const currentTransaction = new AsyncLocalStorage<PointKind[]>();

/**
 * Points the caller reaches now, or — inside a store transaction — once that transaction
 * committed (a rolled-back transaction reaches none of them).
 */
async function hitAfterCommit(points: Points, kind: PointKind): Promise<void> {
  const afterCommit = currentTransaction.getStore();
  if (afterCommit) afterCommit.push(kind);
  else await points.hit(kind);
}

/**
 * The store as the engine sees it: every write outside a transaction, and every transaction, is
 * a `commit` point; a transaction's work done is a `before-commit` point; notifications are
 * `notify` points once committed. State changes and leases taken are reported.
 */
function instrumentStore(
  inner: Store,
  points: Points,
  hooks: { onState: (mailboxId: string, status: string) => void; onLease: (mailboxId: string) => void },
): Store {
  const observe = (name: string, args: unknown[], result: unknown) => {
    if (name === "setMailboxState") hooks.onState(args[1] as string, (args[2] as { status: string }).status);
    if (name === "acquireLease" && result !== undefined) hooks.onLease(args[1] as string);
  };
  const wrapTransaction = (tx: Store): Store => {
    const wrapper: Store = new Proxy(tx, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        const name = String(prop);
        if (name === "transaction")
          return (fn: (tx: Store) => Promise<unknown>) =>
            target.transaction((inner) => fn(wrapTransaction(inner)));
        return async (...args: unknown[]) => {
          const result: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (isNotification(name, result)) await hitAfterCommit(points, "notify");
          observe(name, args, result);
          return result;
        };
      },
    });
    return wraps(wrapper, tx);
  };
  const outer: Store = new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      const name = String(prop);
      const method = value as (...a: unknown[]) => Promise<unknown>;
      if (name === "transaction") {
        return async (fn: (tx: Store) => Promise<unknown>) => {
          // Callers use `tx` inside a transaction (the Store port); a call on this store from
          // inside one runs outside it, uninstrumented, rather than wait on its own commit point.
          if (currentTransaction.getStore()) return target.transaction(fn);
          const afterCommit: PointKind[] = [];
          const result = await points.write(() =>
            currentTransaction.run(afterCommit, () =>
              target.transaction(async (tx) => {
                afterCommit.length = 0;
                const value = await fn(wrapTransaction(tx));
                await points.hit("before-commit");
                return value;
              }),
            ),
          );
          await points.hit("commit");
          for (const kind of afterCommit) await points.hit(kind);
          return result;
        };
      }
      if (isRead(name)) return method.bind(target);
      return async (...args: unknown[]) => {
        if (currentTransaction.getStore()) return method.apply(target, args);
        const result = await points.write(() => method.apply(target, args));
        observe(name, args, result);
        await points.hit("commit");
        if (isNotification(name, result)) await points.hit("notify");
        return result;
      };
    },
  });
  return wraps(outer, inner);
}

/** A write that created at least one notification (one at a time, or a page's batch). */
function isNotification(name: string, result: unknown): boolean {
  if (name === "createNotification") return true;
  return name === "createNotifications" && Array.isArray(result) && result.length > 0;
}

function instrumentSink(inner: DocumentSink, points: Points): DocumentSink {
  return {
    async save(document) {
      const saved = await inner.save(document);
      await points.hit("attachment-save");
      return saved;
    },
  };
}

function instrumentProvider(inner: MailProvider, points: Points, refuse: ReadonlySet<string>): MailProvider {
  return {
    kind: inner.kind,
    async *changes(cursor, options) {
      for await (const page of inner.changes(cursor, options)) {
        await points.hit("page");
        yield page;
      }
    },
    search: (query, options) => inner.search(query, options),
    async *fetch(providerIds, options) {
      for await (const result of inner.fetch(providerIds, options)) {
        await points.hit("fetch");
        const envelope = isUnreadable(result) ? undefined : result.envelope;
        const tag = envelope && (tagOf(envelope.subject) ?? tagOf(envelope.messageId ?? ""));
        if (envelope && tag && refuse.has(tag)) {
          yield {
            providerId: envelope.providerId,
            unreadable: { reason: "server_refused", detail: "refused by the fault suite" },
          } satisfies UnreadableMessage;
          continue;
        }
        yield result;
      }
    },
    watch: (onChange, options) => inner.watch(onChange, options),
    push: inner.push,
    close: () => inner.close(),
  };
}

/** A push registration request: Gmail `users.watch`, a Graph subscription created or renewed. */
function isPushRequest(method: string, url: string): boolean {
  const path = new URL(url).pathname;
  if (method === "POST" && /\/watch$/.test(path)) return true;
  return (method === "POST" || method === "PATCH") && /\/subscriptions(\/[^/]+)?$/.test(path);
}

/** `fetch` with the `push-call` and `push-accepted` points around push registration requests. */
function instrumentFetch(points: Points): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    if (!isPushRequest(request.method, request.url)) return fetch(request);
    await points.hit("push-call");
    const response = await fetch(request);
    if (response.ok) await points.hit("push-accepted");
    return response;
  };
}

/** The real Gmail or Graph provider, on the parent's fake through its loopback bridge. */
function httpProvider(
  target: HttpTarget,
  mailboxId: string,
  points: Points,
  clock: { now: () => Date },
): MailProvider {
  const mailbox = target.mailboxes[mailboxId];
  if (!mailbox) throw new Error(`no ${target.kind} login for mailbox ${mailboxId}`);
  const common = { fetch: instrumentFetch(points), clock, allowInsecure: true, logger: stderrLogger };
  if (target.kind === "gmail")
    return createGmailProvider({
      ...common,
      credentials: { ...target.oauthClient!, refreshToken: mailbox.token },
      emailAddress: mailbox.address,
      baseUrl: target.url,
      tokenUrl: `${target.url}/token`,
      push: { topicName: "projects/faults/topics/gmail" },
      pageSize: 20,
    });
  return createGraphProvider({
    ...common,
    mailbox: mailbox.address,
    getAccessToken: async () => mailbox.token,
    baseUrl: `${target.url}/v1.0`,
    random: () => 0.5,
    push: {
      notificationUrl: "https://hooks.faults.example/graph",
      lifecycleNotificationUrl: "https://hooks.faults.example/graph/lifecycle",
    },
    pageSize: 20,
  });
}

/**
 * A host that sends each invitation email once (see `WorkerConfig.invitations`): the event's type
 * and token identify it across repeated deliveries.
 */
function invitationHost(dir: string, points: Points): InvitationHandler {
  return async (event) => {
    await points.hit("invitation-start");
    const name = `${event.type}-${createHash("sha256").update(event.token).digest("hex").slice(0, 32)}`;
    appendFileSync(join(dir, "deliveries.log"), `${name}\n`);
    try {
      writeFileSync(join(dir, name), JSON.stringify({ linkId: event.linkId }), { flag: "wx" });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    await points.hit("invitation-sent");
  };
}

const stderrLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message, fields) =>
    process.stderr.write(`${JSON.stringify({ level: "warn", message, ...fields })}\n`),
  error: (message, fields) =>
    process.stderr.write(`${JSON.stringify({ level: "error", message, ...fields })}\n`),
};

async function main(): Promise<void> {
  const raw = process.env[workerConfigVariable];
  if (!raw) throw new Error(`${workerConfigVariable} is not set`);
  const config = JSON.parse(raw) as WorkerConfig;
  const points = new Points(config);
  const labels = new Map(config.mailboxes.map((m) => [m.id, m.label]));
  const labelOf = (mailboxId: string) => labels.get(mailboxId) ?? mailboxId;
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: config.concurrency + 6 });
  pool.on("error", () => undefined);
  const rawStore = createPostgresStore({ pool });
  const skew = config.clockSkewMs ?? 0;
  const now = () => new Date(Date.now() + skew);
  const passes = new PassWatch(rawStore, config.firmId, now, (pass) =>
    report({
      t: "pass",
      mailbox: labelOf(pass.mailboxId),
      outcome: pass.outcome,
      code: pass.code,
      ms: pass.ms,
    }),
  );
  const store = instrumentStore(rawStore, points, {
    onState: (mailboxId, status) => report({ t: "state", mailbox: labelOf(mailboxId), status }),
    onLease: (mailboxId) => passes.noteLease(mailboxId),
  });
  const jobsRun: Record<string, number> = {};
  const queue = watchQueue(
    createPostgresJobQueue({
      pool,
      store: rawStore,
      // A failed job is retried soon: the suite waits for the queue to be idle.
      retryDelayMs: (attempt) => Math.min(2_000, 100 * 2 ** attempt),
      lockTimeoutMs: config.lockTimeoutMs,
      logger: stderrLogger,
    }),
    {
      // A virtual clock ahead of the database's by the skew: run-at times go in as real time.
      runAt: config.http ? (at) => new Date(at.getTime() - skew) : undefined,
      onEnqueued: async (jobs) => {
        await hitAfterCommit(points, "enqueued");
        if (jobs.some((job) => job.name === saveAttachmentsJob))
          await hitAfterCommit(points, "save-enqueued");
      },
      handler: (name, inner) => async (job, signal) => {
        await points.hit("job-start");
        if (name === saveAttachmentsJob) await points.hit("save-start");
        if (name === workerJobs.backfill || name === workerJobs.backfillMailbox)
          await points.hit("backfill-start");
        await passes.run(job, () => inner(job, signal));
        if (name === workerJobs.pushSubscribe || name === workerJobs.pushRenew) await points.hit("push-done");
        jobsRun[name] = (jobsRun[name] ?? 0) + 1;
        await points.hit("job-done");
      },
    },
  );
  const byId = new Map(config.mailboxes.map((m) => [m.id, m]));
  const refuse = new Set(config.refuseTags ?? []);
  const random = seededRandom(config.seed);
  const worker = createWorker({
    store,
    queue,
    blobs: createFolderBlobStore({ dir: config.blobsDir }),
    documents: instrumentSink(FolderDocumentSink.open(config.docsDir), points),
    clock: { now },
    logger: stderrLogger,
    holder: `fault-worker-${process.pid}`,
    concurrency: config.concurrency,
    pollIntervalMs,
    queuePollIntervalMs: 100,
    leaseTtlMs: config.leaseTtlMs,
    maxConsecutiveFailures: config.maxConsecutiveFailures,
    random: () => random() * config.jitterScale,
    invitations: config.invitations ? invitationHost(config.invitations.dir, points) : undefined,
    providerFor: (mailbox) => {
      if (config.http)
        return instrumentProvider(httpProvider(config.http, mailbox.id, points, { now }), points, refuse);
      const target = byId.get(mailbox.id);
      if (!target) throw new Error(`no IMAP login for mailbox ${mailbox.id}`);
      return instrumentProvider(
        createImapProvider({
          host: target.host,
          port: target.port,
          security: "none",
          user: target.user,
          password: target.password,
          hostPolicy: loopbackHostPolicy,
          pageSize: 20,
          ...config.imap,
        }),
        points,
        refuse,
      );
    },
    ...config.engine,
  });

  if (config.toggle) {
    const cm = createClientMail({ store, queue, clock: { now } });
    await cm.updateLink(config.firmId, config.toggle.linkId, { emailSync: config.toggle.emailSync });
  }
  if (config.invitations && config.invitations.toggles.length > 0) {
    const cm = createClientMail({ store, queue, clock: { now } });
    for (const toggle of config.invitations.toggles)
      await cm.updateLink(config.firmId, toggle.linkId, { login: toggle.login });
  }
  await worker.start();
  let stopped = false;
  for (;;) {
    await sleep(100);
    if (config.mode === "once") {
      if (config.mailboxes.every((m) => passes.reported.has(m.id))) break;
      continue;
    }
    const mailboxes = await rawStore.listMailboxes(config.firmId);
    if (mailboxes.some((m) => m.state.status === "stopped")) {
      stopped = true;
      break;
    }
    if (!mailboxes.every((m) => passes.synced.has(m.id))) continue;
    if (isIdle(await queueLoad(pool))) break;
  }
  // Closing the providers is an operation with a deadline too (R3): the parent sees a close that
  // never returns as a worker that did not exit.
  report({ t: "closing" });
  await worker.stop({ timeoutMs: config.mode === "once" ? 500 : 5_000 });
  await pool.end();
  report({ t: "done", counts: points.counts, jobs: jobsRun });
  process.exit(stopped ? 3 : 0);
}

main().catch((error: unknown) => {
  report({
    t: "fatal",
    code: codeOf(error),
    message: error instanceof Error ? error.message : String(error),
  });
  process.exit(2);
});
