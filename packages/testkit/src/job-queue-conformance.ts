/**
 * The JobQueue conformance suite: the in-process queue of the memory store, the PostgreSQL queue
 * and a third party's queue all keep the promises of the port (transactional enqueue, at least
 * once, keys, retries, dead letters, fairness, graceful stop). Call it at the top level of a test
 * file.
 */
import { describe, expect, it } from "vitest";
import { ClientMailError } from "@clientmail/core";
import type { Job, JobQueue, JobWorker, Store } from "@clientmail/core/ports";

/** One queue to test, with the store whose transactions it joins. */
export interface JobQueueUnderTest {
  queue: JobQueue;
  store: Store;
  /** Releases what `makeQueue` created (called after each test). */
  close?: () => Promise<void>;
}

export interface JobQueueConformanceOptions {
  name: string;
  /**
   * A fresh, empty queue per test, configured so that a retry waits about 50 ms and an idle worker
   * looks for due jobs at least every 100 ms (the suite waits in real time).
   */
  makeQueue: () => Promise<JobQueueUnderTest>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function withQueue(
  options: JobQueueConformanceOptions,
  body: (q: JobQueueUnderTest, workers: JobWorker[]) => Promise<void>,
): Promise<void> {
  const q = await options.makeQueue();
  const workers: JobWorker[] = [];
  try {
    await body(q, workers);
  } finally {
    for (const worker of workers) await worker.stop({ timeoutMs: 1_000 }).catch(() => undefined);
    await q.queue.close();
    await q.close?.();
  }
}

/** Defines the suite. */
export function jobQueueConformance(options: JobQueueConformanceOptions): void {
  describe(`JobQueue conformance: ${options.name}`, () => {
    it("R8: jobs enqueued in a transaction run once it commits, never when it rolls back", async () => {
      await withQueue(options, async ({ queue, store }, workers) => {
        const seen: string[] = [];
        workers.push(
          await queue.work(
            { note: async (job) => void seen.push(job.payload.text as string) },
            { pollIntervalMs: 50 },
          ),
        );
        await store
          .transaction(async (tx) => {
            await queue.enqueue(tx, [{ name: "note", payload: { text: "rolled back" } }]);
            throw new Error("roll back");
          })
          .catch(() => undefined);
        let enqueuedInside = false;
        await store.transaction(async (tx) => {
          await queue.enqueue(tx, [{ name: "note", payload: { text: "committed" } }]);
          enqueuedInside = true;
          // Not visible to a worker before the commit.
          await sleep(150);
          expect(seen).toEqual([]);
        });
        expect(enqueuedInside).toBe(true);
        await queue.enqueue(store, [{ name: "note", payload: { text: "outside" } }]);
        await eventually(() => seen.length === 2, "two jobs");
        await sleep(150);
        expect(seen.sort()).toEqual(["committed", "outside"]);
      });
    });

    it("R8: a job's signal serves many operations at once: dozens of abort listeners draw no leak warning", async () => {
      await withQueue(options, async ({ queue, store }, workers) => {
        const warnings: string[] = [];
        const onWarning = (warning: Error) => void warnings.push(warning.name);
        process.on("warning", onWarning);
        try {
          let listened = 0;
          workers.push(
            await queue.work(
              {
                fan: async (_job, signal) => {
                  const listeners = Array.from({ length: 30 }, () => () => undefined);
                  for (const listener of listeners) signal.addEventListener("abort", listener);
                  listened = listeners.length;
                  await sleep(20);
                  for (const listener of listeners) signal.removeEventListener("abort", listener);
                },
              },
              { pollIntervalMs: 50 },
            ),
          );
          await queue.enqueue(store, [{ name: "fan", payload: {} }]);
          await eventually(async () => listened === 30 && (await queue.stats()).running === 0, "the job");
          await sleep(50);
          expect(warnings).not.toContain("MaxListenersExceededWarning");
        } finally {
          process.off("warning", onWarning);
        }
      });
    });

    it("R8: a failing handler is retried with a growing attempt count until it succeeds", async () => {
      await withQueue(options, async ({ queue, store }, workers) => {
        const attempts: number[] = [];
        workers.push(
          await queue.work(
            {
              flaky: async (job) => {
                attempts.push(job.attempt);
                if (job.attempt < 3) throw new ClientMailError("transient", "try again");
              },
            },
            { pollIntervalMs: 50 },
          ),
        );
        await queue.enqueue(store, [{ name: "flaky", payload: {}, maxAttempts: 5 }]);
        await eventually(() => attempts.length === 3, "three attempts");
        await sleep(200);
        expect(attempts).toEqual([1, 2, 3]);
        expect((await queue.stats()).failed).toBe(0);
      });
    });

    it("R8: a job that spends its attempts, or fails for good, is listed as failed and can be retried", async () => {
      await withQueue(options, async ({ queue, store }, workers) => {
        let healed = false;
        const runs: string[] = [];
        workers.push(
          await queue.work(
            {
              doomed: async (job) => {
                runs.push(`doomed:${job.attempt}`);
                if (!healed) throw new ClientMailError("transient", "still broken");
              },
              refused: async () => {
                runs.push("refused");
                throw new ClientMailError("permission_denied", "not allowed");
              },
            },
            { pollIntervalMs: 50 },
          ),
        );
        await queue.enqueue(store, [
          { name: "doomed", payload: { n: 1 }, maxAttempts: 2, group: "firm-a" },
          { name: "refused", payload: { n: 2 }, maxAttempts: 5 },
        ]);
        await eventually(async () => (await queue.stats()).failed === 2, "two failed jobs");
        expect(runs.filter((r) => r === "refused")).toEqual(["refused"]);
        expect(runs.filter((r) => r.startsWith("doomed"))).toEqual(["doomed:1", "doomed:2"]);
        const failed = await queue.listFailed();
        expect(failed.map((f) => f.name).sort()).toEqual(["doomed", "refused"]);
        const doomed = failed.find((f) => f.name === "doomed")!;
        expect(doomed).toMatchObject({ payload: { n: 1 }, attempts: 2, group: "firm-a" });
        expect(doomed.lastError).toContain("still broken");
        expect(await queue.listFailed({ name: "refused" })).toHaveLength(1);
        healed = true;
        expect(await queue.retryFailed(doomed.id)).toBe(true);
        expect(await queue.retryFailed("no-such-job")).toBe(false);
        await eventually(async () => (await queue.stats()).failed === 1, "the retried job to succeed");
      });
    });

    it("R8: a key waits at most once; a follow-up of a running key runs after it, never beside it", async () => {
      await withQueue(options, async ({ queue, store }, workers) => {
        let running = 0;
        let overlap = false;
        const runs: string[] = [];
        let release: (() => void) | undefined;
        const gate = new Promise<void>((resolve) => (release = resolve));
        workers.push(
          await queue.work(
            {
              sync: async (job) => {
                running += 1;
                if (running > 1) overlap = true;
                runs.push(`${job.payload.n as number}`);
                if (job.payload.n === 1) await gate;
                running -= 1;
              },
            },
            { concurrency: 4, pollIntervalMs: 50 },
          ),
        );
        await queue.enqueue(store, [{ name: "sync", payload: { n: 1 }, key: "sync:firm:box" }]);
        await eventually(() => runs.length === 1, "the first run");
        // While it runs: one follow-up waits; more of the same key change nothing.
        await queue.enqueue(store, [{ name: "sync", payload: { n: 2 }, key: "sync:firm:box" }]);
        await queue.enqueue(store, [{ name: "sync", payload: { n: 3 }, key: "sync:firm:box" }]);
        await sleep(200);
        expect(runs).toEqual(["1"]);
        release!();
        await eventually(() => runs.length === 2, "the follow-up");
        await sleep(200);
        expect(runs).toEqual(["1", "2"]);
        expect(overlap).toBe(false);
      });
    });

    it("R8: enqueueing a waiting key again keeps one job, due at the earlier time", async () => {
      await withQueue(options, async ({ queue, store }, workers) => {
        const runs: number[] = [];
        await queue.enqueue(store, [
          { name: "poll", payload: { n: 1 }, key: "k", runAt: new Date(Date.now() + 60 * 60_000) },
        ]);
        // A push hint brings the hour-away poll forward.
        await queue.enqueue(store, [{ name: "poll", payload: { n: 2 }, key: "k" }]);
        // A later poll does not delay it again.
        await queue.enqueue(store, [
          { name: "poll", payload: { n: 3 }, key: "k", runAt: new Date(Date.now() + 60 * 60_000) },
        ]);
        expect((await queue.stats()).waiting).toBe(1);
        workers.push(
          await queue.work({ poll: async () => void runs.push(Date.now()) }, { pollIntervalMs: 50 }),
        );
        await eventually(() => runs.length === 1, "the job, now due");
        await sleep(150);
        expect(runs).toHaveLength(1);
      });
    });

    it("R8: a keyed job that failed for good stays listed when its key is enqueued again", async () => {
      await withQueue(options, async ({ queue, store }, workers) => {
        const runs: number[] = [];
        workers.push(
          await queue.work(
            {
              keyed: async (job) => {
                runs.push(Number(job.payload.n));
                if (job.payload.n === 1) throw new ClientMailError("permission_denied", "not allowed");
              },
            },
            { pollIntervalMs: 50 },
          ),
        );
        await queue.enqueue(store, [{ name: "keyed", payload: { n: 1 }, key: "renew:firm:box" }]);
        await eventually(async () => (await queue.stats()).failed === 1, "the failed job");
        await queue.enqueue(store, [{ name: "keyed", payload: { n: 2 }, key: "renew:firm:box" }]);
        await eventually(() => runs.includes(2), "the new job of that key");
        expect(runs).toEqual([1, 2]);
        const failed = await queue.listFailed();
        expect(failed).toHaveLength(1);
        expect(failed[0]).toMatchObject({ payload: { n: 1 }, key: "renew:firm:box" });
      });
    });

    it("R8: a job scheduled for later does not run before its time", async () => {
      await withQueue(options, async ({ queue, store }, workers) => {
        const ranAt: number[] = [];
        workers.push(
          await queue.work({ later: async () => void ranAt.push(Date.now()) }, { pollIntervalMs: 50 }),
        );
        const runAt = new Date(Date.now() + 400);
        await queue.enqueue(store, [{ name: "later", payload: {}, runAt }]);
        await sleep(200);
        expect(ranAt).toEqual([]);
        expect((await queue.stats()).waiting).toBe(1);
        await eventually(() => ranAt.length === 1, "the scheduled job");
        expect(ranAt[0]!).toBeGreaterThanOrEqual(runAt.getTime() - 50);
      });
    });

    it("fairness: one firm's many jobs do not starve another firm's one", async () => {
      await withQueue(options, async ({ queue, store }, workers) => {
        const order: string[] = [];
        await queue.enqueue(
          store,
          Array.from({ length: 40 }, (_, i) => ({ name: "sync", payload: { firm: "big", i }, group: "big" })),
        );
        await queue.enqueue(store, [{ name: "sync", payload: { firm: "small", i: 0 }, group: "small" }]);
        workers.push(
          await queue.work(
            {
              sync: async (job) => {
                order.push(job.payload.firm as string);
                await sleep(5);
              },
            },
            { concurrency: 1, pollIntervalMs: 50 },
          ),
        );
        await eventually(() => order.length === 41, "every job");
        expect(order.indexOf("small")).toBeLessThanOrEqual(2);
      });
    });

    it("R8: stopping a worker lets running jobs finish; jobs it did not start stay for another worker", async () => {
      await withQueue(options, async ({ queue, store }, workers) => {
        const done: number[] = [];
        const slow = async (job: Job) => {
          await sleep(150);
          done.push(Number(job.payload.n));
        };
        const first = await queue.work({ slow }, { concurrency: 1, pollIntervalMs: 50 });
        await queue.enqueue(
          store,
          [1, 2, 3].map((n) => ({ name: "slow", payload: { n } })),
        );
        await eventually(async () => (await queue.stats()).running === 1, "one running job");
        await first.stop({ timeoutMs: 5_000 });
        expect(done).toHaveLength(1);
        const stats = await queue.stats();
        expect(stats.running).toBe(0);
        expect(stats.waiting).toBe(2);
        expect(stats.oldestWaitingAt).toBeInstanceOf(Date);
        workers.push(await queue.work({ slow }, { concurrency: 2, pollIntervalMs: 50 }));
        await eventually(() => done.length === 3, "the rest on the second worker");
        expect(done.sort()).toEqual([1, 2, 3]);
      });
    });

    it("R8: a job whose worker is stopped mid-run (past the grace time) is released and runs again elsewhere", async () => {
      await withQueue(options, async ({ queue, store }, workers) => {
        const runs: number[] = [];
        const stuck = async (job: Job, signal: AbortSignal) => {
          runs.push(job.attempt);
          if (runs.length === 1)
            await new Promise<void>((_, reject) =>
              signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }),
            );
        };
        const first = await queue.work({ stuck }, { pollIntervalMs: 50 });
        await queue.enqueue(store, [{ name: "stuck", payload: {} }]);
        await eventually(() => runs.length === 1, "the first run");
        await first.stop({ timeoutMs: 50 });
        workers.push(await queue.work({ stuck }, { pollIntervalMs: 50 }));
        await eventually(() => runs.length === 2, "the second run");
        await eventually(
          async () => (await queue.stats()).waiting + (await queue.stats()).running === 0,
          "done",
        );
        expect((await queue.stats()).failed).toBe(0);
      });
    });
  });
}
