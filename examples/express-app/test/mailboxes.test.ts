import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { origin } from "./harness.js";
import { noDovecot, startMailWorld, type MailWorld } from "./mail-world.js";

describe.skipIf(noDovecot)("mailboxes API (IMAP mailboxes on Dovecot)", () => {
  let w: MailWorld;
  beforeAll(async () => {
    w = await startMailWorld();
  });
  afterAll(() => w?.close());

  const url = (id: string, action = "") => `/api/mailboxes/${id}${action}`;
  type View = { id: string; state?: { status: string }; lastSyncedAt?: string; canSend: boolean };
  const byId = (list: View[], id: string) => list.find((m) => m.id === id);

  it("N5: owners and admins see every mailbox with its sync state and last sync; an employee sees none of others'", async () => {
    const admin = await w.t.as("admin");
    const res = await admin.get("/api/mailboxes").expect(200);
    expect(res.body.mailboxes.map((m: { address: string }) => m.address)).toEqual([
      "admin@ledger.example",
      "support@ledger.example",
    ]);
    const own = byId(res.body.mailboxes, w.adminBox.id)!;
    expect(own).toMatchObject({ state: { status: "live" }, connected: true, canSend: true });
    expect(typeof own.lastSyncedAt).toBe("string");
    expect(byId(res.body.mailboxes, w.supportBox.id)).toMatchObject({
      connected: false,
      canSend: false,
      state: { status: "live" },
    });
    const employee = await w.t.as("employee");
    expect((await employee.get("/api/mailboxes").expect(200)).body.mailboxes).toEqual([]);
    const refused = await employee.get(url(w.adminBox.id)).expect(403);
    expect(refused.body.code).toBe("permission_denied");
  });

  it("Y3, P1: only the mailbox's owner changes its settings; allowing on-behalf sending shows it to employees without its state", async () => {
    const owner = await w.t.as("owner");
    const refused = await owner
      .patch(url(w.adminBox.id, "/settings"))
      .set("origin", origin)
      .send({ allowOthersToSend: true })
      .expect(403);
    expect(refused.body.code).toBe("permission_denied");
    const admin = await w.t.as("admin");
    const bad = await admin
      .patch(url(w.adminBox.id, "/settings"))
      .set("origin", origin)
      .send({ signatureHtml: 5 })
      .expect(400);
    expect(bad.body).toMatchObject({ code: "validation_failed", field: "signatureHtml" });
    const unknown = await admin
      .patch(url(w.adminBox.id, "/settings"))
      .set("origin", origin)
      .send({ colour: "blue" })
      .expect(400);
    expect(unknown.body.code).toBe("validation_failed");
    const saved = await admin
      .patch(url(w.adminBox.id, "/settings"))
      .set("origin", origin)
      .send({ allowOthersToSend: true, autoSaveAttachments: true, signatureHtml: "<p>Adam, Ledger</p>" })
      .expect(200);
    expect(saved.body.mailbox.settings).toEqual({
      allowOthersToSend: true,
      autoSaveAttachments: true,
      signatureHtml: "<p>Adam, Ledger</p>",
    });
    const employee = await w.t.as("employee");
    const seen = byId((await employee.get("/api/mailboxes").expect(200)).body.mailboxes, w.adminBox.id)!;
    expect(seen).toMatchObject({ connected: false, canSend: true });
    expect(seen).not.toHaveProperty("state");
    expect(seen).not.toHaveProperty("settings");
  });

  it("P1: the shared mailbox's owner adds a member, who then sees it and may send from it; an employee cannot add themselves", async () => {
    const employee = await w.t.as("employee");
    // Not shared with the employee: not even visible.
    await employee.post(url(w.supportBox.id, "/members")).set("origin", origin).send({}).expect(403);
    const owner = await w.t.as("owner");
    const bad = await owner
      .post(url(w.supportBox.id, "/members"))
      .set("origin", origin)
      .send({ memberId: "" })
      .expect(400);
    expect(bad.body).toMatchObject({ code: "validation_failed", field: "memberId" });
    const joined = await owner
      .post(url(w.supportBox.id, "/members"))
      .set("origin", origin)
      .send({ memberId: w.t.members.employee.id })
      .expect(200);
    expect(joined.body.mailbox.connections.map((c: { memberId: string }) => c.memberId)).toContain(
      w.t.members.employee.id,
    );
    const seen = byId((await employee.get("/api/mailboxes").expect(200)).body.mailboxes, w.supportBox.id)!;
    expect(seen).toMatchObject({ connected: true, canSend: true, state: { status: "live" } });
    // Connected to it, but not its owner: adding others stays the owner's or an admin's.
    const refused = await employee
      .post(url(w.supportBox.id, "/members"))
      .set("origin", origin)
      .send({ memberId: w.t.members.admin.id })
      .expect(403);
    expect(refused.body.code).toBe("permission_denied");
  });

  it("sync now and the completeness re-check run for members who connected the mailbox or admins; others are refused", async () => {
    const employee = await w.t.as("employee");
    // The admin's mailbox is visible to the employee (on-behalf sending) but not theirs to sync.
    await employee.post(url(w.adminBox.id, "/sync")).set("origin", origin).expect(403);
    await employee.post(url(w.adminBox.id, "/resync")).set("origin", origin).expect(403);
    await employee.post(url(w.supportBox.id, "/sync")).set("origin", origin).expect(202);
    const admin = await w.t.as("admin");
    const res = await admin.post(url(w.adminBox.id, "/resync")).set("origin", origin).expect(200);
    expect(res.body.verification).toMatchObject({ complete: true, missing: 0 });
    expect(res.body.mailbox.verification).toMatchObject({ complete: true });
    const badId = await admin
      .post(url("x".repeat(201), "/sync"))
      .set("origin", origin)
      .expect(400);
    expect(badId.body).toMatchObject({ code: "validation_failed", field: "mailboxId" });
  });

  it("Y4: stopping sync is refused to an employee; its owner stops it, is warned about automations, and filed mail stays", async () => {
    const employee = await w.t.as("employee");
    const refused = await employee.post(url(w.adminBox.id, "/stop")).set("origin", origin).expect(403);
    expect(refused.body.code).toBe("permission_denied");
    const admin = await w.t.as("admin");
    const res = await admin.post(url(w.adminBox.id, "/stop")).set("origin", origin).expect(200);
    expect(res.body.warning).toMatch(/Automations that send through admin@ledger\.example will stop working/);
    expect(res.body.mailbox.state).toMatchObject({ status: "stopped", reason: "disconnected_by_user" });
    expect(res.body.mailbox.canSend).toBe(false);
    const again = await admin.post(url(w.adminBox.id, "/sync")).set("origin", origin).expect(409);
    expect(again.body.code).toBe("mailbox_unavailable");
    const threads = await admin.get(`/api/accounts/${w.account.account.id}/threads`).expect(200);
    expect(threads.body.threads.length).toBeGreaterThan(0);
  });

  it("refuses another firm's member: the firm's mailboxes are not found", async () => {
    const outsider = await w.outsider();
    expect((await outsider.get("/api/mailboxes").expect(200)).body.mailboxes).toEqual([]);
    await outsider.get(url(w.supportBox.id)).expect(404);
    await outsider.post(url(w.supportBox.id, "/stop")).expect(404);
    await outsider.patch(url(w.supportBox.id, "/settings")).send({ allowOthersToSend: true }).expect(404);
    await w.t.anonymous().get("/api/mailboxes").expect(401);
  });
});
