/**
 * The stores engine tests run on: the memory store (the reference) and PostgreSQL (started by
 * the test command; its URL comes from `CLIENTMAIL_TEST_DATABASE_URL`). Each test gets its own
 * firm, so one migrated database serves them all.
 */
import pg from "pg";
import { afterAll } from "vitest";
import { createMemoryStore } from "@clientmail/memory";
import { createPostgresStore, migrate } from "@clientmail/postgres";
import type { Clock, Store } from "../../src/ports/index.js";

let pool: pg.Pool | undefined;
let migrated: Promise<unknown> | undefined;

async function postgresStore(): Promise<Store> {
  const url = process.env.CLIENTMAIL_TEST_DATABASE_URL;
  if (!url) throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests with `pnpm test`.");
  pool ??= new pg.Pool({ connectionString: url, max: 10 });
  migrated ??= migrate(pool);
  await migrated;
  return createPostgresStore({ pool });
}

afterAll(async () => {
  await pool?.end();
  pool = undefined;
  migrated = undefined;
});

/** A store factory per kind; use with `describe.each(engineStores)`. */
export const engineStores: Array<{ name: string; make: (clock: Clock) => Promise<Store> }> = [
  { name: "memory store", make: async (clock) => createMemoryStore({ clock }) },
  { name: "postgres store", make: async () => postgresStore() },
];
