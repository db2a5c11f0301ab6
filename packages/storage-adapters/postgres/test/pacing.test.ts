/** The PostgreSQL Pacing, as two worker processes see it: two pools on one database. */
import pg from "pg";
import { afterAll } from "vitest";
import { pacingConformance } from "@clientmail/testkit/vitest";
import { createPostgresPacing, migrate } from "../src/index.js";

const url = process.env.CLIENTMAIL_TEST_DATABASE_URL;
if (!url)
  throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests through vitest's global setup.");

const pools = [
  new pg.Pool({ connectionString: url, max: 4 }),
  new pg.Pool({ connectionString: url, max: 4 }),
];
const migrated = migrate(pools[0]!);
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
});

pacingConformance({
  name: "postgres",
  makePair: async () => {
    await migrated;
    return [createPostgresPacing({ pool: pools[0]! }), createPostgresPacing({ pool: pools[1]! })];
  },
});
