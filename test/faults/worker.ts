/**
 * The fault suite's worker: a child process that syncs the firm's mailboxes with the real engine
 * (`SyncService`), the real IMAP provider and the Postgres store, as a production worker would,
 * and that can kill itself with SIGKILL — or pause — at a point the parent chose (see
 * {@link PointKind}). The points are found by wrapping the ports the engine is given (store,
 * document sink, provider); the engine itself is untouched.
 *
 * Configured by one JSON value in `CLIENTMAIL_FAULT_WORKER` ({@link WorkerConfig}); reports on
 * stdout as JSON lines ({@link WorkerLine}), engine warnings on stderr. The suite runs it as a
 * bundle (see `worker-bundle.ts`); `tsx --conditions=@clientmail/source test/faults/worker.ts`
 * runs it from source.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { writeSync } from "node:fs";
import { createInterface } from "node:readline";
import pg from "pg";
import { ClientMailError, isUnreadable, SyncService, type UnreadableMessage } from "@clientmail/core";
import type { DocumentSink, Logger, MailProvider, Store } from "@clientmail/core/ports";
import { createImapProvider } from "@clientmail/imap";
import { createPostgresStore } from "@clientmail/postgres";
import { FolderDocumentSink } from "@clientmail/testkit";
import { tagOf } from "./corpus.js";
import {
  pointKinds,
  workerConfigVariable,
  type PointKind,
  type WorkerConfig,
  type WorkerLine,
} from "./worker-protocol.js";

function report(line: WorkerLine): void {
  // Synchronous, so that the line is out before a SIGKILL that follows it.
  writeSync(1, `${JSON.stringify(line)}\n`);
}

function codeOf(error: unknown): string {
  if (ClientMailError.isInstance(error)) return error.code;
  return error instanceof Error ? error.name : "unknown";
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

/**
 * The store as the engine sees it: every write outside a transaction, and every transaction, is
 * a `commit` point; a transaction's work done is a `before-commit` point; notifications are
 * `notify` points once committed. State changes are reported.
 */
function instrumentStore(
  inner: Store,
  points: Points,
  onState: (mailboxId: string, status: string) => void,
): Store {
  const inTransaction = new AsyncLocalStorage<boolean>();
  const wrapTransaction = (tx: Store, afterCommit: PointKind[]): Store =>
    new Proxy(tx, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        const name = String(prop);
        return async (...args: unknown[]) => {
          const result: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (name === "createNotification") afterCommit.push("notify");
          if (name === "setMailboxState") onState(args[1] as string, (args[2] as { status: string }).status);
          return result;
        };
      },
    });
  return new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      const name = String(prop);
      const method = value as (...a: unknown[]) => Promise<unknown>;
      if (name === "transaction") {
        return async (fn: (tx: Store) => Promise<unknown>) => {
          if (inTransaction.getStore()) return target.transaction(fn);
          const afterCommit: PointKind[] = [];
          const result = await points.write(() =>
            inTransaction.run(true, () =>
              target.transaction(async (tx) => {
                afterCommit.length = 0;
                const value = await fn(wrapTransaction(tx, afterCommit));
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
        if (inTransaction.getStore()) return method.apply(target, args);
        const result = await points.write(() => method.apply(target, args));
        if (name === "setMailboxState") onState(args[1] as string, (args[2] as { status: string }).status);
        await points.hit("commit");
        if (name === "createNotification") await points.hit("notify");
        return result;
      };
    },
  });
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
    close: () => inner.close(),
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
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4 });
  pool.on("error", () => undefined);
  const rawStore = createPostgresStore({ pool });
  const store = instrumentStore(rawStore, points, (mailboxId, status) =>
    report({ t: "state", mailbox: labels.get(mailboxId) ?? mailboxId, status }),
  );
  const byId = new Map(config.mailboxes.map((m) => [m.id, m]));
  const refuse = new Set(config.refuseTags ?? []);
  const skew = config.clockSkewMs ?? 0;
  const now = () => new Date(Date.now() + skew);
  const service = new SyncService({
    store,
    clock: { now },
    logger: stderrLogger,
    documents: instrumentSink(FolderDocumentSink.open(config.docsDir), points),
    holder: `fault-worker-${process.pid}`,
    leaseTtlMs: config.leaseTtlMs,
    maxConsecutiveFailures: config.maxConsecutiveFailures,
    random: seededRandom(config.seed),
    sleep: (ms, signal) => sleep(Math.min(ms * config.sleepScale, config.sleepCapMs), signal),
    providerFor: (mailbox) => {
      const target = byId.get(mailbox.id);
      if (!target) throw new Error(`no IMAP login for mailbox ${mailbox.id}`);
      return instrumentProvider(
        createImapProvider({
          host: target.host,
          port: target.port,
          security: "none",
          user: target.user,
          password: target.password,
          pageSize: 20,
          ...config.imap,
        }),
        points,
        refuse,
      );
    },
    ...config.engine,
  });

  let stopped = false;
  for (const mailbox of config.mailboxes) {
    if (config.mode === "once") {
      const started = Date.now();
      try {
        const result = await service.syncOnce(config.firmId, mailbox.id);
        report({
          t: "pass",
          mailbox: mailbox.label,
          outcome: result.ran ? "ok" : "not-ran",
          ms: Date.now() - started,
        });
      } catch (error) {
        report({
          t: "pass",
          mailbox: mailbox.label,
          outcome: "error",
          code: codeOf(error),
          ms: Date.now() - started,
        });
      }
      continue;
    }
    for (;;) {
      const started = Date.now();
      const startedOnEngineClock = now().getTime();
      let outcome: "ok" | "stopped";
      try {
        outcome = await service.syncMailbox(config.firmId, mailbox.id);
      } catch (error) {
        report({
          t: "pass",
          mailbox: mailbox.label,
          outcome: "error",
          code: codeOf(error),
          ms: Date.now() - started,
        });
        await sleep(Math.min(500, config.sleepCapMs));
        continue;
      }
      if (outcome === "stopped") {
        report({ t: "pass", mailbox: mailbox.label, outcome: "stopped", ms: Date.now() - started });
        stopped = true;
        break;
      }
      // `syncMailbox` also returns "ok" when another worker's lease (e.g. a killed one's) kept this
      // pass from running: only a pass that marked the mailbox synced counts.
      const state = await rawStore.getMailbox(config.firmId, mailbox.id);
      if (state?.lastSyncedAt && state.lastSyncedAt.getTime() >= startedOnEngineClock) {
        report({ t: "pass", mailbox: mailbox.label, outcome: "ok", ms: Date.now() - started });
        break;
      }
      report({ t: "pass", mailbox: mailbox.label, outcome: "not-ran", ms: Date.now() - started });
      const wait =
        state?.state.status === "throttled" ? Math.max(50, state.state.until.getTime() - Date.now()) : 250;
      await sleep(Math.min(wait, config.sleepCapMs));
    }
    if (stopped) break;
  }
  // Closing the providers is an operation with a deadline too (R3): the parent sees a close that
  // never returns as a worker that did not exit.
  report({ t: "closing" });
  await service.closeAll();
  await pool.end();
  report({ t: "done", counts: points.counts });
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
