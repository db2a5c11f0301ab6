import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, describe, expect, it, vi } from "vitest";
import { ClientMailError } from "@clientmail/core";
import type { Job } from "@clientmail/core/ports";
import { jobQueueConformance } from "@clientmail/testkit/vitest";
import { createPostgresJobQueue, createPostgresStore, installJobQueue, migrate } from "../src/index.js";

const url = process.env.CLIENTMAIL_TEST_DATABASE_URL;
if (!url) {
  // Never skip: a run without a server must fail loudly.
  throw new Error(
    "CLIENTMAIL_TEST_DATABASE_URL is not set. Run the tests with `pnpm test` (test/global-setup.ts starts PostgreSQL) or point it at a database.",
  );
}

const pool = new pg.Pool({ connectionString: url, max: 20 });
// graphile-worker warns about a pool without one: an idle connection that dies must not crash the run.
pool.on("error", () => undefined);
const installed = migrate(pool).then(() => installJobQueue(pool));
afterAll(async () => {
  await pool.end();
});

jobQueueConformance({
  name: "postgres (graphile-worker)",
  makeQueue: async () => {
    await installed;
    // A fresh, empty queue per test: the suite counts what is in it.
    await pool.query("DELETE FROM graphile_worker._private_jobs");
    await pool.query("DELETE FROM clientmail_job_keys");
    const store = createPostgresStore({ pool });
    return { store, queue: createPostgresJobQueue({ pool, store, retryDelayMs: () => 50 }) };
  },
});

