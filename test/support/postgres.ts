/**
 * Test helper: a database of its own on the test run's PostgreSQL, for suites that need tables no
 * other file may touch (the job queue's are shared by every queue on a database).
 */
import pg from "pg";

function serverUrl(): string {
  const base = process.env.CLIENTMAIL_TEST_DATABASE_URL;
  if (!base) throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests with `pnpm test`.");
  return base;
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl() });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

function urlOf(name: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

function newName(prefix: string): string {
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(prefix)) throw new Error(`bad database name prefix: ${prefix}`);
  return `${prefix}_${globalThis.crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}

/** Creates an empty database on the run's server and returns its URL. */
export async function freshDatabase(prefix = "t"): Promise<string> {
  const name = newName(prefix);
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  return urlOf(name);
}

/**
 * Creates a database as a copy of `template` (a URL from {@link freshDatabase}, with no open
 * connections): a schema migrated once is then a fresh database in a fraction of a second.
 */
export async function databaseFromTemplate(template: string, prefix = "t"): Promise<string> {
  const source = new URL(template).pathname.slice(1);
  const name = newName(prefix);
  await admin((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${source}`));
  return urlOf(name);
}

/** Drops a database made by this module, closing any connection still open to it. */
export async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`not a test database: ${name}`);
  await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}
