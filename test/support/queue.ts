/**
 * Test helper for end-to-end suites on PostgreSQL: a database of their own (the job queue's tables
 * are shared by every queue of a database), migrated, with the job queue installed, a blob store,
 * and a worker for attachment saves (F9, R8).
 */
import pg from "pg";
import { saveAttachmentsHandler, saveAttachmentsJob } from "@clientmail/core/internal";
import { silentLogger, type DocumentSink, type JobWorker } from "@clientmail/core/ports";
import { createMemoryBlobStore } from "@clientmail/memory";
import { createPostgresJobQueue, createPostgresStore, installJobQueue, migrate } from "@clientmail/postgres";
import { drainJobs } from "@clientmail/testkit";
import { freshDatabase } from "./postgres.js";

/** A migrated database of its own, with a store, a job queue and a blob store. */
export async function postgresWithQueue(prefix: string) {
  const pool = new pg.Pool({ connectionString: await freshDatabase(prefix), max: 12 });
  // An idle connection dropped at the end of the run must not crash the test process.
  pool.on("error", () => undefined);
  await migrate(pool);
  await installJobQueue(pool);
  const store = createPostgresStore({ pool });
  const queue = createPostgresJobQueue({ pool, store, retryDelayMs: () => 50, lockTimeoutMs: 5_000 });
  const blobs = createMemoryBlobStore();
  let worker: JobWorker | undefined;
  return {
    pool,
    store,
    queue,
    blobs,
    /** Runs attachment saves into `documents`. */
    async startWorker(documents: DocumentSink): Promise<void> {
      worker = await queue.work(
        { [saveAttachmentsJob]: saveAttachmentsHandler({ store, blobs, documents, logger: silentLogger }) },
        { pollIntervalMs: 50 },
      );
    },
    /** Waits until every enqueued job has run. */
    drain: () => drainJobs(queue),
    async close(): Promise<void> {
      await worker?.stop({ timeoutMs: 1_000 });
      await queue.close();
      await pool.end();
    },
  };
}
