/**
 * Test helper: waits until a job queue has nothing waiting or running, so a test can assert on the
 * effects of the jobs a sync enqueued (attachment saves, backfills).
 */
import type { JobQueue } from "@clientmail/core/ports";

/** Resolves once `queue` has no waiting and no running job; rejects after `timeoutMs`. */
export async function drainJobs(queue: JobQueue, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    const stats = await queue.stats();
    if (stats.waiting === 0 && stats.running === 0) return;
    if (Date.now() - started > timeoutMs)
      throw new Error(`jobs still pending after ${timeoutMs} ms: ${JSON.stringify(stats)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
