import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeConformance } from "@clientmail/testkit/vitest";
import { createPostgresStore, enableRowLevelSecurity, migrate } from "../src/index.js";

const url = process.env.CLIENTMAIL_TEST_DATABASE_URL;
if (!url) {
  throw new Error(
    "CLIENTMAIL_TEST_DATABASE_URL is not set. Run the tests with `pnpm test` (test/global-setup.ts starts PostgreSQL) or point it at a database.",
  );
}

// A database and a role of this file's own: forcing row-level security changes the tables for
// every user of the database.
const suffix = globalThis.crypto.randomUUID().replace(/-/g, "").slice(0, 12);
const databaseName = `clientmail_rls_${suffix}`;
const appRole = `clientmail_app_${suffix}`;
const appPassword = `pw_${suffix}`;
const admin = new pg.Pool({ connectionString: url, max: 2 });
const databaseUrl = (user?: { name: string; password: string }): string => {
  const target = new URL(url);
  target.pathname = `/${databaseName}`;
  if (user) {
    target.username = user.name;
    target.password = user.password;
  }
  return target.toString();
};
let owner: pg.Pool;
let app: pg.Pool;

const ready = (async () => {
  await admin.query(`CREATE DATABASE ${databaseName}`);
  await admin.query(`CREATE ROLE ${appRole} LOGIN PASSWORD '${appPassword}' NOSUPERUSER NOBYPASSRLS`);
  owner = new pg.Pool({ connectionString: databaseUrl(), max: 4 });
  await migrate(owner);
  await enableRowLevelSecurity(owner, { appRole });
  app = new pg.Pool({ connectionString: databaseUrl({ name: appRole, password: appPassword }), max: 10 });
  // Dropping the database at the end terminates connections that are still closing.
  for (const pool of [owner, app]) pool.on("error", () => undefined);
})();

beforeAll(async () => {
  await ready;
});

afterAll(async () => {
  await app.end();
  await owner.end();
  await admin.query(`DROP DATABASE ${databaseName} WITH (FORCE)`);
  await admin.query(`DROP ROLE ${appRole}`);
  await admin.end();
});

storeConformance({
  name: "postgres with row-level security",
  makeStore: async () => {
    await ready;
    // The raw reader connects as the superuser owner, which row-level security does not confine.
    const count = async (table: string, firmId: string) =>
      Number(
        (await owner.query(`SELECT count(*) AS n FROM ${table} WHERE firm_id = $1`, [firmId])).rows[0].n,
      );
    return {
      store: createPostgresStore({ pool: app, rowLevelSecurity: true }),
      raw: {
        countMessages: (firmId) => count("messages", firmId),
        countSightings: (firmId) => count("message_sightings", firmId),
        storedCredentials: async (firmId, mailboxId) =>
          (
            await owner.query("SELECT credentials FROM mailboxes WHERE firm_id = $1 AND id = $2", [
              firmId,
              mailboxId,
            ])
          ).rows[0]?.credentials ?? undefined,
      },
    };
  },
});

describe("row-level security", () => {
  it("confines the application role to the firm set for the transaction, even without a firm filter", async () => {
    await ready;
    const store = createPostgresStore({ pool: app, rowLevelSecurity: true });
    const a = await store.createFirm({ name: "A", internalDomains: [], deletionMode: "mirror" });
    const b = await store.createFirm({ name: "B", internalDomains: [], deletionMode: "mirror" });
    await store.createAccount(a.id, { name: "A's client", kind: "person" }, new Date());
    await store.createAccount(b.id, { name: "B's client", kind: "person" }, new Date());
    expect(await store.listFirmIds()).toEqual(expect.arrayContaining([a.id, b.id]));

    const client = await app.connect();
    try {
      // No firm set: nothing is visible and nothing can be written.
      expect((await client.query("SELECT name FROM accounts")).rows).toEqual([]);
      await client.query("BEGIN");
      await client.query("SELECT set_config('app.firm_id', $1, true)", [a.id]);
      expect((await client.query("SELECT name FROM accounts")).rows.map((r) => r.name)).toEqual([
        "A's client",
      ]);
      expect(
        (await client.query("UPDATE accounts SET name = 'hijacked' WHERE firm_id = $1", [b.id])).rowCount,
      ).toBe(0);
      await expect(
        client.query(
          "INSERT INTO accounts (firm_id, id, name, kind, created_at) VALUES ($1, 'x', 'x', 'person', now())",
          [b.id],
        ),
      ).rejects.toThrow(/row-level security/);
      await client.query("ROLLBACK");
      // The setting was transaction-scoped: it is gone on the pooled connection.
      expect((await client.query("SELECT name FROM accounts")).rows).toEqual([]);
    } finally {
      client.release();
    }
    expect((await store.listAccounts(b.id)).map((x) => x.name)).toEqual(["B's client"]);
  });
});
