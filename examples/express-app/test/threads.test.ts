import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { origin } from "./harness.js";
import { noDovecot, pdfText, pngBase64, startMailWorld, type MailWorld } from "./mail-world.js";

describe.skipIf(noDovecot)("threads API (client mail synced from Dovecot)", () => {
  let w: MailWorld;
  beforeAll(async () => {
    w = await startMailWorld();
  });
  afterAll(() => w?.close());

  const threadsUrl = () => `/api/accounts/${w.account.account.id}/threads`;
  const papersThread = async () => {
    const agent = await w.t.as("employee");
    const res = await agent.get(threadsUrl()).query({ limit: 100 }).expect(200);
    return res.body.threads.find((t: { subject: string }) => t.subject === "Our papers");
  };

  it("F1, H5: the Email tab lists the synced client threads newest first, without bodies, and no personal mail", async () => {
    const agent = await w.t.as("employee");
    const res = await agent.get(threadsUrl()).expect(200);
    const subjects = res.body.threads.map((t: { subject: string }) => t.subject);
    expect(subjects).toEqual(["Our papers", "Question 3", "Question 2", "Question 1"]);
    expect(JSON.stringify(res.body)).not.toContain("Dinner");
    expect(JSON.stringify(res.body)).not.toContain("<script");
    expect(res.body.threads[0]).toMatchObject({ messageCount: 1, messages: [{ attachments: 2 }] });
    expect(res.body.nextCursor).toBeNull();
  });

  it("H5: pages with a cursor, never repeating a thread, and refuses a cursor of another listing", async () => {
    const agent = await w.t.as("admin");
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const res = await agent
        .get(threadsUrl())
        .query({ limit: 1, ...(cursor ? { cursor } : {}) })
        .expect(200);
      expect(res.body.threads).toHaveLength(1);
      seen.push(res.body.threads[0].threadId);
      cursor = res.body.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toHaveLength(4);
    expect(new Set(seen).size).toBe(4);
    const first = await agent.get(threadsUrl()).query({ limit: 1 }).expect(200);
    const wrong = await agent
      .get(threadsUrl())
      .query({ view: "sent", cursor: first.body.nextCursor })
      .expect(400);
    expect(wrong.body).toMatchObject({ code: "validation_failed", field: "cursor" });
  });

  it("answers bad paging input with 400 validation_failed naming the field", async () => {
    const agent = await w.t.as("employee");
    const limit = await agent.get(threadsUrl()).query({ limit: 0 }).expect(400);
    expect(limit.body).toMatchObject({ code: "validation_failed", field: "limit" });
    const view = await agent.get(threadsUrl()).query({ view: "trash" }).expect(400);
    expect(view.body).toMatchObject({ code: "validation_failed", field: "view" });
    const inbox = await agent.get("/api/inbox-plus").query({ limit: 1000 }).expect(400);
    expect(inbox.body.field).toBe("limit");
  });

  it("a thread's messages are sanitised: no script, remote images blocked unless asked, cid: images served by the app", async () => {
    const agent = await w.t.as("employee");
    const { threadId } = await papersThread();
    const res = await agent.get(`/api/threads/${threadId}`).expect(200);
    const [message] = res.body.thread.messages;
    expect(message.body.html).toContain("Hello Adam, here are our papers.");
    expect(message.body.html).not.toContain("<script");
    expect(message.body.html).not.toContain("tracker.example");
    expect(message.body.blockedRemoteImages).toBe(1);
    expect(message.body.html).toContain(`/api/messages/${message.id}/attachments/`);
    expect(message).not.toHaveProperty("html");
    const allowed = await agent.get(`/api/threads/${threadId}`).query({ images: "allow" }).expect(200);
    expect(allowed.body.thread.messages[0].body.html).toContain("https://tracker.example/p.gif");
    expect(allowed.body.thread.messages[0].body.html).not.toContain("<script");
    const bad = await agent.get(`/api/threads/${threadId}`).query({ images: "yes" }).expect(400);
    expect(bad.body.field).toBe("images");
  });

  it("R11: attachments download exactly as sent (raster images inline, others as downloads) and the message exports as .eml", async () => {
    const agent = await w.t.as("employee");
    const { messages } = await papersThread();
    const rendered = await agent.get(`/api/messages/${messages[0].id}`).expect(200);
    const names = rendered.body.message.body.attachments.map((a: { displayName: string }) => a.displayName);
    const pdfIndex = names.indexOf("w2.pdf");
    const pngIndex = rendered.body.message.body.attachments.findIndex(
      (a: { contentType: string }) => a.contentType === "image/png",
    );
    const pdf = await agent
      .get(`/api/messages/${messages[0].id}/attachments/${pdfIndex}`)
      .buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => done(null, Buffer.concat(chunks)));
      })
      .expect(200);
    expect(pdf.headers["content-type"]).toBe("application/octet-stream");
    expect(pdf.headers["content-disposition"]).toMatch(/^attachment; filename="?w2\.pdf"?$/);
    expect(pdf.headers["content-security-policy"]).toContain("sandbox");
    expect((pdf.body as Buffer).toString()).toBe(pdfText);
    const png = await agent.get(`/api/messages/${messages[0].id}/attachments/${pngIndex}`).expect(200);
    expect(png.headers["content-type"]).toBe("image/png");
    expect(png.headers["content-disposition"]).toMatch(/^inline/);
    expect(Buffer.from(png.body as Buffer).toString("base64")).toBe(pngBase64);
    await agent.get(`/api/messages/${messages[0].id}/attachments/9`).expect(404);
    const bad = await agent.get(`/api/messages/${messages[0].id}/attachments/-1`).expect(400);
    expect(bad.body.field).toBe("index");
    const eml = await agent.get(`/api/messages/${messages[0].id}/eml`).buffer(true).expect(200);
    expect(eml.headers["content-type"]).toMatch(/^message\/rfc822/);
    expect(eml.headers["content-disposition"]).toContain("Our papers.eml");
    expect(eml.text).toContain("Message-ID: <papers@home.example>");
  });

  it("H4: Inbox+ shows the client threads with their accounts; muting is per member", async () => {
    const employee = await w.t.as("employee");
    const admin = await w.t.as("admin");
    const { threadId } = await papersThread();
    await employee
      .put(`/api/threads/${threadId}/mute`)
      .set("origin", origin)
      .send({ muted: true })
      .expect(200);
    const mine = await employee.get("/api/inbox-plus").expect(200);
    const theirs = await admin.get("/api/inbox-plus").expect(200);
    const find = (body: { threads: { threadId: string }[] }) =>
      body.threads.find((t) => t.threadId === threadId);
    expect(find(mine.body)).toMatchObject({ muted: true, accountIds: [w.account.account.id] });
    expect(find(theirs.body)).toMatchObject({ muted: false });
    expect((await employee.get(`/api/threads/${threadId}`).expect(200)).body.thread.muted).toBe(true);
    expect((await admin.get(`/api/threads/${threadId}`).expect(200)).body.thread.muted).toBe(false);
    const bad = await employee
      .put(`/api/threads/${threadId}/mute`)
      .set("origin", origin)
      .send({ muted: "yes" })
      .expect(400);
    expect(bad.body).toMatchObject({ code: "validation_failed", field: "muted" });
    await employee
      .put(`/api/threads/${threadId}/mute`)
      .set("origin", origin)
      .send({ muted: false })
      .expect(200);
  });

  it("refuses another firm's member: the account, the thread, the message and its files are not found", async () => {
    const outsider = await w.outsider();
    const { threadId, messages } = await papersThread();
    const account = await outsider.get(threadsUrl()).expect(404);
    expect(account.body.code).toBe("not_found");
    await outsider.get(`/api/threads/${threadId}`).expect(404);
    await outsider.get(`/api/messages/${messages[0].id}`).expect(404);
    await outsider.get(`/api/messages/${messages[0].id}/eml`).expect(404);
    await outsider.get(`/api/messages/${messages[0].id}/attachments/0`).expect(404);
    await outsider.put(`/api/threads/${threadId}/mute`).send({ muted: true }).expect(404);
    await w.t.anonymous().get(threadsUrl()).expect(401);
  });
});
