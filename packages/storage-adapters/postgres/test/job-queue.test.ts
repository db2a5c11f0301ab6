import pg from "pg";
import { afterAll } from "vitest";
import { jobQueueConformance } from "@clientmail/testkit";
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