describe("postgres job queue specifics", () => {
  it("R8: a worker process killed with SIGKILL mid-job does not lose it: it runs again once its lock times out", async () => {
    await installed;
    await pool.query("DELETE FROM graphile_worker._private_jobs");
    const store = createPostgresStore({ pool });
    const queue = createPostgresJobQueue({ pool, store, lockTimeoutMs: 600 });
    await store.transaction(async (tx) => {
      await queue.enqueue(tx, [{ name: "hang", payload: { file: "invoice.pdf" } }]);
    });
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=@clientmail/source",
        fileURLToPath(new URL("./fixtures/job-queue-worker.ts", import.meta.url)),
      ],
      { env: { ...process.env, LOCK_TIMEOUT_MS: "600" }, stdio: ["ignore", "pipe", "inherit"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      await until(() => output.includes("started"), "the child to start the job");
    } finally {
      child.kill("SIGKILL");
    }
    await exited;
    expect((await queue.stats()).running).toBe(1);

    const reruns: Job[] = [];
    const worker = await queue.work({ hang: async (job) => void reruns.push(job) }, { pollIntervalMs: 50 });
    try {
      await until(() => reruns.length === 1, "the job to run again");
      expect(reruns[0]).toMatchObject({ payload: { file: "invoice.pdf" }, attempt: 2 });
      await until(async () => (await queue.stats()).running === 0, "the job to complete");
      expect(await queue.stats()).toMatchObject({ waiting: 0, running: 0, failed: 0 });
    } finally {
      await worker.stop();
      await queue.close();
    }
  });

  it("R8: a keyed job killed mid-run whose key was enqueued again is done by its successor and never listed as a dead letter", async () => {
    await installed;
    await pool.query("DELETE FROM graphile_worker._private_jobs");
    await pool.query("DELETE FROM clientmail_job_keys");
    const store = createPostgresStore({ pool });
    const queue = createPostgresJobQueue({ pool, store, lockTimeoutMs: 600 });
    await store.transaction(async (tx) => {
      await queue.enqueue(tx, [{ name: "hang", payload: { run: 1 }, key: "sync:m1" }]);
    });
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=@clientmail/source",
        fileURLToPath(new URL("./fixtures/job-queue-worker.ts", import.meta.url)),
      ],
      { env: { ...process.env, LOCK_TIMEOUT_MS: "600" }, stdio: ["ignore", "pipe", "inherit"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      await until(() => output.includes("started"), "the child to start the job");
      // The follow-up of the running key, as a sync pass schedules its next poll.
      await store.transaction(async (tx) => {
        await queue.enqueue(tx, [{ name: "hang", payload: { run: 2 }, key: "sync:m1" }]);
      });
    } finally {
      child.kill("SIGKILL");
    }
    await exited;

    const runs: Job[] = [];
    const worker = await queue.work({ hang: async (job) => void runs.push(job) }, { pollIntervalMs: 50 });
    try {
      await until(
        async () => runs.length >= 1 && (await queue.stats()).running === 0,
        "the key's work to run",
      );
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(runs.map((job) => job.payload)).toEqual([{ run: 2 }]);
      expect(await queue.listFailed()).toEqual([]);
      expect(await queue.stats()).toMatchObject({ waiting: 0, running: 0, failed: 0 });
    } finally {
      await worker.stop();
      await queue.close();
    }
  });

  it("R8: a keyed run given away to its key's successor while it was being given back is no dead letter; it is dropped and the successor runs", async () => {
    await installed;
    await pool.query("DELETE FROM graphile_worker._private_jobs");
    await pool.query("DELETE FROM clientmail_job_keys");
    const store = createPostgresStore({ pool });
    const queue = createPostgresJobQueue({ pool, store, lockTimeoutMs: 600 });
    await queue.enqueue(store, [{ name: "sync", payload: { run: 1 }, key: "sync:m9", maxAttempts: 3 }]);
    // The race, in the state it leaves when the giving-back worker dies before re-timing the run:
    // the key was enqueued again while the run was out (graphile: key NULL, attempts at the
    // maximum, and a successor holds the key), and graphile recorded the give-back as its failure.
    await pool.query(
      `UPDATE graphile_worker._private_jobs
       SET key = NULL, attempts = max_attempts, last_error = 'its key is running; it waits for that run'`,
    );
    await queue.enqueue(store, [{ name: "sync", payload: { run: 2 }, key: "sync:m9" }]);
    expect(await queue.listFailed()).toEqual([]);
    expect((await queue.stats()).failed).toBe(0);
    const runs: Job[] = [];
    const worker = await queue.work({ sync: async (job) => void runs.push(job) }, { pollIntervalMs: 50 });
    try {
      await until(async () => runs.length >= 1 && (await queue.stats()).running === 0, "the successor");
      await until(
        async () => (await pool.query("SELECT 1 FROM graphile_worker._private_jobs")).rows.length === 0,
        "the given-away run to be dropped",
      );
      expect(runs.map((job) => job.payload)).toEqual([{ run: 2 }]);
    } finally {
      await worker.stop();
      await queue.close();
    }
  });

  it("R8: a dead letter retried before the worker has settled its failure runs again: the late settlement does not undo the retry", async () => {
    await installed;
    await pool.query("DELETE FROM graphile_worker._private_jobs");
    // The worker marks a failed-for-good job as a dead letter once graphile has unlocked it. Held
    // back here until the host has already retried it, as happens on a loaded machine.
    let retried!: () => void;
    const afterRetry = new Promise<void>((resolve) => (retried = resolve));
    const held = holdingQueries(pool, "SET last_error", afterRetry);
    const store = createPostgresStore({ pool });
    const queue = createPostgresJobQueue({ pool: held, store });
    const runs: string[] = [];
    const failing = await queue.work(
      {
        refused: async () => {
          runs.push("refused");
          throw new ClientMailError("permission_denied", "not allowed");
        },
      },
      { pollIntervalMs: 50 },
    );
    let healedWorker: Awaited<ReturnType<typeof queue.work>> | undefined;
    try {
      await store.transaction(async (tx) => {
        await queue.enqueue(tx, [{ name: "refused", payload: {}, maxAttempts: 1 }]);
      });
      await until(async () => (await queue.stats()).failed === 1, "the job to fail");
      // The failing worker stops taking jobs (its stop then waits for the held settlement), so the
      // retried job waits in the queue while the settlement comes in.
      const stopping = failing.stop();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const [failed] = await queue.listFailed();
      expect(await queue.retryFailed(failed!.id)).toBe(true);
      retried();
      await stopping;
      expect(await queue.stats()).toMatchObject({ waiting: 1, failed: 0 });
      healedWorker = await queue.work(
        { refused: async (job) => void runs.push(`healed:${job.attempt}`) },
        { pollIntervalMs: 50 },
      );
      await until(async () => {
        const { waiting, running } = await queue.stats();
        return waiting === 0 && running === 0;
      }, "the retried job to run and complete");
      expect(runs).toEqual(["refused", "healed:1"]);
      expect(await queue.stats()).toMatchObject({ waiting: 0, running: 0, failed: 0 });
    } finally {
      retried();
      await failing.stop();
      await healedWorker?.stop();
      await queue.close();
    }
  });

  it("R8: a job given back because its key is running keeps its attempt, even when its worker dies before re-timing it", async () => {
    await installed;
    await pool.query("DELETE FROM graphile_worker._private_jobs");
    await pool.query("DELETE FROM clientmail_job_keys");
    // Another runner holds the key; the worker that meets it gives the job back. Its settlement
    // (bringing the run forward) is held back for good, as when the process is killed first.
    await pool.query(
      "INSERT INTO clientmail_job_keys (key, job_id, pool_id) VALUES ('held-key', -1, 'elsewhere')",
    );
    let released!: () => void;
    const never = new Promise<void>((resolve) => (released = resolve));
    const held = holdingQueries(pool, "reschedule_jobs", never);
    const store = createPostgresStore({ pool });
    const queue = createPostgresJobQueue({ pool: held, store, lockTimeoutMs: 60_000 });
    const runs: string[] = [];
    const worker = await queue.work({ keyed: async () => void runs.push("ran") }, { pollIntervalMs: 50 });
    try {
      await store.transaction(async (tx) => {
        await queue.enqueue(tx, [{ name: "keyed", payload: {}, key: "held-key", maxAttempts: 1 }]);
      });
      const row = async () =>
        (
          await pool.query<{ attempts: number; last_error: string | null }>(
            "SELECT attempts, last_error FROM graphile_worker._private_jobs",
          )
        ).rows[0];
      await until(
        async () => (await row())?.last_error?.includes("its key is running") === true,
        "the give-back",
      );
      expect(await row()).toMatchObject({ attempts: 0 });
      expect(await queue.listFailed()).toEqual([]);
      expect(runs).toEqual([]);
    } finally {
      released();
      await pool.query("DELETE FROM clientmail_job_keys WHERE key = 'held-key'");
      await worker.stop();
      await queue.close();
    }
  });

  it("R8: stop() resolves only once the engine has recorded its last job's outcome, so a process exiting right after does not run that job again", async () => {
    await installed;
    await pool.query("DELETE FROM graphile_worker._private_jobs");
    const store = createPostgresStore({ pool });
    const queue = createPostgresJobQueue({ pool, store });
    // A transaction holding the job's row: the engine's write of its completion waits for it.
    const holder = await pool.connect();
    let stopped = false;
    try {
      let held = false;
      const worker = await queue.work(
        {
          report: async (job) => {
            await holder.query("BEGIN");
            await holder.query(
              "SELECT 1 FROM graphile_worker._private_jobs WHERE id = $1::bigint FOR UPDATE",
              [job.id],
            );
            held = true;
          },
        },
        { pollIntervalMs: 50 },
      );
      await queue.enqueue(store, [{ name: "report", payload: {} }]);
      await until(() => held, "the job to run");
      const stopping = worker.stop().then(() => (stopped = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(stopped).toBe(false);
      await holder.query("COMMIT");
      await stopping;
      expect(await queue.stats()).toMatchObject({ waiting: 0, running: 0, failed: 0 });
    } finally {
      await holder.query("ROLLBACK").catch(() => undefined);
      holder.release();
      await queue.close();
    }
  });

  it("R8: installJobQueue is idempotent and safe from several processes at once; it leaves the host's pools and console as they were", async () => {
    const name = `clientmail_install_${process.pid}`;
    await pool.query(`CREATE DATABASE ${name}`);
    const target = new URL(url);
    target.pathname = `/${name}`;
    const pools = [1, 2, 3].map(() => new pg.Pool({ connectionString: target.toString(), max: 3 }));
    const warn = vi.spyOn(console, "warn");
    try {
      await Promise.all(pools.map((p) => installJobQueue(p)));
      await installJobQueue(pools[0]!);
      // Pools without handlers: graphile-worker would warn on the console and add its own for good.
      expect(warn).not.toHaveBeenCalled();
      for (const p of pools) expect([p.listenerCount("error"), p.listenerCount("connect")]).toEqual([0, 0]);
      const { rows } = await pools[0]!.query(
        `SELECT to_regclass('graphile_worker._private_jobs') AS jobs, to_regclass('clientmail_job_workers') AS workers,
                to_regclass('clientmail_job_keys') AS keys, to_regclass('graphile_worker.clientmail_jobs_group_waiting') AS fairness`,
      );
      expect(rows[0]).toEqual({
        jobs: "graphile_worker._private_jobs",
        workers: "clientmail_job_workers",
        keys: "clientmail_job_keys",
        fairness: "graphile_worker.clientmail_jobs_group_waiting",
      });
    } finally {
      warn.mockRestore();
      await Promise.all(pools.map((p) => p.end()));
      await pool.query(`DROP DATABASE ${name}`);
    }
  });

  it("R8: settings and jobs are validated, naming the field", async () => {
    await installed;
    const store = createPostgresStore({ pool });
    expect(() => createPostgresJobQueue({ pool, store: {} as never, lockTimeoutMs: 5 })).toThrow(
      /store: .*lockTimeoutMs: got 5, expected an integer of at least 300/s,
    );
    const queue = createPostgresJobQueue({ pool, store });
    await expect(queue.enqueue(store, [{ name: "x", payload: {}, maxAttempts: 0 }])).rejects.toThrow(
      /jobs\[0\]\.maxAttempts: got 0/,
    );
    await expect(
      queue.enqueue(createPostgresStore({ pool }), [{ name: "x", payload: {} }]),
    ).rejects.toMatchObject({
      code: "unsupported",
    });
    await expect(queue.work({}, { concurrency: 0 })).rejects.toThrow(/concurrency: got 0/);
  });

  it("R8: an enqueue without the queue's tables says to install them", async () => {
    const name = `clientmail_bare_${process.pid}`;
    await pool.query(`CREATE DATABASE ${name}`);
    const target = new URL(url);
    target.pathname = `/${name}`;
    const bare = new pg.Pool({ connectionString: target.toString(), max: 2 });
    try {
      const store = createPostgresStore({ pool: bare });
      const queue = createPostgresJobQueue({ pool: bare, store });
      await expect(queue.enqueue(store, [{ name: "x", payload: {} }])).rejects.toMatchObject({
        code: "unsupported",
        message: expect.stringContaining("installJobQueue") as unknown,
      });
    } finally {
      await bare.end();
      await pool.query(`DROP DATABASE ${name}`);
    }
  });
});

/** `pool`, except that a query whose text contains `fragment` waits for `gate` before it runs. */
function holdingQueries(target: pg.Pool, fragment: string, gate: Promise<void>): pg.Pool {
  return new Proxy(target, {
    get(pool, property, receiver) {
      if (property !== "query") return Reflect.get(pool, property, receiver) as unknown;
      return async (...args: Parameters<pg.Pool["query"]>) => {
        if (typeof args[0] === "string" && args[0].includes(fragment)) await gate;
        return await (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
      };
    },
  });
}

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
