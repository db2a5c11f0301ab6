import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noDovecot, startMailWorld, type MailWorld } from "./mail-world.js";

/** A client message over 64 KiB: the employee's mailbox (limit 64 KiB) quarantines it (R7, R2). */
const largeMessage = [
  "From: Jo Jordan <jo@home.example>",
  "To: Emma Employee <employee@ledger.example>",
  "Subject: Scans",
  "Date: Tue, 01 Dec 2026 09:00:00 +0000",
  "Message-ID: <scans@home.example>",
  "Content-Type: text/plain; charset=utf-8",
  "",
  "x".repeat(70 * 1024),
  "",
].join("\r\n");

describe.skipIf(noDovecot)("sync status API (IMAP mailboxes on Dovecot)", () => {
  let w: MailWorld;
  let employeeBoxId: string;
  beforeAll(async () => {
    w = await startMailWorld();
    const box = await w.addMailbox(w.t.members.employee.id, "employee@ledger.example", [largeMessage], {
      maxMessageBytes: 64 * 1024,
    });
    employeeBoxId = box.id;
    await w.sync(box);
  });
  afterAll(() => w?.close());

  it("N5: owners and admins see whether each member is synced, each mailbox's state, last sync and quarantine count", async () => {
    for (const role of ["owner", "admin"] as const) {
      const agent = await w.t.as(role);
      const res = await agent.get("/api/sync/team").expect(200);
      const byEmail = Object.fromEntries(
        res.body.members.map((m: { email: string }) => [m.email, m] as const),
      ) as Record<string, { synced: boolean; mailboxes: Record<string, unknown>[] }>;
      expect(Object.keys(byEmail).sort()).toEqual([
        "admin@ledger.example",
        "employee@ledger.example",
        "owner@ledger.example",
      ]);
      expect(byEmail["admin@ledger.example"]).toMatchObject({
        synced: true,
        mailboxes: [{ address: "admin@ledger.example", state: { status: "live" }, quarantined: 0 }],
      });
      expect(typeof byEmail["admin@ledger.example"]!.mailboxes[0]!.lastSyncedAt).toBe("string");
      expect(byEmail["employee@ledger.example"]!.mailboxes).toEqual([
        expect.objectContaining({ mailboxId: employeeBoxId, quarantined: 1 }),
      ]);
    }
  });

  it("R2: owners and admins list quarantined messages with their reason and mailbox, filtered by mailbox", async () => {
    const admin = await w.t.as("admin");
    const all = await admin.get("/api/sync/quarantine").expect(200);
    expect(all.body.entries).toHaveLength(1);
    expect(all.body.entries[0]).toMatchObject({ mailboxId: employeeBoxId });
    expect(JSON.stringify(all.body.entries[0])).toMatch(/too_large/);
    const other = await admin.get("/api/sync/quarantine").query({ mailboxId: w.adminBox.id }).expect(200);
    expect(other.body.entries).toEqual([]);
    const bad = await admin.get("/api/sync/quarantine").query({ mailboxId: "" }).expect(400);
    expect(bad.body).toMatchObject({ code: "validation_failed", field: "mailboxId" });
    const unknown = await admin.get("/api/sync/quarantine").query({ folder: "INBOX" }).expect(400);
    expect(unknown.body.code).toBe("validation_failed");
  });

  it("N5, R2: an employee is refused the team's status and the quarantine (403), another firm sees only its own", async () => {
    const employee = await w.t.as("employee");
    const team = await employee.get("/api/sync/team").expect(403);
    expect(team.body.code).toBe("permission_denied");
    const quarantine = await employee.get("/api/sync/quarantine").expect(403);
    expect(quarantine.body.code).toBe("permission_denied");
    const outsider = await w.outsider();
    const theirs = await outsider.get("/api/sync/team").expect(200);
    expect(theirs.body.members.map((m: { email: string }) => m.email)).not.toContain("admin@ledger.example");
    expect((await outsider.get("/api/sync/quarantine").expect(200)).body.entries).toEqual([]);
    await w.t.anonymous().get("/api/sync/team").expect(401);
  });
});
