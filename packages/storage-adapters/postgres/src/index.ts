/**
 * `@clientmail/postgres`: the PostgreSQL store. Plain SQL migrations applied by {@link migrate},
 * idempotent batched filing (insert-on-conflict on firm + Message-ID identity), mailbox leases
 * timed by the database clock with a fencing token checked by every cursor write, and an
 * optional row-level security mode.
 *
 * @example
 * ```ts
 * import pg from "pg";
 * import { createPostgresStore, migrate } from "@clientmail/postgres";
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool);
 * const store = createPostgresStore({ pool });
 * ```
 *
 * @module
 */
export { createPostgresStore, PostgresStore } from "./postgres-store.js";
export type { PostgresExecutor } from "./postgres-store.js";
export type { PostgresStoreSettings } from "./postgres-store.js";
export { migrate, loadMigrations } from "./migrate.js";
export type { Migration } from "./migrate.js";
export { enableRowLevelSecurity, FIRM_TABLES } from "./row-level-security.js";
export type { RowLevelSecuritySettings } from "./row-level-security.js";
export { createPostgresJobQueue } from "./job-queue.js";
export type { PostgresJobQueueSettings } from "./job-queue.js";
export { installJobQueue } from "./job-queue-install.js";
export { createPostgresPacing } from "./pacing.js";
export type { PostgresPacingSettings } from "./pacing.js";
