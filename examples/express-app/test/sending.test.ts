import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { origin } from "./harness.js";
import { noDovecot, startMailWorld, type MailWorld } from "./mail-world.js";

/** Waits until `found` returns something (the workers send in the background). */
async function eventually<T>(
  found: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await found();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.skipIf(noDovecot)("sending API (SMTP relay into Dovecot, workers in process)", () => {
  let w: MailWorld;
  beforeAll(async () => {
    w = await startMailWorld();
    await w.t.services.cm.start();
  });
  afterAll(() => w?.close());

  const delivered = (marker: string) =>
    w.relay.accepted.find((m) => m.raw.toString("latin1").includes(marker));
  const compose = (extra: Record<string, unknown>) => ({
    mailboxId: w.adminBox.id,
    accountIds: [w.account.account.id],
    ...extra,
  });

  it("S1, S2, S3, P4: a member sends from their mailbox to an account; shortcodes are resolved, the signature added, the member recorded", async () => {
    const admin = await w.t.as("admin");
    await admin
      .patch(`/api/mailboxes/${w.adminBox.id}/settings`)
      .set("origin", origin)
      .send({ signatureHtml: "<p>Adam of Ledger</p>" })
      .expect(200);
    const codes = await admin.get("/api/send/shortcodes").expect(200);
    expect(codes.body.shortcodes).toContain("[CONTACT_FIRST_NAME]");
    const res = await admin
      .post("/api/send")
      .set("origin", origin)
      .send(
        compose({
          subject: "Your return [ACCOUNT_NAME] s1-marker",
          text: "Hello [CONTACT_FIRST_NAME], it is filed.",
          html: "<p>Hello [CONTACT_FIRST_NAME], it is filed.</p>",
        }),
      )
      .expect(201);
    expect(res.body.messages).toHaveLength(1);
    expect(res.body.messages[0]).toMatchObject({
      mailboxId: w.adminBox.id,
      actor: { kind: "member", memberId: w.t.members.admin.id },
    });
    const sent = await eventually(() => delivered("s1-marker"), "the message to reach the relay");
    expect(sent.to).toEqual(["jo@home.example"]);
    const raw = sent.raw.toString("latin1");
    expect(raw).toContain("Hello Jo, it is filed.");
    expect(raw).toContain("Jordan family");
    expect(raw).toContain("Adam of Ledger");
  });

  it("S1, S2: a bulk send to two accounts is one message per account, each personalised for its account", async () => {
    const bakery = await w.t.services.cm.createAccount(w.t.firm.id, {
      name: "Jordan Bakery",
      kind: "business",
      contacts: [{ firstName: "Jo", lastName: "Jordan", emails: [{ email: "jo@home.example" }] }],
    });
    const admin = await w.t.as("admin");
    const res = await admin
      .post("/api/send")
      .set("origin", origin)
      .send({
        mailboxId: w.adminBox.id,
        accountIds: [w.account.account.id, bakery.account.id],
        subject: "Season news for [ACCOUNT_NAME] bulk-marker",
        text: "Dear [CONTACT_FIRST_NAME] of [ACCOUNT_NAME].",
      })
      .expect(201);
    expect(res.body.messages).toHaveLength(2);
    expect(res.body.messages.map((m: { accountIds: string[] }) => m.accountIds).sort()).toEqual(
      [[w.account.account.id], [bakery.account.id]].sort(),
    );
    const both = await eventually(() => {
      const sent = w.relay.accepted.filter((m) => m.raw.toString("latin1").includes("bulk-marker"));
      return sent.length === 2 ? sent : undefined;
    }, "both bulk messages to be sent");
    const bodies = both.map((m) => m.raw.toString("latin1"));
    expect(bodies.filter((raw) => raw.includes("Dear Jo of Jordan family."))).toHaveLength(1);
    expect(bodies.filter((raw) => raw.includes("Dear Jo of Jordan Bakery."))).toHaveLength(1);
    for (const m of both) expect(m.to).toEqual(["jo@home.example"]);
  });

  it("S2: an unknown shortcode is refused at compose time (400 unknown_shortcode) and nothing is queued", async () => {
    const admin = await w.t.as("admin");
    const before = (await w.t.services.cm.scheduledView(w.t.firm.id, w.account.account.id)).length;
    const res = await admin
      .post("/api/send")
      .set("origin", origin)
      .send(compose({ subject: "Hi", text: "Dear [CONTACT_NICKNAME]", sendAt: "2099-01-01T09:00:00Z" }))
      .expect(400);
    expect(res.body.code).toBe("unknown_shortcode");
    expect((await w.t.services.cm.scheduledView(w.t.firm.id, w.account.account.id)).length).toBe(before);
  });

  it("answers bad compose input with 400 validation_failed naming the field", async () => {
    const admin = await w.t.as("admin");
    const when = await admin
      .post("/api/send")
      .set("origin", origin)
      .send(compose({ subject: "Hi", text: "x", sendAt: "tomorrow" }))
      .expect(400);
    expect(when.body).toMatchObject({ code: "validation_failed", field: "sendAt" });
    const accounts = await admin
      .post("/api/send")
      .set("origin", origin)
      .send({ mailboxId: w.adminBox.id, subject: "Hi", text: "x" })
      .expect(400);
    expect(accounts.body.field).toBe("accountIds");
    const to = await admin
      .post("/api/send")
      .set("origin", origin)
      .send(compose({ subject: "Hi", text: "x", to: ["not an address"] }))
      .expect(400);
    expect(to.body.field).toMatch(/^to/);
  });

  it("P1: an employee may not send from the admin's mailbox until its owner allows on-behalf sending", async () => {
    const employee = await w.t.as("employee");
    const refused = await employee
      .post("/api/send")
      .set("origin", origin)
      .send(compose({ subject: "From the employee", text: "x" }))
      .expect(403);
    expect(refused.body.code).toBe("permission_denied");
    const admin = await w.t.as("admin");
    await admin
      .patch(`/api/mailboxes/${w.adminBox.id}/settings`)
      .set("origin", origin)
      .send({ allowOthersToSend: true })
      .expect(200);
    const res = await employee
      .post("/api/send")
      .set("origin", origin)
      .send(compose({ subject: "From the employee p1-marker", text: "x" }))
      .expect(201);
    expect(res.body.messages[0].actor).toEqual({ kind: "member", memberId: w.t.members.employee.id });
    await eventually(() => delivered("p1-marker"), "the employee's message to be sent");
    await admin
      .patch(`/api/mailboxes/${w.adminBox.id}/settings`)
      .set("origin", origin)
      .send({ allowOthersToSend: false })
      .expect(200);
  });

  it("S4, H5: a scheduled message is listed under Scheduled, can be rescheduled and cancelled; a member without the mailbox cannot", async () => {
    const admin = await w.t.as("admin");
    const res = await admin
      .post("/api/send")
      .set("origin", origin)
      .send(compose({ subject: "Later", text: "x", sendAt: "2099-01-01T09:00:00Z" }))
      .expect(201);
    const id = res.body.messages[0].id as string;
    expect(res.body.messages[0].state).toBe("scheduled");
    const scheduledUrl = `/api/accounts/${w.account.account.id}/threads?view=scheduled`;
    const listed = await admin.get(scheduledUrl).expect(200);
    expect(listed.body.scheduled.map((s: { message: { id: string } }) => s.message.id)).toContain(id);
    const moved = await admin
      .patch(`/api/outbox/${id}`)
      .set("origin", origin)
      .send({ sendAt: "2099-02-01T09:00:00+01:00", subject: "Later still" })
      .expect(200);
    expect(new Date(moved.body.message.sendAt).toISOString()).toBe("2099-02-01T08:00:00.000Z");
    const badWhen = await admin
      .patch(`/api/outbox/${id}`)
      .set("origin", origin)
      .send({ sendAt: 5 })
      .expect(400);
    expect(badWhen.body.field).toBe("sendAt");
    const employee = await w.t.as("employee");
    const refused = await employee.delete(`/api/outbox/${id}`).set("origin", origin).expect(403);
    expect(refused.body.code).toBe("permission_denied");
    await admin.delete(`/api/outbox/${id}`).set("origin", origin).expect(204);
    const after = await admin.get(scheduledUrl).expect(200);
    expect(after.body.scheduled.map((s: { message: { id: string } }) => s.message.id)).not.toContain(id);
    const held = await admin
      .post(`/api/outbox/${id}/release`)
      .set("origin", origin)
      .send({ action: "resend" })
      .expect(409);
    expect(held.body.code).toBe("conflict");
    const badAction = await admin
      .post(`/api/outbox/${id}/release`)
      .set("origin", origin)
      .send({ action: "later" })
      .expect(400);
    expect(badAction.body.field).toBe("action");
  });

  it("S6, P3: a reply goes out from the mailbox the client wrote to, threaded with In-Reply-To, and shows in its thread once sent", async () => {
    const admin = await w.t.as("admin");
    const threads = await admin.get(`/api/accounts/${w.account.account.id}/threads?limit=100`).expect(200);
    const papers = threads.body.threads.find((t: { subject: string }) => t.subject === "Our papers");
    const res = await admin
      .post(`/api/threads/${papers.threadId}/reply`)
      .set("origin", origin)
      .send({ text: "Thank you, received. s6-marker" })
      .expect(201);
    expect(res.body.message.mailboxId).toBe(w.adminBox.id);
    const sent = await eventually(() => delivered("s6-marker"), "the reply to be sent");
    expect(sent.raw.toString("latin1")).toMatch(/In-Reply-To: <papers@home\.example>/i);
    // S5: filed into its thread as soon as it is sent, before any sync brings the copy back.
    const directions = await eventually(async () => {
      const view = await admin.get(`/api/threads/${papers.threadId}`).expect(200);
      const found = view.body.thread.messages.map((m: { direction: string }) => m.direction) as string[];
      return found.length > 1 ? found : undefined;
    }, "the reply to show in its thread");
    expect(directions).toEqual(["inbound", "outbound"]);
    const bad = await admin
      .post(`/api/threads/${papers.threadId}/reply`)
      .set("origin", origin)
      .send({ text: "x", replyAll: "yes" })
      .expect(400);
    expect(bad.body.field).toBe("replyAll");
  });

  it("T5: a system notification goes to the account's links with notify on; a bad category is refused naming the field", async () => {
    await w.t.services.cm.addContact(w.t.firm.id, w.account.account.id, {
      firstName: "Sam",
      lastName: "Jordan",
      emails: [{ email: "sam@home.example", notify: false }],
    });
    const admin = await w.t.as("admin");
    const res = await admin
      .post("/api/client-notifications")
      .set("origin", origin)
      .send(
        compose({
          category: "documents_uploads",
          subject: "New document t5-marker",
          text: "See the portal.",
        }),
      )
      .expect(201);
    expect(res.body.messages).toHaveLength(1);
    const sent = await eventually(() => delivered("t5-marker"), "the notification to be sent");
    expect(sent.to).toEqual(["jo@home.example"]);
    const bad = await admin
      .post("/api/client-notifications")
      .set("origin", origin)
      .send(compose({ category: "gossip", subject: "x", text: "x" }))
      .expect(400);
    expect(bad.body).toMatchObject({ code: "validation_failed", field: "category" });
  });

  it("refuses another firm's member: the firm's mailbox and threads are not theirs", async () => {
    const outsider = await w.outsider();
    // P1: the SDK finds no such mailbox in the outsider's firm and refuses the send.
    const send = await outsider
      .post("/api/send")
      .send(compose({ subject: "x", text: "x" }))
      .expect(403);
    expect(send.body.code).toBe("permission_denied");
    const threads = await (await w.t.as("admin")).get(`/api/accounts/${w.account.account.id}/threads`);
    await outsider
      .post(`/api/threads/${threads.body.threads[0].threadId}/reply`)
      .send({ text: "x" })
      .expect(404);
    await w.t
      .anonymous()
      .post("/api/send")
      .send(compose({ subject: "x", text: "x" }))
      .expect(401);
  });
});
