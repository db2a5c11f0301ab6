import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acmeAccount, rivalFirmOwner } from "./directory-fixture.js";
import { startTestApp, type TestApp } from "./harness.js";

const clientList = [
  "Account Name,Account Kind,First Name,Last Name,Email,Login,Notify,Email Sync,Signatory",
  "Brown Bakery,business,Bea,Brown,Bea@Brown.example,no,yes,yes,yes",
  "Brown Bakery,business,Bob,Brown,bob@brown.example,,,,",
  "Green Family,family,Gil,Green,gil@@green,no,yes,no,no",
  "Green Family,family,Gwen,Green,gwen@green.example,yes,yes,no,no",
].join("\n");

describe("bulk API", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it("T10: enables email sync for every contact of the chosen accounts; a missing account fails alone; the report is in Inbox+ (N4)", async () => {
    const one = await acmeAccount(t, "bulk-one.example");
    const two = await acmeAccount(t, "bulk-two.example");
    const admin = await t.as("admin");
    const res = await admin
      .post("/api/bulk/toggles")
      .send({
        accountIds: [one.account.id, "no-such-account", two.account.id],
        emailSync: "enable",
        notify: "disable",
      })
      .expect(200);
    expect(res.body.report).toMatchObject({
      accountsRequested: 3,
      accountsUpdated: 2,
      accountsFailed: 1,
      linksChanged: 2,
      errors: [expect.objectContaining({ accountId: "no-such-account", code: "not_found" })],
    });
    for (const account of [one, two]) {
      const overview = await t.services.cm.accountOverview(t.firm.id, account.account.id);
      expect(overview.links[0]).toMatchObject({ emailSync: true, notify: false, login: false });
    }
    const inbox = await t.services.cm.notifications(t.firm.id, t.members.admin.id);
    expect(inbox).toContainEqual(
      expect.objectContaining({
        kind: "bulk_update_report",
        payload: expect.objectContaining({ accountsUpdated: 2, accountsFailed: 1 }),
      }),
    );
  });

  it("T10: answers a bad bulk update with 400 naming the field, and changes nothing", async () => {
    const acme = await acmeAccount(t, "bulk-bad.example");
    const owner = await t.as("owner");
    const none = await owner.post("/api/bulk/toggles").send({ accountIds: [], login: "enable" }).expect(400);
    expect(none.body).toMatchObject({ code: "validation_failed", field: "accountIds" });
    const action = await owner
      .post("/api/bulk/toggles")
      .send({ accountIds: [acme.account.id], emailSync: "on" })
      .expect(400);
    expect(action.body).toMatchObject({ code: "validation_failed", field: "emailSync" });
    expect((await t.services.cm.accountOverview(t.firm.id, acme.account.id)).links).toEqual([acme.jo]);
  });

  it("employees may neither bulk update nor import (403 permission_denied)", async () => {
    const acme = await acmeAccount(t, "bulk-employee.example");
    const employee = await t.as("employee");
    const update = await employee
      .post("/api/bulk/toggles")
      .send({ accountIds: [acme.account.id], login: "enable" })
      .expect(403);
    expect(update.body.code).toBe("permission_denied");
    const imported = await employee.post("/api/bulk/import").send({ csv: clientList }).expect(403);
    expect(imported.body.code).toBe("permission_denied");
    expect((await t.services.cm.accountOverview(t.firm.id, acme.account.id)).links).toEqual([acme.jo]);
  });

  it("T10: another firm's bulk update cannot touch this firm's account (reported not_found, unchanged)", async () => {
    const acme = await acmeAccount(t, "bulk-rival.example");
    const rival = await rivalFirmOwner(t);
    const res = await rival
      .post("/api/bulk/toggles")
      .send({ accountIds: [acme.account.id], login: "enable", emailSync: "enable" })
      .expect(200);
    expect(res.body.report).toMatchObject({
      accountsUpdated: 0,
      accountsFailed: 1,
      errors: [expect.objectContaining({ accountId: acme.account.id, code: "not_found" })],
    });
    expect((await t.services.cm.accountOverview(t.firm.id, acme.account.id)).links).toEqual([acme.jo]);
  });

  it("T11: imports a client list sent as JSON; a bad row is reported by number and leaves nothing behind", async () => {
    const owner = await t.as("owner");
    const res = await owner.post("/api/bulk/import").send({ csv: clientList }).expect(200);
    expect(res.body.report).toMatchObject({ accountsCreated: 2, contactsCreated: 3, linksCreated: 3 });
    expect(res.body.report.rowErrors).toEqual([
      { row: 4, issues: [expect.objectContaining({ field: expect.stringMatching(/email$/) })] },
    ]);
    const accounts = await t.services.cm.listAccounts(t.firm.id);
    const bakery = accounts.find((a) => a.account.name === "Brown Bakery")!;
    expect(bakery.links.map((l) => [l.email, l.emailSync, l.signatory, l.notify])).toEqual([
      ["bea@brown.example", true, true, true],
      // An empty cell is "no", even for notify (which is on only when its column is left out).
      ["bob@brown.example", false, false, false],
    ]);
    const green = accounts.find((a) => a.account.name === "Green Family")!;
    expect(green.links.map((l) => l.email)).toEqual(["gwen@green.example"]);
    expect(green.portalStatus).toBe("pending_activation");
    const names = (await t.services.cm.listContacts(t.firm.id)).map((c) => c.firstName);
    expect(names).not.toContain("Gil");
  });

  it("T11: imports a client list sent as a text/csv body", async () => {
    const admin = await t.as("admin");
    const csv = "account_name,account_kind,first_name,email\nCsv Co,business,Cy,cy@csvco.example\n";
    const res = await admin.post("/api/bulk/import").set("content-type", "text/csv").send(csv).expect(200);
    expect(res.body.report).toEqual({
      accountsCreated: 1,
      contactsCreated: 1,
      linksCreated: 1,
      rowErrors: [],
    });
    const accounts = await t.services.cm.listAccounts(t.firm.id);
    expect(accounts.find((a) => a.account.name === "Csv Co")?.links[0]?.email).toBe("cy@csvco.example");
  });

  it("T11: answers an import without a file with 400 naming the field csv", async () => {
    const owner = await t.as("owner");
    const before = (await t.services.cm.listAccounts(t.firm.id)).length;
    const missing = await owner.post("/api/bulk/import").send({}).expect(400);
    expect(missing.body).toMatchObject({ code: "validation_failed", field: "csv" });
    const wrong = await owner.post("/api/bulk/import").send({ csv: 42 }).expect(400);
    expect(wrong.body).toMatchObject({ code: "validation_failed", field: "csv" });
    const empty = await owner.post("/api/bulk/import").set("content-type", "text/csv").send("").expect(400);
    expect(empty.body).toMatchObject({ code: "validation_failed", field: "csv" });
    expect((await t.services.cm.listAccounts(t.firm.id)).length).toBe(before);
  });
});
