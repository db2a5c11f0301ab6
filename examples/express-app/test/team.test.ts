import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rivalFirmOwner } from "./directory-fixture.js";
import { origin, startTestApp, type TestApp } from "./harness.js";

describe("team API", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it("every role reads the firm and its team members", async () => {
    for (const role of ["owner", "admin", "employee"] as const) {
      const agent = await t.as(role);
      const firm = await agent.get("/api/firm").expect(200);
      expect(firm.body.firm).toMatchObject({ id: t.firm.id, name: "Ledger & Partners" });
      const list = await agent.get("/api/team/members").expect(200);
      expect(list.body.members.map((m: { role: string }) => m.role).sort()).toEqual(
        expect.arrayContaining(["admin", "employee", "owner"]),
      );
      const one = await agent.get(`/api/team/members/${t.members.admin.id}`).expect(200);
      expect(one.body.member).toMatchObject({ email: "admin@ledger.example", role: "admin" });
    }
    await t.anonymous().get("/api/firm").expect(401);
  });

  it("F2: the owner renames the firm and declares its domains, normalised; admins and employees are refused", async () => {
    const owner = await t.as("owner");
    const res = await owner
      .patch("/api/firm")
      .send({ name: "Ledger & Co", internalDomains: [" Ledger.Example ", "bücher.example"] })
      .expect(200);
    expect(res.body.firm).toMatchObject({
      name: "Ledger & Co",
      internalDomains: ["ledger.example", "xn--bcher-kva.example"],
      deletionMode: "mirror",
    });
    for (const role of ["admin", "employee"] as const) {
      const refused = await (await t.as(role)).patch("/api/firm").send({ name: "Mine now" }).expect(403);
      expect(refused.body.code).toBe("permission_denied");
    }
    expect((await t.services.cm.getFirm(t.firm.id)).name).toBe("Ledger & Co");
  });

  it("answers a bad firm change with 400 naming the field, and changes nothing", async () => {
    const owner = await t.as("owner");
    const before = await t.services.cm.getFirm(t.firm.id);
    const bad = await owner
      .patch("/api/firm")
      .send({ name: "Renamed", internalDomains: ["not a domain"] })
      .expect(400);
    expect(bad.body).toMatchObject({ code: "validation_failed", field: "internalDomains.0" });
    const empty = await owner.patch("/api/firm").send({}).expect(400);
    expect(empty.body.code).toBe("validation_failed");
    const unknown = await owner.patch("/api/firm").send({ id: "other" }).expect(400);
    expect(unknown.body.code).toBe("validation_failed");
    expect(await t.services.cm.getFirm(t.firm.id)).toEqual(before);
  });

  it("an admin adds an employee with an initial password, who can then sign in", async () => {
    const admin = await t.as("admin");
    const res = await admin
      .post("/api/team/members")
      .send({ name: "Nina New", email: " Nina@Ledger.example ", password: "initial password 1" })
      .expect(201);
    expect(res.body.member).toMatchObject({ email: "nina@ledger.example", role: "employee" });
    expect(JSON.stringify(res.body)).not.toContain("initial password");
    await t
      .anonymous()
      .post("/api/session")
      .send({ email: "nina@ledger.example", password: "initial password 1" })
      .expect(200);
  });

  it("only the owner adds an owner; employees add no one (403 permission_denied)", async () => {
    const admin = await t.as("admin");
    const asAdmin = await admin
      .post("/api/team/members")
      .send({
        name: "Otto Owner",
        email: "otto@ledger.example",
        role: "owner",
        password: "initial password 1",
      })
      .expect(403);
    expect(asAdmin.body).toMatchObject({ code: "permission_denied", field: "role" });
    const employee = await t.as("employee");
    const asEmployee = await employee
      .post("/api/team/members")
      .send({ name: "Eve", email: "eve@ledger.example", password: "initial password 1" })
      .expect(403);
    expect(asEmployee.body.code).toBe("permission_denied");
    const owner = await t.as("owner");
    await owner
      .post("/api/team/members")
      .send({
        name: "Otto Owner",
        email: "otto@ledger.example",
        role: "owner",
        password: "initial password 1",
      })
      .expect(201);
    const emails = (await t.services.cm.listMembers(t.firm.id)).map((m) => m.email);
    expect(emails).toContain("otto@ledger.example");
    expect(emails).not.toContain("eve@ledger.example");
  });

  it("answers a bad new member with 400 naming the field, and adds no one", async () => {
    const owner = await t.as("owner");
    const count = (await t.services.cm.listMembers(t.firm.id)).length;
    const email = await owner
      .post("/api/team/members")
      .send({ name: "Bad", email: "not-an-email", password: "initial password 1" })
      .expect(400);
    expect(email.body).toMatchObject({ code: "validation_failed", field: "email" });
    const short = await owner
      .post("/api/team/members")
      .send({ name: "Short", email: "short@ledger.example", password: "short" })
      .expect(400);
    expect(short.body).toMatchObject({ code: "validation_failed", field: "password" });
    const zone = await owner
      .post("/api/team/members")
      .send({
        name: "Zed",
        email: "zed@ledger.example",
        password: "initial password 1",
        timeZone: "Mars/Base",
      })
      .expect(400);
    expect(zone.body).toMatchObject({ code: "validation_failed", field: "timeZone" });
    expect((await t.services.cm.listMembers(t.firm.id)).length).toBe(count);
  });

  it("a new member never takes over an existing login, even another firm's (409 conflict)", async () => {
    const owner = await t.as("owner");
    await rivalFirmOwner(t);
    const res = await owner
      .post("/api/team/members")
      .send({ name: "Rita Again", email: "rita1@rival.example", password: "taken over 123" })
      .expect(409);
    expect(res.body).toMatchObject({ code: "conflict", field: "email" });
    await t
      .anonymous()
      .post("/api/session")
      .send({ email: "rita1@rival.example", password: "taken over 123" })
      .expect(401);
    const dup = await owner
      .post("/api/team/members")
      .send({ name: "Adam Again", email: "admin@ledger.example", password: "initial password 1" })
      .expect(409);
    expect(dup.body.code).toBe("conflict");
  });

  it("signing up a new firm never takes over an existing login (409 conflict)", async () => {
    const res = await t
      .anonymous()
      .post("/api/signup")
      .send({
        firmName: "Hijack Ltd",
        name: "Mallory",
        email: "Owner@Ledger.example",
        password: "taken over 123",
      })
      .expect(409);
    expect(res.body).toMatchObject({ code: "conflict", field: "email" });
    await t
      .anonymous()
      .post("/api/session")
      .send({ email: "owner@ledger.example", password: "taken over 123" })
      .expect(401);
    await (await t.as("owner")).get("/api/session").expect(200);
  });

  it("N1: each member changes their own notification settings, and only theirs", async () => {
    const employee = await t.as("employee");
    const res = await employee
      .patch("/api/team/me/notifications")
      .send({ newMailNotifications: "all", timeZone: "Europe/Paris" })
      .expect(200);
    expect(res.body.member).toMatchObject({
      id: t.members.employee.id,
      newMailNotifications: "all",
      timeZone: "Europe/Paris",
    });
    expect((await t.services.cm.getMember(t.firm.id, t.members.owner.id)).timeZone).toBe("UTC");
  });

  it("N1: answers bad notification settings with 400 naming the field", async () => {
    const employee = await t.as("employee");
    const zone = await employee
      .patch("/api/team/me/notifications")
      .send({ timeZone: "Mars/Base" })
      .expect(400);
    expect(zone.body).toMatchObject({ code: "validation_failed", field: "timeZone" });
    const kind = await employee
      .patch("/api/team/me/notifications")
      .send({ newMailNotifications: "sometimes" })
      .expect(400);
    expect(kind.body).toMatchObject({ code: "validation_failed", field: "newMailNotifications" });
    const other = await employee.patch("/api/team/me/notifications").send({ role: "owner" }).expect(400);
    expect(other.body.code).toBe("validation_failed");
    expect((await t.services.cm.getMember(t.firm.id, t.members.employee.id)).role).toBe("employee");
  });

  it("a member of another firm cannot read this firm's members (404 not_found)", async () => {
    const rival = await rivalFirmOwner(t);
    const res = await rival.get(`/api/team/members/${t.members.owner.id}`).expect(404);
    expect(res.body.code).toBe("not_found");
    const list = await rival.get("/api/team/members").expect(200);
    expect(list.body.members.map((m: { email: string }) => m.email)).not.toContain("owner@ledger.example");
  });

  it("refuses a team change from another origin (CSRF)", async () => {
    const owner = await t.as("owner");
    const res = await owner
      .patch("/api/firm")
      .set("origin", "https://evil.example")
      .send({ name: "X" })
      .expect(403);
    expect(res.body.code).toBe("csrf_failed");
    await owner.patch("/api/firm").set("origin", origin).send({ name: "Ledger & Co" }).expect(200);
  });
});

