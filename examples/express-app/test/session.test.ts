import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { origin, password, startTestApp, type TestApp } from "./harness.js";

describe("session API", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it("signs in with the right password and answers who is signed in", async () => {
    const agent = await t.as("admin");
    const me = await agent.get("/api/session").expect(200);
    expect(me.body.member).toMatchObject({ email: "admin@ledger.example", role: "admin" });
    expect(me.body.firm).toMatchObject({ id: t.firm.id });
    expect(typeof me.body.csrf).toBe("string");
  });

  it("refuses a wrong password with 401 unauthenticated, the same as an unknown email", async () => {
    const wrong = await t
      .anonymous()
      .post("/api/session")
      .send({ email: "admin@ledger.example", password: "nope" })
      .expect(401);
    const unknown = await t
      .anonymous()
      .post("/api/session")
      .send({ email: "who@ledger.example", password })
      .expect(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.code).toBe("unauthenticated");
  });

  it("answers bad input with 400 validation_failed naming the field", async () => {
    const res = await t.anonymous().post("/api/session").send({ email: "", password }).expect(400);
    expect(res.body).toMatchObject({ code: "validation_failed", field: "email" });
  });

  it("refuses the API without a session, and after signing out", async () => {
    await t.anonymous().get("/api/session").expect(401);
    const agent = await t.as("employee");
    await agent.delete("/api/session").set("origin", origin).expect(204);
    const after = await agent.get("/api/session").expect(401);
    expect(after.body.code).toBe("unauthenticated");
  });

  it("refuses an unsafe request from another origin (CSRF)", async () => {
    const res = await t
      .anonymous()
      .post("/api/session")
      .set("origin", "https://evil.example")
      .send({ email: "admin@ledger.example", password })
      .expect(403);
    expect(res.body.code).toBe("csrf_failed");
  });

  it("signs up a firm and its owner, and a bad owner leaves no firm behind", async () => {
    const bad = await t
      .anonymous()
      .post("/api/signup")
      .send({ firmName: "Acme Books", name: "Al", email: "not-an-email", password })
      .expect(400);
    expect(bad.body.field).toBe("owner.email");
    const agent = t.anonymous();
    const res = await agent
      .post("/api/signup")
      .send({ firmName: "Acme Books", name: "Al Acme", email: "al@acme.example", password })
      .expect(201);
    expect(res.body.member.role).toBe("owner");
    const me = await agent.get("/api/session").expect(200);
    expect(me.body.firm.name).toBe("Acme Books");
  });
});
