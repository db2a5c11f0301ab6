/**
 * Connecting on PostgreSQL (issue 13: the app with DATABASE_URL): the OAuth flows' pending
 * states live in a table of the app's, as keyring ciphertext, and are taken once even when two
 * callbacks race; the Gmail push directory is a table too; a Graph notification with the right
 * clientState reaches the Postgres job queue from a process that runs no workers.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { createGmailFake } from "@clientmail/testkit";
import { freshDatabase } from "../../../test/support/postgres.js";
import { startTestApp, type TestApp } from "./harness.js";

describe("connect on PostgreSQL", () => {
  let t: TestApp;
  let pool: pg.Pool;
  const google = createGmailFake();

  beforeAll(async () => {
    google.addUser("employee@ledger.example");
    const url = await freshDatabase("app_connect");
    pool = new pg.Pool({ connectionString: url, max: 2 });
    t = await startTestApp(
      {
        DATABASE_URL: url,
        GOOGLE_CLIENT_ID: google.oauthClient.clientId,
        GOOGLE_CLIENT_SECRET: google.oauthClient.clientSecret,
      },
      { fetch: google.fetch },
    );
  });
  afterAll(async () => {
    await t.close();
    await pool.end();
  });

  it("Y1: the pending state is kept encrypted in PostgreSQL and works once; the Google flow connects the mailbox", async () => {
    const employee = await t.as("employee");
    const start = await employee.get("/connect/google").expect(303);
    const consent = new URL(start.headers.location!);
    const state = consent.searchParams.get("state")!;
    const { rows } = await pool.query<{ pending: string }>(
      "SELECT pending FROM example_app_oauth_states WHERE state = $1",
      [state],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.pending).not.toContain("codeVerifier");
    expect(rows[0]!.pending).not.toContain("redirectUri");

    const code = google.approveConsent("employee@ledger.example", consent);
    const callback = `/connect/google/callback?state=${encodeURIComponent(state)}&code=${encodeURIComponent(code)}`;
    await employee.get(callback).expect(303);
    await employee.get(callback).set("accept", "application/json").expect(400);
    const mailboxes = await t.services.store.listMailboxes(t.firm.id);
    expect(mailboxes.map((m) => [m.provider, m.address])).toContainEqual([
      "gmail",
      "employee@ledger.example",
    ]);
    expect(await t.services.gmailPush.firmsOf("Employee@Ledger.example")).toEqual([t.firm.id]);
    expect(
      (await pool.query("SELECT 1 FROM example_app_oauth_states WHERE state = $1", [state])).rowCount,
    ).toBe(0);
  });

  it("Y1: two callbacks racing for one state: exactly one takes it", async () => {
    const states = t.services.authorizationStates;
    const pending = {
      codeVerifier: "v".repeat(43),
      redirectUri: "https://crm.example/cb",
      context: { firmId: "f" },
    };
    await states.put("race-state", pending, new Date(Date.now() + 60_000));
    const taken = await Promise.all([
      states.take("race-state"),
      states.take("race-state"),
      states.take("race-state"),
    ]);
    expect(taken.filter(Boolean)).toEqual([pending]);
    await states.put("old-state", pending, new Date(Date.now() - 1_000));
    expect(await states.take("old-state")).toBeUndefined();
  });

  it("Y2: a Graph notification with the right clientState becomes one keyed sync job in the Postgres queue; a wrong one none", async () => {
    const { store, queue } = t.services;
    const mailbox = await store.createMailbox(
      t.firm.id,
      {
        provider: "graph",
        address: "admin@ledger.example",
        displayName: "Adam",
        ownerMemberId: t.members.admin.id,
        settings: { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" },
      },
      new Date(),
    );
    await store.putPushRegistration(t.firm.id, {
      mailboxId: mailbox.id,
      subscriptionId: "pg-sub",
      provider: "graph",
      resource: "/me/mailFolders('inbox')/messages",
      secretHash: createHash("sha256").update("pg-client-state").digest("hex"),
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    const item = (clientState: string) => ({
      value: [{ subscriptionId: "pg-sub", clientState, changeType: "created" }],
    });
    const before = (await queue.stats()).waiting;
    await t.anonymous().post(`/push/graph?firm=${t.firm.id}`).send(item("guess")).expect(202);
    expect((await queue.stats()).waiting).toBe(before);
    await t.anonymous().post(`/push/graph?firm=${t.firm.id}`).send(item("pg-client-state")).expect(202);
    await t.anonymous().post(`/push/graph?firm=${t.firm.id}`).send(item("pg-client-state")).expect(202);
    expect((await queue.stats()).waiting).toBe(before + 1);
  });
});
