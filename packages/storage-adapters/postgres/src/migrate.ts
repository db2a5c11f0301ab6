import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Pool } from "pg";

/** A migration as shipped in the package's `migrations/` folder. */
export interface Migration {
  /** File name, e.g. `0001_init.sql`; applied in name order, each once. */
  name: string;
  sql: string;
}

/** Built code finds the SQL in `dist/migrations/`; source code in the package's `migrations/`. */
async function migrationsDir(): Promise<string> {
  const candidates = [new URL("./migrations/", import.meta.url), new URL("../migrations/", import.meta.url)];
  for (const candidate of candidates) {
    const dir = fileURLToPath(candidate);
    try {
      await readdir(dir);
      return dir;
    } catch {
      // Try the next place.
    }
  }
  throw new Error("The clientmail migrations folder was not found next to @clientmail/postgres");
}

/** The package's migrations, in the order they apply. */
export async function loadMigrations(): Promise<Migration[]> {
  const dir = await migrationsDir();
  const names = (await readdir(dir)).filter((name) => name.endsWith(".sql")).sort();
  return Promise.all(names.map(async (name) => ({ name, sql: await readFile(`${dir}${name}`, "utf8") })));
}

/**
 * Applies the migrations the database has not seen yet, each in its own transaction, and
 * records them in `clientmail_migrations`. Safe to call from several processes at once: a
 * transaction-scoped advisory lock makes them take turns. Returns the names it applied.
 */
export async function migrate(pool: Pool, migrations?: readonly Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
  const applied: string[] = [];
  const client = await pool.connect();
  try {
    for (const migration of all) {
      await client.query("BEGIN");
      try {
        await client.query("SELECT pg_advisory_xact_lock(hashtext('clientmail.migrate'))");
        await client.query(
          "CREATE TABLE IF NOT EXISTS clientmail_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        );
        const done = await client.query("SELECT 1 FROM clientmail_migrations WHERE name = $1", [
          migration.name,
        ]);
        if (done.rowCount === 0) {
          await client.query(migration.sql);
          await client.query("INSERT INTO clientmail_migrations (name) VALUES ($1)", [migration.name]);
          applied.push(migration.name);
        }
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw error;
      }
    }
  } finally {
    client.release();
  }
  return applied;
}
