/**
 * Test helper: a database of its own on the test run's PostgreSQL, for suites that need tables no
 * other file may touch (the job queue's are shared by every queue on a database).
 */
import pg from "pg";

/** Creates an empty database on the run's server and returns its URL. */
export async function freshDatabase(prefix = "t"): Promise<string> {
  const base = process.env.CLIENTMAIL_TEST_DATABASE_URL;
  if (!base) throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests with `pnpm test`.");
  const name = `${prefix}_${globalThis.crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}
