/**
 * The two job engines measured by `bench/queue.bench.ts`, each driven the way a clientmail adapter
 * would drive it: jobs are added with the engine's own insert statement on the connection of the
 * store's current transaction (`PostgresStore.executor()`), and workers run a no-op handler.
 *
 * Kept apart from the benchmark's timing code so that the worker processes it forks load only this.
 */
import PgBoss from "pg-boss";
import { run, runMigrations, type Runner } from "graphile-worker";
import type pg from "pg";
import type { PostgresExecutor } from "@clientmail/postgres";

export type EngineName = "pg-boss" | "graphile-worker";

export interface BenchJob {
  n: number;
  /** Distinct per job when the run measures keyed jobs (serialised per key). */
  key?: string | undefined;
}

/** A running set of workers in one process. */
export interface BenchWorkers {
  stop(): Promise<void>;
}

export interface WorkerSettings {
  concurrency: number;
  /** pg-boss only: `native` = the engine's `work()` loop; `fetch` = our loop around `fetch()`. */
  mode: "native" | "fetch";
  /** Work the keyed queue (pg-boss `stately` queue; graphile named queues) instead of the plain one. */
  keyed: boolean;
  onJob: (n: number) => void;
}

export interface Engine {
  name: EngineName;
  /** Installs the engine's schema (idempotent) and its queues. */
  install(): Promise<void>;
  /** Adds jobs on the given executor (the store's transaction, when it is in one). */
  enqueue(executor: PostgresExecutor, jobs: readonly BenchJob[]): Promise<void>;
  work(settings: WorkerSettings): Promise<BenchWorkers>;
  /** Jobs not yet completed. */
  remaining(): Promise<number>;
  /** Removes every job, between runs. */
  clear(): Promise<void>;
}

const graphileLogger = {
  scope: () => graphileLogger,
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function pgBossEngine(pool: pg.Pool): Engine {
  const db = { executeSql: (text: string, values: unknown[] = []) => pool.query(text, values) };
  const boss = new PgBoss({
    db,
    schema: "pgboss",
    supervise: false,
    schedule: false,
    migrate: true,
  });
  boss.on("error", () => undefined);
  let started = false;
  const start = async () => {
    if (!started) await boss.start();
    started = true;
  };
  return {
    name: "pg-boss",
    install: async () => {
      await start();
      if (!(await boss.getQueue("bench")))
        await boss.createQueue("bench", { name: "bench", policy: "standard" });
      if (!(await boss.getQueue("bench_keyed")))
        await boss.createQueue("bench_keyed", { name: "bench_keyed", policy: "stately" });
    },
    enqueue: async (executor, jobs) => {
      const keyed = jobs.some((job) => job.key !== undefined);
      await boss.insert(
        jobs.map((job) => ({
          name: keyed ? "bench_keyed" : "bench",
          data: { n: job.n },
          singletonKey: job.key,
        })),
        { db: { executeSql: (text, values) => executor.query(text, values) } },
      );
    },
    work: async ({ concurrency, mode, keyed, onJob }) => {
      await start();
      const names = [keyed ? "bench_keyed" : "bench"];
      if (mode === "native") {
        // pg-boss 10 runs a batch per poll and then waits out the rest of the polling interval
        // (0.5 s at least): `batchSize` is its concurrency.
        const ids = await Promise.all(
          names.map((name) =>
            boss.work<{ n: number }>(
              name,
              { batchSize: concurrency, pollingIntervalSeconds: 0.5 },
              async (jobs) => {
                for (const job of jobs) onJob(job.data.n);
              },
            ),
          ),
        );
        return {
          stop: async () => {
            for (const id of ids) await boss.offWork({ id });
          },
        };
      }
      // Our own loop: fetch as soon as a slot is free, complete each job on its own.
      let stopping = false;
      const loops = names.map(async (name) => {
        let running = 0;
        const inflight = new Set<Promise<void>>();
        while (!stopping) {
          const free = concurrency - running;
          if (free <= 0) {
            await Promise.race(inflight);
            continue;
          }
          const jobs = await boss.fetch<{ n: number }>(name, { batchSize: free });
          if (jobs.length === 0) {
            await sleep(50);
            continue;
          }
          for (const job of jobs) {
            running += 1;
            const done = (async () => {
              onJob(job.data.n);
              await boss.complete(name, job.id);
            })().finally(() => {
              running -= 1;
              inflight.delete(done);
            });
            inflight.add(done);
          }
        }
        await Promise.all(inflight);
      });
      return {
        stop: async () => {
          stopping = true;
          await Promise.all(loops);
        },
      };
    },
    remaining: async () =>
      Number((await pool.query("SELECT count(*) AS n FROM pgboss.job WHERE state < 'completed'")).rows[0].n),
    clear: async () => {
      await pool.query("DELETE FROM pgboss.job");
      await pool.query("DELETE FROM pgboss.archive");
    },
  };
}

export function graphileEngine(pool: pg.Pool): Engine {
  return {
    name: "graphile-worker",
    install: async () => {
      await runMigrations({ pgPool: pool, logger: graphileLogger as never });
    },
    enqueue: async (executor, jobs) => {
      // graphile_worker.add_jobs is the engine's public SQL API; it notifies waiting workers at commit.
      await executor.query(
        `SELECT count(*) FROM graphile_worker.add_jobs(
           ARRAY(SELECT ROW('bench', json_build_object('n', n), k, NULL, NULL, k, NULL, NULL)::graphile_worker.job_spec
                 FROM unnest($1::int[], $2::text[]) AS t(n, k)))`,
        [jobs.map((job) => job.n), jobs.map((job) => job.key ?? null)],
      );
    },
    work: async ({ concurrency, onJob }) => {
      const runner: Runner = await run({
        pgPool: pool,
        concurrency,
        noHandleSignals: true,
        pollInterval: 2_000,
        logger: graphileLogger as never,
        taskList: {
          bench: async (payload) => {
            onJob((payload as { n: number }).n);
          },
        },
      });
      return { stop: () => runner.stop() };
    },
    remaining: async () =>
      Number((await pool.query("SELECT count(*) AS n FROM graphile_worker._private_jobs")).rows[0].n),
    clear: async () => {
      await pool.query("DELETE FROM graphile_worker._private_jobs");
      await pool.query("DELETE FROM graphile_worker._private_job_queues");
    },
  };
}

export function engineByName(name: EngineName, pool: pg.Pool): Engine {
  return name === "pg-boss" ? pgBossEngine(pool) : graphileEngine(pool);
}
