/**
 * Job queue benchmark (R8, issue 10): pg-boss 10.4 and graphile-worker 0.17.3, measured in the
 * same run on the same embedded PostgreSQL (fsync on), each driven as a clientmail adapter drives
 * it (see `bench/queue-engines.ts`):
 *   - transactional enqueue: jobs added on the store transaction's own connection, 50 per commit;
 *   - throughput: drain N small jobs (no-op handler) with concurrency C in one and in two worker
 *     processes, plain and keyed (a distinct key per job: pg-boss `stately`, graphile named queues);
 *   - latency from commit to handler start at low load (one job at a time), p50/p99;
 * and the clientmail adapter (`createPostgresJobQueue`) on the winning engine, for its overhead.
 *
 *   pnpm bench:queue                                  # 20,000 jobs, concurrency 16
 *   BENCH_JOBS=2000 BENCH_CONCURRENCY=8 pnpm bench:queue
 */
import { fork, type ChildProcess } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { JobQueue } from "@clientmail/core/ports";
import { createPostgresJobQueue, installJobQueue, migrate, PostgresStore } from "@clientmail/postgres";
import { start as startPostgres } from "../test/servers/postgres.js";
import {
  engineByName,
  type BenchJob,
  type Engine,
  type EngineName,
  type WorkerSettings,
} from "./queue-engines.js";

const jobCount = Number(process.env.BENCH_JOBS ?? 20_000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
/** pg-boss's own `work()` loop takes ≥ 0.5 s per batch: measure it on fewer jobs. */
const nativeJobCount = Number(process.env.BENCH_NATIVE_JOBS ?? Math.min(jobCount, 1_000));
/** graphile's named queues slow down with their number: keyed runs use fewer jobs. */
const keyedJobCount = Number(process.env.BENCH_KEYED_JOBS ?? Math.min(jobCount, 2_000));
const latencySamples = Number(process.env.BENCH_LATENCY_SAMPLES ?? 200);
const enqueueBatch = 50;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

// -- worker processes ----------------------------------------------------------------------------

interface ChildSettings {
  engine: EngineName | "clientmail";
  url: string;
  concurrency: number;
  mode: WorkerSettings["mode"];
  keyed: boolean;
}

/** A forked worker process: starts its workers on "go", stops them on "stop". */
async function childMain(): Promise<void> {
  const settings = JSON.parse(process.env.QUEUE_BENCH_CHILD!) as ChildSettings;
  const pool = new pg.Pool({ connectionString: settings.url, max: settings.concurrency + 4 });
  pool.on("error", () => undefined);
  let stop: () => Promise<void> = async () => undefined;
  if (settings.engine === "clientmail") {
    const store = new PostgresStore({ pool });
    const queue = createPostgresJobQueue({ pool, store });
    const worker = await queue.work({ bench: async () => undefined }, { concurrency: settings.concurrency });
    stop = async () => {
      await worker.stop();
      await queue.close();
    };
  }
  process.on("message", (message: string) => {
    void (async () => {
      if (message === "go" && settings.engine !== "clientmail") {
        const engine = engineByName(settings.engine, pool);
        const workers = await engine.work({ ...settings, onJob: () => undefined });
        stop = () => workers.stop();
      } else if (message === "stop") {
        await stop();
        await pool.end();
        process.send!("stopped");
        process.exit(0);
      }
    })();
  });
  process.send!("ready");
}

function forkWorker(settings: ChildSettings): Promise<ChildProcess> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ["--import", "tsx", "--conditions=@clientmail/source"],
    env: { ...process.env, QUEUE_BENCH_CHILD: JSON.stringify(settings) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("message", () => resolve(child));
  });
}

async function stopWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once("exit", () => resolve());
          child.send("stop");
        }),
    ),
  );
}

const keyedRow = `drain keyed (a key per job, ${keyedJobCount.toLocaleString("en-US")} jobs), 1 process`;

// -- measurements --------------------------------------------------------------------------------

interface Drain {
  jobsPerSecond: number;
  seconds: number;
}

/** Enqueues `count` jobs, 50 per store transaction; returns jobs per second. */
async function enqueueAll(
  store: PostgresStore,
  add: (tx: PostgresStore, jobs: BenchJob[]) => Promise<void>,
  count: number,
  keyed: boolean,
): Promise<number> {
  const started = performance.now();
  for (let first = 0; first < count; first += enqueueBatch) {
    const jobs = Array.from({ length: Math.min(enqueueBatch, count - first) }, (_, i) => ({
      n: first + i,
      key: keyed ? `key-${first + i}` : undefined,
    }));
    await store.transaction((tx) => add(tx as PostgresStore, jobs));
  }
  return count / ((performance.now() - started) / 1_000);
}

