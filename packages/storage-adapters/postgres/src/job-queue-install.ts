/**
 * Installs the job queue's schema: graphile-worker's own migrations (the `graphile_worker`
 * schema, which the engine owns and upgrades) plus the two small tables and two indexes clientmail
 * adds beside it. Idempotent, and safe from several processes at once: every step runs under one
 * session advisory lock, so the processes take turns and the later ones find nothing to do.
 */
import { runMigrations } from "graphile-worker";
import type { Pool } from "pg";
import { graphileLogger } from "./job-queue-logger.js";

/** The advisory lock key; `hashtext` keeps it apart from the store's migration lock. */
const INSTALL_LOCK = "SELECT pg_advisory_lock(hashtext('clientmail.job_queue.install'))";
const INSTALL_UNLOCK = "SELECT pg_advisory_unlock(hashtext('clientmail.job_queue.install'))";

const CLIENTMAIL_QUEUE_SQL = `
-- Worker processes, by graphile-worker pool id, with the database time each was last heard from.
-- A pool silent for longer than the lock timeout is dead: its jobs are unlocked and run again.
CREATE TABLE IF NOT EXISTS clientmail_job_workers (
  pool_id text PRIMARY KEY,
  seen_at timestamptz NOT NULL DEFAULT now()
);
-- Keys being worked on now: a job whose key is here waits for the running one (port rule: a
-- follow-up never runs beside it). Rows of dead pools are swept with their locks.
CREATE TABLE IF NOT EXISTS clientmail_job_keys (
  key text PRIMARY KEY,
  job_id bigint NOT NULL,
  pool_id text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now()
);
-- Fairness: counting a group's waiting jobs at enqueue must not scan the whole queue.
CREATE INDEX IF NOT EXISTS clientmail_jobs_group_waiting
  ON graphile_worker._private_jobs ((payload->>'g')) WHERE is_available;
`;

/**
 * Creates or upgrades the job queue's tables. Run it once at deploy time (or at start-up: it is
 * idempotent and safe from several processes), after {@link migrate}.
 */
export async function installJobQueue(pool: Pool): Promise<void> {
  const restore = guardDuringInstall(pool);
  try {
    const client = await pool.connect();
    try {
      await client.query(INSTALL_LOCK);
      try {
        await runMigrations({ pgPool: pool, logger: graphileLogger });
        await client.query(CLIENTMAIL_QUEUE_SQL);
      } finally {
        await client.query(INSTALL_UNLOCK);
      }
    } finally {
      client.release();
    }
  } finally {
    restore();
  }
}

/**
 * graphile-worker prints a warning on the console and adds handlers of its own for good when the
 * pool it is given has no `error` or `connect` listener. During the install the pool gets ours
 * (a failure reaches the caller through the failed query), and afterwards it is as the host left it.
 */
function guardDuringInstall(pool: Pool): () => void {
  const ignore = () => undefined;
  const onConnect = (client: { on(event: "error", listener: () => void): unknown }) => {
    client.on("error", ignore);
  };
  const addError = pool.listeners("error").length === 0;
  const addConnect = pool.listeners("connect").length === 0;
  if (addError) pool.on("error", ignore);
  if (addConnect) pool.on("connect", onConnect);
  return () => {
    if (addError) pool.off("error", ignore);
    if (addConnect) pool.off("connect", onConnect);
  };
}
