import type { JobPayload, JobWorker } from "@clientmail/core/ports";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { acmeAccount, rivalFirmOwner } from "./directory-fixture.js";
import { startTestApp, type TestApp } from "./harness.js";

describe("links API", () => {
  let t: TestApp;
  /** The backfill jobs (T7, Y5) the queue was given, as a worker of the app would take them. */
  const backfills: JobPayload[] = [];
  let worker: JobWorker;
  beforeAll(async () => {
    t = await startTestApp();
    worker = await t.services.queue.work(
      {
        "backfill.addresses": async (job) => {
          backfills.push(job.payload);
        },
      },
      { pollIntervalMs: 20 },
    );
  });
  afterAll(async () => {
    await worker.stop();
    await t.close();
  });

  const pendingToken = async (accountId: string) =>
    (await t.services.cm.accountOverview(t.firm.id, accountId)).links[0]!.invitation!.token;

  it("T1, T7, T8: an employee turns email sync on for one link, which queues the backfill of that address and shows the Email tab", async () => {
    const acme = await acmeAccount(t, "sync.example");
    const employee = await t.as("employee");
    const res = await employee
      .patch(`/api/links/${acme.jo.id}`)
      .send({ emailSync: true, notify: false, notifyPreferences: { proposals: false } })
      .expect(200);
    expect(res.body.link).toMatchObject({
      id: acme.jo.id,
      emailSync: true,
      notify: false,
      login: false,
      signatory: false,
      notifyPreferences: expect.objectContaining({ proposals: false, invoices_and_payments: true }),
    });
    await vi.waitFor(() =>
      expect(backfills).toContainEqual({ firmId: t.firm.id, addresses: ["jo@sync.example"] }),
    );
    const info = await employee.get(`/api/accounts/${acme.account.id}`).expect(200);
    expect(info.body).toMatchObject({ emailSync: true, showsEmailTab: true, notify: false });
  });

  it("T7: a change that does not turn email sync on queues no backfill", async () => {
    const acme = await acmeAccount(t, "nosync.example");
    const owner = await t.as("owner");
    await owner.patch(`/api/links/${acme.jo.id}`).send({ signatory: true }).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(JSON.stringify(backfills)).not.toContain("nosync.example");
  });

  it("T2: turning login on invites; the client accepts with the token and the account is activated", async () => {
    const acme = await acmeAccount(t, "login.example");
    const admin = await t.as("admin");
    const on = await admin.patch(`/api/links/${acme.jo.id}`).send({ login: true }).expect(200);
    expect(on.body.link.invitation).toEqual({
      email: "jo@login.example",
      status: "pending",
      sentAt: expect.any(String),
    });
    const token = await pendingToken(acme.account.id);
    expect(JSON.stringify(on.body)).not.toContain(token);
    expect((await admin.get(`/api/accounts/${acme.account.id}`)).body.portalStatus).toBe(
      "pending_activation",
    );

    const accepted = await t
      .anonymous()
      .post("/api/invitations/accept")
      .send({ firmId: t.firm.id, token })
      .expect(200);
    expect(accepted.body).toEqual({
      accountId: acme.account.id,
      email: "jo@login.example",
      status: "accepted",
    });
    expect((await admin.get(`/api/accounts/${acme.account.id}`)).body.portalStatus).toBe("activated");

    const again = await t.anonymous().post("/api/invitations/accept").send({ firmId: t.firm.id, token });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("conflict");
    const unknown = await t
      .anonymous()
      .post("/api/invitations/accept")
      .send({ firmId: t.firm.id, token: "not-a-token" })
      .expect(404);
    expect(unknown.body.code).toBe("not_found");
  });

  it("T2: answers a bad acceptance with 400 naming the field", async () => {
    const res = await t.anonymous().post("/api/invitations/accept").send({ firmId: t.firm.id }).expect(400);
    expect(res.body).toMatchObject({ code: "validation_failed", field: "token" });
  });

  it("T4: changing an address before acceptance invalidates the token and invites the new address", async () => {
    const acme = await acmeAccount(t, "old.example");
    const owner = await t.as("owner");
    await owner.patch(`/api/links/${acme.jo.id}`).send({ login: true }).expect(200);
    const oldToken = await pendingToken(acme.account.id);
    const res = await owner
      .put(`/api/links/${acme.jo.id}/email`)
      .send({ email: " Jo@New.example " })
      .expect(200);
    expect(res.body.link).toMatchObject({
      id: acme.jo.id,
      email: "jo@new.example",
      login: true,
      invitation: { email: "jo@new.example", status: "pending" },
    });
    const refused = await t
      .anonymous()
      .post("/api/invitations/accept")
      .send({ firmId: t.firm.id, token: oldToken });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(["conflict", "not_found"]).toContain(refused.body.code);
    const newToken = await pendingToken(acme.account.id);
    expect(newToken).not.toBe(oldToken);
    await t
      .anonymous()
      .post("/api/invitations/accept")
      .send({ firmId: t.firm.id, token: newToken })
      .expect(200);
    const bad = await owner.put(`/api/links/${acme.jo.id}/email`).send({ email: "jo at new" }).expect(400);
    expect(bad.body).toMatchObject({ code: "validation_failed", field: "email" });
  });

  it("T4: replacing an activated address keeps the old one as an unlinked email until its login is turned off", async () => {
    const acme = await acmeAccount(t, "activated.example");
    const admin = await t.as("admin");
    await admin.patch(`/api/links/${acme.jo.id}`).send({ login: true }).expect(200);
    const token = await pendingToken(acme.account.id);
    await t.anonymous().post("/api/invitations/accept").send({ firmId: t.firm.id, token }).expect(200);
    await admin.put(`/api/links/${acme.jo.id}/email`).send({ email: "jo@replaced.example" }).expect(200);
    const info = await admin.get(`/api/accounts/${acme.account.id}`).expect(200);
    expect(info.body.portalStatus).toBe("activated");
    const links = info.body.contacts[0].links as Array<{ id: string; email: string; unlinkedAt?: string }>;
    const unlinked = links.find((l) => l.unlinkedAt)!;
    expect(unlinked).toMatchObject({ email: "jo@activated.example", login: true, emailSync: false });
    expect(links.find((l) => l.id === acme.jo.id)).toMatchObject({ email: "jo@replaced.example" });
    // The only change an unlinked email takes is login off, which removes it.
    const refused = await admin.patch(`/api/links/${unlinked.id}`).send({ emailSync: true }).expect(400);
    expect(refused.body.code).toBe("validation_failed");
    await admin.patch(`/api/links/${unlinked.id}`).send({ login: false }).expect(200);
    const after = await admin.get(`/api/accounts/${acme.account.id}`).expect(200);
    expect(after.body.contacts[0].links.map((l: { email: string }) => l.email)).toEqual([
      "jo@replaced.example",
    ]);
  });

  it("answers bad toggles with 400 naming the field, and changes nothing", async () => {
    const acme = await acmeAccount(t, "badtoggle.example");
    const employee = await t.as("employee");
    const word = await employee
      .patch(`/api/links/${acme.jo.id}`)
      .send({ emailSync: "yes", login: true })
      .expect(400);
    expect(word.body).toMatchObject({ code: "validation_failed", field: "emailSync" });
    const category = await employee
      .patch(`/api/links/${acme.jo.id}`)
      .send({ notifyPreferences: { horoscopes: true } })
      .expect(400);
    expect(category.body).toMatchObject({ code: "validation_failed" });
    expect(category.body.field).toMatch(/^notifyPreferences/);
    const address = await employee
      .patch(`/api/links/${acme.jo.id}`)
      .send({ email: "x@y.example" })
      .expect(400);
    expect(address.body.code).toBe("validation_failed");
    const link = (await t.services.cm.accountOverview(t.firm.id, acme.account.id)).links[0];
    expect(link).toEqual(acme.jo);
  });

  it("employees toggle but may not change a link's address or delete it (403 permission_denied)", async () => {
    const acme = await acmeAccount(t, "roles.example");
    const employee = await t.as("employee");
    const address = await employee
      .put(`/api/links/${acme.jo.id}/email`)
      .send({ email: "jo@else.example" })
      .expect(403);
    expect(address.body.code).toBe("permission_denied");
    const del = await employee.delete(`/api/links/${acme.jo.id}`).expect(403);
    expect(del.body.code).toBe("permission_denied");
    const admin = await t.as("admin");
    await admin.delete(`/api/links/${acme.jo.id}`).expect(204);
    await admin.patch(`/api/links/${acme.jo.id}`).send({ notify: false }).expect(404);
  });

  it("a member of another firm cannot change this firm's links (404 not_found), and nothing changes", async () => {
    const acme = await acmeAccount(t, "rivallink.example");
    const rival = await rivalFirmOwner(t);
    const attempts = [
      rival.patch(`/api/links/${acme.jo.id}`).send({ emailSync: true, login: true }),
      rival.put(`/api/links/${acme.jo.id}/email`).send({ email: "spy@rival.example" }),
      rival.delete(`/api/links/${acme.jo.id}`),
    ];
    for (const attempt of attempts) {
      const res = await attempt.expect(404);
      expect(res.body.code).toBe("not_found");
    }
    expect((await t.services.cm.accountOverview(t.firm.id, acme.account.id)).links).toEqual([acme.jo]);
    expect(JSON.stringify(backfills)).not.toContain("rivallink.example");
  });

  it("an invitation token is only good in its own firm", async () => {
    const acme = await acmeAccount(t, "crossfirm.example");
    const owner = await t.as("owner");
    await owner.patch(`/api/links/${acme.jo.id}`).send({ login: true }).expect(200);
    const token = await pendingToken(acme.account.id);
    const other = await t.services.cm.createFirm({ name: "Elsewhere" });
    await t.anonymous().post("/api/invitations/accept").send({ firmId: other.id, token }).expect(404);
    expect((await t.services.cm.accountOverview(t.firm.id, acme.account.id)).portalStatus).toBe(
      "pending_activation",
    );
  });
});