describe("team API on PostgreSQL", () => {
  let t: TestApp;
  beforeAll(async () => {
    const url = process.env.CLIENTMAIL_TEST_DATABASE_URL;
    if (!url) throw new Error("CLIENTMAIL_TEST_DATABASE_URL is not set: run the tests with `pnpm test`.");
    t = await startTestApp({ DATABASE_URL: url });
  });
  afterAll(() => t.close());

  it("an admin adds a member who signs in; a login that exists is never taken over (409 conflict)", async () => {
    const admin = await t.as("admin");
    const email = `pg-${Date.now()}-${Math.random().toString(36).slice(2)}@ledger.example`;
    const res = await admin
      .post("/api/team/members")
      .send({ name: "Pat Postgres", email, password: "initial password 1" })
      .expect(201);
    expect(res.body.member).toMatchObject({ email, role: "employee", firmId: t.firm.id });
    await t.anonymous().post("/api/session").send({ email, password: "initial password 1" }).expect(200);
    const taken = await admin
      .post("/api/team/members")
      .send({ name: "Pat Again", email: email.toUpperCase(), password: "taken over 123" })
      .expect(409);
    expect(taken.body).toMatchObject({ code: "conflict", field: "email" });
    await t.anonymous().post("/api/session").send({ email, password: "taken over 123" }).expect(401);
  });
});
