/**
 * The app in-process for API tests: the memory store, a temporary data folder, a firm with one
 * member of each role (password {@link password}), and supertest agents signed in as each.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Firm, MemberRole, TeamMember } from "@clientmail/core";
import { silentLogger } from "@clientmail/core";
import supertest from "supertest";
import type { Express } from "express";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { openServices, type ServiceOverrides, type Services } from "../src/services.js";

export const password = "correct horse battery";
/** The origin the test app believes it is served at. */
export const origin = "http://127.0.0.1:3000";

export interface TestApp {
  services: Services;
  app: Express;
  firm: Firm;
  members: Record<MemberRole, TeamMember>;
  /** A supertest agent holding the session of the member with this role. */
  as(role: MemberRole): Promise<supertest.Agent>;
  /** An agent with no session. */
  anonymous(): supertest.Agent;
  close(): Promise<void>;
}

/** Starts the app on the memory store with the firm "Ledger & Partners" and its three members. */
export async function startTestApp(
  env: Record<string, string> = {},
  overrides: ServiceOverrides = {},
): Promise<TestApp> {
  const dataDir = await mkdtemp(join(tmpdir(), "clientmail-app-"));
  const config = loadConfig({
    DEMO: "off",
    SESSION_SECRET: "s".repeat(40),
    KEYRING_KEYS: `k1:${"A".repeat(43)}`,
    DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    ...env,
  });
  const services = await openServices(config, { logger: silentLogger, ...overrides });
  const app = createApp(services);
  const firm = await services.cm.createFirm({
    name: "Ledger & Partners",
    internalDomains: ["ledger.example"],
  });
  const members = {} as Record<MemberRole, TeamMember>;
  for (const [role, name] of [
    ["owner", "Olivia Owner"],
    ["admin", "Adam Admin"],
    ["employee", "Emma Employee"],
  ] as const) {
    const added = await services.cm.addMember(firm.id, { name, email: `${role}@ledger.example`, role });
    await services.users.setPassword(added.email, { firmId: firm.id, memberId: added.id }, password);
    members[role] = added;
  }
  return {
    services,
    app,
    firm,
    members,
    async as(role) {
      const agent = supertest.agent(app);
      await agent
        .post("/api/session")
        .set("origin", origin)
        .send({ email: `${role}@ledger.example`, password })
        .expect(200);
      return agent;
    },
    anonymous: () => supertest.agent(app),
    async close() {
      await services.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
