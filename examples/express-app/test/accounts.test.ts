import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acmeAccount, rivalFirmOwner } from "./directory-fixture.js";
import { startTestApp, type TestApp } from "./harness.js";

describe("accounts API", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const smiths = {
    name: "The Smith Family",
    kind: "family",
    contacts: [
      {
        firstName: "Sam",
        lastName: "Smith",
        emails: [
          { email: " Sam@Smith.example ", login: true, emailSync: true },
          { email: "sam@work.example", notify: false },
        ],
      },
      { firstName: "Alex", lastName: "Smith", emails: [{ email: "alex@smith.example", notify: false }] },
    ],
  };

  it("T11, T12: the owner creates an account with contacts and their settings, addresses normalised", async () => {
    const owner = await t.as("owner");
    const res = await owner.post("/api/accounts").send(smiths).expect(201);
    expect(res.body).toMatchObject({
      account: { name: "The Smith Family", kind: "family" },
      portalStatus: "pending_activation",
      login: true,
      notify: true,
      emailSync: true,
      showsEmailTab: true,
      links: 3,
    });
    const sam = res.body.contacts.find(
      (c: { contact: { firstName: string } }) => c.contact.firstName === "Sam",
    );
    expect(sam.links.map((l: { email: string }) => l.email)).toEqual([
      "sam@smith.example",
      "sam@work.example",
    ]);
    expect(sam.links[0]).toMatchObject({ login: true, emailSync: true, invitation: { status: "pending" } });
  });

  it("T2: no answer shows an invitation token", async () => {
    const owner = await t.as("owner");
    const created = await owner
      .post("/api/accounts")
      .send({
        name: "Token Test",
        kind: "person",
        contacts: [{ firstName: "Tia", emails: [{ email: "tia@token.example", login: true }] }],
      })
      .expect(201);
    const overview = await t.services.cm.accountOverview(t.firm.id, created.body.account.id);
    const token = overview.links[0]!.invitation!.token;
    const info = await owner.get(`/api/accounts/${created.body.account.id}`).expect(200);
    const list = await owner.get("/api/accounts").expect(200);
    for (const answer of [created.body, info.body, list.body])
      expect(JSON.stringify(answer)).not.toContain(token);
    expect(info.body.contacts[0].links[0].invitation).toMatchObject({
      status: "pending",
      email: "tia@token.example",
    });
  });

  it("T12: a bad address anywhere is 400 naming the field, and nothing is saved", async () => {
    const owner = await t.as("owner");
    const before = (await t.services.cm.listAccounts(t.firm.id)).length;
    const bad = structuredClone(smiths);
    bad.name = "Half Saved";
    bad.contacts[1]!.emails[0]!.email = "alex@@smith";
    const res = await owner.post("/api/accounts").send(bad).expect(400);
    expect(res.body).toMatchObject({ code: "validation_failed", field: "contacts.1.emails.0.email" });
    const kind = await owner.post("/api/accounts").send({ name: "Kindless", kind: "company" }).expect(400);
    expect(kind.body).toMatchObject({ code: "validation_failed", field: "kind" });
    const empty = await owner.post("/api/accounts").expect(400);
    expect(empty.body).toMatchObject({ code: "validation_failed" });
    expect(empty.body.issues.map((i: { field: string }) => i.field)).toEqual(
      expect.arrayContaining(["name", "kind"]),
    );
    expect((await t.services.cm.listAccounts(t.firm.id)).length).toBe(before);
  });

  it("T3, T8: the list shows each account's portal status and whether login, notify and email sync are on", async () => {
    const acme = await acmeAccount(t, "list.example");
    const employee = await t.as("employee");
    const res = await employee.get("/api/accounts").expect(200);
    const row = res.body.accounts.find((a: { account: { id: string } }) => a.account.id === acme.account.id);
    expect(row).toEqual({
      account: expect.objectContaining({ name: "Acme Ltd (list.example)", kind: "business" }),
      portalStatus: "not_activated",
      login: false,
      notify: true,
      emailSync: false,
      showsEmailTab: false,
      links: 1,
    });
    const info = await employee.get(`/api/accounts/${acme.account.id}`).expect(200);
    expect(info.body.contacts).toEqual([
      {
        contact: expect.objectContaining({ id: acme.jo.contactId, firstName: "Jo", lastName: "Acme" }),
        links: [
          expect.objectContaining({ id: acme.jo.id, email: "jo@list.example", notify: true, login: false }),
        ],
      },
    ]);
  });

  it("employees read accounts and contacts but may not create, change or delete them (403 permission_denied)", async () => {
    const acme = await acmeAccount(t, "employee.example");
    const employee = await t.as("employee");
    await employee.get(`/api/contacts/${acme.jo.contactId}`).expect(200);
    await employee.get("/api/contacts").expect(200);
    const attempts = [
      employee.post("/api/accounts").send({ name: "Mine", kind: "person" }),
      employee.delete(`/api/accounts/${acme.account.id}`),
      employee.post(`/api/accounts/${acme.account.id}/contacts`).send({ firstName: "Kim" }),
      employee.post(`/api/contacts/${acme.jo.contactId}/addresses`).send({ email: "jo2@employee.example" }),
      employee.delete(`/api/contacts/${acme.jo.contactId}/addresses/jo@employee.example`),
      employee.delete(`/api/contacts/${acme.jo.contactId}`),
      employee.post(`/api/contacts/${acme.jo.contactId}/erase`),
    ];
    for (const attempt of attempts) {
      const res = await attempt.expect(403);
      expect(res.body.code).toBe("permission_denied");
    }
    expect((await t.services.cm.accountOverview(t.firm.id, acme.account.id)).links).toHaveLength(1);
  });

  it("T1, T11: an admin adds a contact, and links an existing contact to a second account with other settings", async () => {
    const admin = await t.as("admin");
    const acme = await acmeAccount(t, "family.example");
    const added = await admin
      .post(`/api/accounts/${acme.account.id}/contacts`)
      .send({ firstName: "Kim", lastName: "Lee", emails: [{ email: "kim@family.example", signatory: true }] })
      .expect(201);
    expect(added.body.contacts).toHaveLength(2);
    const home = await t.services.cm.createAccount(t.firm.id, { name: "Jo at home", kind: "person" });
    const linked = await admin
      .post(`/api/accounts/${home.account.id}/contacts/${acme.jo.contactId}`)
      .send({ email: "jo@family.example", notify: false, emailSync: true })
      .expect(201);
    expect(linked.body.link).toMatchObject({
      accountId: home.account.id,
      contactId: acme.jo.contactId,
      email: "jo@family.example",
      notify: false,
      emailSync: true,
    });
    // T1: the same contact and address keep their own settings in the first account.
    const first = await t.services.cm.accountOverview(t.firm.id, acme.account.id);
    expect(first.links.find((l) => l.id === acme.jo.id)).toMatchObject({ notify: true, emailSync: false });
    const bad = await admin
      .post(`/api/accounts/${home.account.id}/contacts/${acme.jo.contactId}`)
      .send({ email: "jo2@family.example", login: "yes" })
      .expect(400);
    expect(bad.body).toMatchObject({ code: "validation_failed", field: "login" });
    const noName = await admin
      .post(`/api/accounts/${acme.account.id}/contacts`)
      .send({ lastName: "X" })
      .expect(400);
    expect(noName.body).toMatchObject({ code: "validation_failed", field: "firstName" });
  });

  it("T12: adds an address to a contact in every account it is linked to, and removes it again", async () => {
    const owner = await t.as("owner");
    const acme = await acmeAccount(t, "address.example");
    const added = await owner
      .post(`/api/contacts/${acme.jo.contactId}/addresses`)
      .send({ email: "JO@Personal.example", emailSync: true })
      .expect(201);
    expect(added.body.links).toEqual([
      expect.objectContaining({ accountId: acme.account.id, email: "jo@personal.example", emailSync: true }),
    ]);
    const bad = await owner
      .post(`/api/contacts/${acme.jo.contactId}/addresses`)
      .send({ email: "jo@" })
      .expect(400);
    expect(bad.body).toMatchObject({ code: "validation_failed", field: "email" });
    const removed = await owner
      .delete(`/api/contacts/${acme.jo.contactId}/addresses/${encodeURIComponent("jo@personal.example")}`)
      .expect(200);
    expect(removed.body.links.map((l: { email: string }) => l.email)).toEqual(["jo@personal.example"]);
    await owner.delete(`/api/contacts/${acme.jo.contactId}/addresses/nobody%40personal.example`).expect(404);
    expect((await t.services.cm.accountOverview(t.firm.id, acme.account.id)).links).toHaveLength(1);
  });

  it("deletes a contact and an account; the second delete is 404", async () => {
    const owner = await t.as("owner");
    const acme = await acmeAccount(t, "delete.example");
    await owner.delete(`/api/contacts/${acme.jo.contactId}`).expect(204);
    await owner.get(`/api/contacts/${acme.jo.contactId}`).expect(404);
    await owner.delete(`/api/accounts/${acme.account.id}`).expect(204);
    const again = await owner.delete(`/api/accounts/${acme.account.id}`).expect(404);
    expect(again.body.code).toBe("not_found");
  });

  it("an admin erases a contact (the R10 call; its mail removal is proven in core): the report holds counts, the contact and its links are gone", async () => {
    const admin = await t.as("admin");
    const acme = await acmeAccount(t, "erase.example");
    const res = await admin.post(`/api/contacts/${acme.jo.contactId}/erase`).expect(200);
    expect(res.body.report).toMatchObject({
      contactId: acme.jo.contactId,
      links: 1,
      addresses: 1,
      messages: 0,
    });
    await admin.get(`/api/contacts/${acme.jo.contactId}`).expect(404);
    expect((await t.services.cm.accountOverview(t.firm.id, acme.account.id)).links).toEqual([]);
    const bad = await admin.post(`/api/contacts/${"x".repeat(300)}/erase`).expect(400);
    expect(bad.body).toMatchObject({ code: "validation_failed", field: "contactId" });
  });

  it("a member of another firm cannot read or change this firm's account or contact (404 not_found)", async () => {
    const acme = await acmeAccount(t, "rival.example");
    const rival = await rivalFirmOwner(t);
    const attempts = [
      rival.get(`/api/accounts/${acme.account.id}`),
      rival.delete(`/api/accounts/${acme.account.id}`),
      rival.post(`/api/accounts/${acme.account.id}/contacts`).send({ firstName: "Spy" }),
      rival.get(`/api/contacts/${acme.jo.contactId}`),
      rival.post(`/api/contacts/${acme.jo.contactId}/addresses`).send({ email: "spy@rival.example" }),
      rival.delete(`/api/contacts/${acme.jo.contactId}`),
      rival.post(`/api/contacts/${acme.jo.contactId}/erase`),
    ];
    for (const attempt of attempts) {
      const res = await attempt.expect(404);
      expect(res.body.code).toBe("not_found");
    }
    const list = await rival.get("/api/accounts").expect(200);
    expect(list.body.accounts).toEqual([]);
    const overview = await t.services.cm.accountOverview(t.firm.id, acme.account.id);
    expect(overview.links).toEqual([acme.jo]);
  });
});
