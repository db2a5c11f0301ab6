/**
 * A database that `migrate()` never ran on: the store says so with a typed error and a hint,
 * instead of PostgreSQL's raw `relation "…" does not exist`.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientMailError, createClientMail } from "@clientmail/core";
import { dropDatabase, freshDatabase } from "../../../../test/support/postgres.js";
import { createPostgresStore, migrate } from "../src/index.js";

describe("an unmigrated database", () => {
  let url: string;
  let pool: pg.Pool;
  beforeAll(async () => {
    url = await freshDatabase("unmigrated");
    pool = new pg.Pool({ connectionString: url, max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    if (url) await dropDatabase(url);
  });

  it("fails as not_migrated with the hint to run migrate(), through the store and the facade; migrate() fixes it", async () => {
    const store = createPostgresStore({ pool });
    const failure = await store.listFirmIds().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(ClientMailError.hasCode(failure, "not_migrated")).toBe(true);
    const error = failure as ClientMailError;
    expect(error.message).toMatch(/migrate\(\)/);
    expect(error.details).toMatchObject({ sqlState: "42P01", hint: "run migrate()" });
    expect(error.retryable).toBe(false);

    const cm = createClientMail({ store });
    const viaFacade = await cm.createFirm({ name: "Ledger", internalDomains: ["ledger.example"] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(ClientMailError.hasCode(viaFacade, "not_migrated")).toBe(true);
    expect((viaFacade as ClientMailError).details.hint).toBe("run migrate()");

    await migrate(pool);
    const firm = await cm.createFirm({ name: "Ledger", internalDomains: ["ledger.example"] });
    expect(await store.listFirmIds()).toEqual([firm.id]);
  });
});
