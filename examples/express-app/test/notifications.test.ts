import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { origin } from "./harness.js";
import { noDovecot, startMailWorld, type MailWorld } from "./mail-world.js";

interface Listed {
  id: string;
  kind: string;
  payload: Record<string, unknown>;
}

describe.skipIf(noDovecot)("notifications API (Inbox+ after a real sync)", () => {
  let w: MailWorld;
  beforeAll(async () => {
    w = await startMailWorld();
  });
  afterAll(() => w?.close());

  const list = async (role: "owner" | "admin" | "employee") =>
    (await (await w.t.as(role)).get("/api/notifications").expect(200)).body.notifications as Listed[];

  it("N1: client mail synced into the admin's mailbox notifies the admin; personal mail does not", async () => {
    const mail = (await list("admin")).filter((n) => n.kind === "new_client_mail");
    expect(mail.length).toBe(4);
    for (const n of mail) expect(n.payload.accountIds).toEqual([w.account.account.id]);
    expect(JSON.stringify(mail)).not.toContain("Dinner");
  });

  it("N2, N3: a member without a synced mailbox is told so; snoozing hides it and listing again does not bring it back", async () => {
    const notSynced = (await list("employee")).find((n) => n.kind === "email_not_synced");
    expect(notSynced).toBeDefined();
    const employee = await w.t.as("employee");
    const res = await employee
      .post(`/api/notifications/${notSynced!.id}/snooze`)
      .set("origin", origin)
      .expect(200);
    const until = new Date(res.body.notification.snoozedUntil).getTime();
    expect(until - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    expect(until - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    expect((await list("employee")).map((n) => n.id)).not.toContain(notSynced!.id);
    expect((await list("employee")).filter((n) => n.kind === "email_not_synced")).toEqual([]);
  });

  it("N3: dismissing hides a notification for good", async () => {
    const [first] = (await list("admin")).filter((n) => n.kind === "new_client_mail");
    const admin = await w.t.as("admin");
    await admin.post(`/api/notifications/${first!.id}/dismiss`).set("origin", origin).expect(204);
    expect((await list("admin")).map((n) => n.id)).not.toContain(first!.id);
    const again = await admin
      .post(`/api/notifications/${first!.id}/dismiss`)
      .set("origin", origin)
      .expect(404);
    expect(again.body.code).toBe("not_found");
  });

  it("answers a bad notification id with 400 validation_failed naming it", async () => {
    const admin = await w.t.as("admin");
    const res = await admin
      .post(`/api/notifications/${"n".repeat(201)}/snooze`)
      .set("origin", origin)
      .expect(400);
    expect(res.body).toMatchObject({ code: "validation_failed", field: "notificationId" });
  });

  it("refuses another member's notification (even to the owner) and another firm's member: not found", async () => {
    const [mine] = (await list("admin")).filter((n) => n.kind === "new_client_mail");
    const owner = await w.t.as("owner");
    await owner.post(`/api/notifications/${mine!.id}/dismiss`).set("origin", origin).expect(404);
    await owner.post(`/api/notifications/${mine!.id}/snooze`).set("origin", origin).expect(404);
    const outsider = await w.outsider();
    await outsider.post(`/api/notifications/${mine!.id}/dismiss`).expect(404);
    expect((await list("admin")).map((n) => n.id)).toContain(mine!.id);
    await w.t.anonymous().get("/api/notifications").expect(401);
  });
});
