/**
 * The app on PostgreSQL and its job engine (DATABASE_URL): migrations at start, sign-ins and data
 * that outlive a restart, and the demo mailbox synced by workers on the Postgres queue.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import supertest from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "@clientmail/core";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { startDemo } from "../src/demo/index.js";
import { openServices } from "../src/services.js";

const serverUrl = process.env.CLIENTMAIL_TEST_DATABASE_URL;
if (!serverUrl) throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests with `pnpm test`.");

let databaseUrl: string;
let dataDir: string;
const databaseName = `app_${process.pid}_${Date.now()}`;
beforeAll(async () => {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${databaseName}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${databaseName}`;
  databaseUrl = url.toString();
  dataDir = await mkdtemp(join(tmpdir(), "clientmail-app-pg-"));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const env = () => ({
  DATABASE_URL: databaseUrl,
  SESSION_SECRET: "p".repeat(40),
  KEYRING_KEYS: `k1:${"B".repeat(43)}`,
  DATA_DIR: dataDir,
  LOG_LEVEL: "silent" as const,
});

describe("the app on PostgreSQL", () => {
  it("migrates at start; a firm signed up, its accounts and its sign-ins outlive a restart", async () => {
    const first = await openServices(loadConfig(env()), { logger: silentLogger });
    const agent = supertest.agent(createApp(first));
    const password = "a long enough password";
    const signup = await agent
      .post("/api/signup")
      .send({ firmName: "Acme Books", name: "Al Acme", email: "al@acme.example", password })
      .expect(201);
    await first.cm.createAccount(signup.body.firm.id, { name: "Jordan's Bakery Ltd", kind: "business" });
    await first.close();

    const second = await openServices(loadConfig(env()), { logger: silentLogger });
    try {
      const again = supertest.agent(createApp(second));
      await again.post("/api/session").send({ email: "al@acme.example", password }).expect(200);
      const me = await again.get("/api/session").expect(200);
      expect(me.body.firm.name).toBe("Acme Books");
      const accounts = await second.cm.listAccounts(signup.body.firm.id);
      expect(accounts.map((overview) => overview.account.name)).toEqual(["Jordan's Bakery Ltd"]);
    } finally {
      await second.close();
    }
  });

  it("F1 T7: the demo mailbox is synced by workers on the PostgreSQL job engine, and turning email sync on backfills", async () => {
    const services = await openServices(loadConfig({ ...env(), DEMO: "on" }), { logger: silentLogger });
    const demo = await startDemo(services, { arrivalAfterMs: false });
    try {
      await services.cm.start();
      const firmId = demo.firm.id;
      const count = async (accountId: string) =>
        (await services.cm.accountThreads(firmId, accountId)).flatMap((thread) => thread.messages).length;
      const until = async (check: () => Promise<boolean>, what: string) => {
        const deadline = Date.now() + 30_000;
        while (!(await check())) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      };
      await until(async () => (await count(demo.accounts.bakery.account.id)) === 3, "the bakery's mail");
      expect(await count(demo.accounts.rivera.account.id)).toBe(0);
      const maria = demo.accounts.rivera.links.find((link) => link.email.startsWith("maria"))!;
      await services.cm.updateLink(firmId, maria.id, { emailSync: true });
      await until(async () => (await count(demo.accounts.rivera.account.id)) === 3, "Maria's history");
    } finally {
      await services.close();
      await demo.close();
    }
  }, 90_000);
});