async function drain(
  url: string,
  remaining: () => Promise<number>,
  settings: Omit<ChildSettings, "url">,
  processes: number,
  count = jobCount,
): Promise<Drain> {
  const children = await Promise.all(
    Array.from({ length: processes }, () => forkWorker({ ...settings, url })),
  );
  const started = performance.now();
  for (const child of children) child.send("go");
  while ((await remaining()) > 0) await sleep(20);
  const seconds = (performance.now() - started) / 1_000;
  await stopWorkers(children);
  const total = await remaining();
  if (total !== 0) throw new Error(`${total} jobs left`);
  return { jobsPerSecond: count / seconds, seconds };
}

/** Commit-to-handler-start latency, one job at a time, workers in this process. */
async function latency(
  store: PostgresStore,
  add: (tx: PostgresStore, job: BenchJob) => Promise<void>,
  startWorkers: (onJob: (n: number) => void) => Promise<() => Promise<void>>,
): Promise<{ p50: number; p99: number }> {
  const startedAt = new Map<number, number>();
  const stop = await startWorkers((n) => startedAt.set(n, performance.now()));
  await sleep(500);
  const samples: number[] = [];
  for (let n = 0; n < latencySamples; n++) {
    await store.transaction((tx) => add(tx as PostgresStore, { n }));
    const committed = performance.now();
    const deadline = committed + 10_000;
    while (!startedAt.has(n) && performance.now() < deadline) await sleep(1);
    // The handler may start before the commit's acknowledgement reaches this client.
    samples.push(Math.max(0, (startedAt.get(n) ?? deadline) - committed));
    await sleep(10 + Math.random() * 20);
  }
  await stop();
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function measureEngine(
  engine: Engine,
  store: PostgresStore,
  url: string,
): Promise<Record<string, string>> {
  const row: Record<string, string> = {};
  const fmt = (d: Drain) => `${Math.round(d.jobsPerSecond).toLocaleString("en-US")} jobs/s`;
  const add = (tx: PostgresStore, jobs: readonly BenchJob[]) => engine.enqueue(tx.executor(), jobs);
  const mode = "fetch" as const;
  await engine.clear();

  const enqueueRate = await enqueueAll(store, add, jobCount, false);
  row["enqueue (50 per store transaction)"] = `${Math.round(enqueueRate).toLocaleString("en-US")} jobs/s`;
  row["drain, 1 process"] = fmt(
    await drain(url, () => engine.remaining(), { engine: engine.name, concurrency, mode, keyed: false }, 1),
  );
  await enqueueAll(store, add, jobCount, false);
  row["drain, 2 processes"] = fmt(
    await drain(url, () => engine.remaining(), { engine: engine.name, concurrency, mode, keyed: false }, 2),
  );
  await enqueueAll(store, add, keyedJobCount, true);
  row[keyedRow] = fmt(
    await drain(
      url,
      () => engine.remaining(),
      { engine: engine.name, concurrency, mode, keyed: true },
      1,
      keyedJobCount,
    ),
  );
  const lat = await latency(
    store,
    (tx, job) => add(tx, [job]),
    async (onJob) => {
      const workers = await engine.work({ concurrency, mode, keyed: false, onJob });
      return () => workers.stop();
    },
  );
  row["latency commit → start p50 / p99"] = `${lat.p50.toFixed(1)} / ${lat.p99.toFixed(1)} ms`;

  if (engine.name === "pg-boss") {
    // The engine's own work() loop, on fewer jobs: it waits out its polling interval after each batch.
    await engine.clear();
    const saved = jobCount;
    await enqueueAll(store, add, nativeJobCount, false);
    const children = await forkWorker({
      engine: engine.name,
      url,
      concurrency,
      mode: "native",
      keyed: false,
    });
    const started = performance.now();
    children.send("go");
    while ((await engine.remaining()) > 0) await sleep(20);
    const seconds = (performance.now() - started) / 1_000;
    await stopWorkers([children]);
    row["drain with its own work() loop, 1 process"] =
      `${Math.round(nativeJobCount / seconds).toLocaleString("en-US")} jobs/s (${nativeJobCount} jobs)`;
    const nativeLat = await latency(
      store,
      (tx, job) => add(tx, [job]),
      async (onJob) => {
        const workers = await engine.work({ concurrency, mode: "native", keyed: false, onJob });
        return () => workers.stop();
      },
    );
    row["latency with its own work() loop p50 / p99"] =
      `${nativeLat.p50.toFixed(1)} / ${nativeLat.p99.toFixed(1)} ms`;
    void saved;
  }
  return row;
}

async function measureAdapter(
  store: PostgresStore,
  pool: pg.Pool,
  url: string,
): Promise<Record<string, string>> {
  const row: Record<string, string> = {};
  await installJobQueue(pool);
  const queue: JobQueue = createPostgresJobQueue({ pool, store });
  await pool.query("DELETE FROM graphile_worker._private_jobs");
  const remaining = async () => {
    const stats = await queue.stats();
    return stats.waiting + stats.running;
  };
  const add = async (tx: PostgresStore, jobs: readonly BenchJob[]) =>
    queue.enqueue(
      tx,
      jobs.map((job) => ({
        name: "bench",
        payload: { n: job.n },
        key: job.key,
        group: `firm-${job.n % 10}`,
      })),
    );
  const enqueueRate = await enqueueAll(store, add, jobCount, false);
  row["enqueue (50 per store transaction)"] = `${Math.round(enqueueRate).toLocaleString("en-US")} jobs/s`;
  const settings = { engine: "clientmail" as const, concurrency, mode: "fetch" as const, keyed: false };
  const fmt = (d: Drain) => `${Math.round(d.jobsPerSecond).toLocaleString("en-US")} jobs/s`;
  row["drain, 1 process"] = fmt(await drain(url, remaining, settings, 1));
  await enqueueAll(store, add, jobCount, false);
  row["drain, 2 processes"] = fmt(await drain(url, remaining, settings, 2));
  await enqueueAll(store, add, keyedJobCount, true);
  row[keyedRow] = fmt(await drain(url, remaining, settings, 1, keyedJobCount));
  const lat = await latency(
    store,
    (tx, job) => add(tx, [job]),
    async (onJob) => {
      const worker = await queue.work(
        { bench: async (job) => onJob(job.payload.n as number) },
        { concurrency },
      );
      return () => worker.stop();
    },
  );
  row["latency commit → start p50 / p99"] = `${lat.p50.toFixed(1)} / ${lat.p99.toFixed(1)} ms`;
  await queue.close();
  return row;
}

async function main(): Promise<void> {
  const postgres = await startPostgres({ durable: true });
  const url = postgres.env.CLIENTMAIL_TEST_DATABASE_URL;
  const pool = new pg.Pool({ connectionString: url, max: 20 });
  pool.on("error", () => undefined);
  try {
    await migrate(pool);
    const store = new PostgresStore({ pool });
    console.log(
      `queue benchmark: ${jobCount.toLocaleString("en-US")} jobs, concurrency ${concurrency} per process, ` +
        `PostgreSQL with fsync on, ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(1)} at the start`,
    );
    const results: Record<string, Record<string, string>> = {};
    // BENCH_ONLY=clientmail re-measures the adapter alone (quick check while changing it).
    const only = process.env.BENCH_ONLY;
    for (const name of only === "clientmail" ? [] : (["pg-boss", "graphile-worker"] as const)) {
      const engine = engineByName(name, pool);
      await engine.install();
      results[name] = await measureEngine(engine, store, url);
      console.log(`  ${name} done`);
    }
    results["clientmail on graphile-worker"] = await measureAdapter(store, pool, url);
    console.log(
      `load average ${loadavg()[0]!.toFixed(1)} at the end (other work on the machine skews the figures)`,
    );
    const columns = Object.keys(results);
    const rows = [...new Set(columns.flatMap((c) => Object.keys(results[c]!)))];
    const width = Math.max(...rows.map((r) => r.length)) + 2;
    console.log(`\n${"".padEnd(width)}${columns.map((c) => c.padEnd(32)).join("")}`);
    for (const r of rows)
      console.log(`${r.padEnd(width)}${columns.map((c) => (results[c]![r] ?? "—").padEnd(32)).join("")}`);
  } finally {
    await pool.end();
    await postgres.stop();
  }
}

if (process.env.QUEUE_BENCH_CHILD) {
  await childMain();
} else {
  await main();
}
