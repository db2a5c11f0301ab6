/**
 * The "Connect a mailbox" section of the Email settings page (Y1, R9, issue 13): the IMAP/SMTP form
 * runs the same connection test and connect as `POST /api/mailboxes/imap` — a loopback server is
 * refused under the default policy, a listed Dovecot connects, a wrong password is shown next to the
 * form and never echoed — the form needs its CSRF token, and the Gmail / Microsoft 365 buttons appear
 * only when their OAuth client is configured, leading through the real flow back to the page.
 */
import { createServer, type Server } from "node:net";
import supertest from "supertest";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { MemberRole } from "@clientmail/core";
import { createGmailFake, startSmtpRelay, type DovecotServer, type DovecotUser } from "@clientmail/testkit";
import { password, startTestApp, type TestApp } from "./harness.js";
import { noDovecot, testDovecot } from "./mail-world.js";

/** Signs in through the UI's form; returns the agent. */
async function signInUi(t: TestApp, role: MemberRole) {
  const agent = supertest.agent(t.app);
  await agent
    .post("/signin")
    .type("form")
    .send({ email: `${role}@ledger.example`, password })
    .expect(303);
  return agent;
}

/** The Email settings page and the CSRF token its forms carry. */
async function settings(agent: supertest.Agent): Promise<{ page: string; csrf: string }> {
  const page = (await agent.get("/settings/mailboxes").expect(200)).text;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!csrf) throw new Error("no form token on the page");
  return { page, csrf };
}

/** The connect form (up to its end) of a page. */
function connectForm(page: string): string {
  const match = /<form method="post" action="\/settings\/connect\/imap"[\s\S]*?<\/form>/.exec(page);
  if (!match) throw new Error("no IMAP connect form on the page");
  return match[0];
}

/** A TCP server on loopback that only counts the connections it gets. */
async function countingServer(): Promise<{ server: Server; port: number; connections: () => number }> {
  let count = 0;
  const server = createServer((socket) => {
    count += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    server,
    port: typeof address === "object" && address ? address.port : 0,
    connections: () => count,
  };
}

const secret = "s3cret-typed-into-the-form";

describe("Connect a mailbox (UI): default host policy", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it("R9: a loopback server is refused before any connection; the refusal is shown next to the form, nothing is saved, the password is not in the page", async () => {
    const target = await countingServer();
    try {
      const agent = await signInUi(t, "employee");
      const { csrf } = await settings(agent);
      const res = await agent
        .post("/settings/connect/imap")
        .type("form")
        .send({
          _csrf: csrf,
          address: "employee@ledger.example",
          "imap.host": "127.0.0.1",
          "imap.port": String(target.port),
          "imap.security": "none",
          "imap.user": "employee",
          "imap.password": secret,
        })
        .expect(403);
      const form = connectForm(res.text);
      expect(form).toMatch(
        /role="alert" id="connect-imap-error">The mail server&#39;s address is not allowed/,
      );
      expect(form).toMatch(/id="cx-imap-host"\s+name="imap.host"\s+type="text"\s+value="127.0.0.1"/);
      expect(form).toMatch(/name="imap.host"[^>]*aria-invalid="true" aria-describedby="connect-imap-error"/);
      expect(form).toMatch(/name="imap.port"[^>]*value="\d+"/);
      expect(form).toMatch(/<option value="none"\s+selected>/);
      expect(res.text).not.toContain(secret);
      expect(res.text).not.toContain('http-equiv="refresh"');
      expect(target.connections()).toBe(0);
      expect(await t.services.store.listMailboxes(t.firm.id)).toEqual([]);
    } finally {
      target.server.close();
    }
  });

  it("answers bad input with 400 validation_failed naming the field, keeps what was typed but never the password", async () => {
    const agent = await signInUi(t, "admin");
    const { csrf } = await settings(agent);
    const bad = async (fields: Record<string, string>, field: string) => {
      const res = await agent
        .post("/settings/connect/imap")
        .type("form")
        .send({
          _csrf: csrf,
          address: "admin@ledger.example",
          "imap.host": "imap.example.com",
          "imap.user": "admin",
          "imap.password": secret,
          ...fields,
        })
        .expect(400);
      const form = connectForm(res.text);
      expect(form).toContain(`role="alert" id="connect-imap-error">Invalid input: ${field}:`);
      expect(form).toMatch(new RegExp(`name="${field}"[^>]*aria-invalid="true"`));
      expect(res.text).not.toContain(secret);
      return form;
    };
    const port = await bad({ "imap.port": "99999" }, "imap.port");
    expect(port).toMatch(/name="imap.host"\s+type="text"\s+value="imap.example.com"/);
    expect(port).toMatch(/name="imap.port"[^>]*value="99999"/);
    await bad({ "imap.port": "imap" }, "imap.port");
    await bad({ "imap.security": "ssl" }, "imap.security");
    await bad({ address: "nobody" }, "address");
    await bad({ "smtp.port": "587" }, "smtp.host");
    // A password too long is named, its value hidden.
    const long = "p".repeat(1_001);
    const res = await agent
      .post("/settings/connect/imap")
      .type("form")
      .send({
        _csrf: csrf,
        address: "admin@ledger.example",
        "imap.host": "imap.example.com",
        "imap.user": "admin",
        "imap.password": long,
      })
      .expect(400);
    expect(connectForm(res.text)).toContain(
      "imap.password: got &quot;(hidden)&quot;, expected at most 1000 characters",
    );
    expect(res.text).not.toContain("p".repeat(50));
    expect(await t.services.store.listMailboxes(t.firm.id)).toEqual([]);
  });

  it("refuses a form without its CSRF token (403 csrf_failed) or without a session, and saves nothing", async () => {
    const agent = await signInUi(t, "owner");
    await settings(agent);
    const res = await agent
      .post("/settings/connect/imap")
      .type("form")
      .send({
        address: "owner@ledger.example",
        "imap.host": "imap.example.com",
        "imap.user": "owner",
        "imap.password": secret,
      })
      .expect(403);
    expect(res.text).toContain("csrf_failed");
    const anonymous = await t
      .anonymous()
      .post("/settings/connect/imap")
      .type("form")
      .send({ address: "owner@ledger.example", "imap.host": "imap.example.com" });
    expect(anonymous.status).toBe(401);
    expect(await t.services.store.listMailboxes(t.firm.id)).toEqual([]);
  });

  it("shows no Gmail or Microsoft 365 button when neither is configured, and the IMAP form with labels", async () => {
    const agent = await signInUi(t, "employee");
    const { page } = await settings(agent);
    expect(page).toContain("Connect a mailbox");
    expect(page).not.toContain("/connect/google");
    expect(page).not.toContain("/connect/microsoft");
    for (const name of ["address", "imap-host", "imap-port", "imap-security", "imap-user", "imap-password"])
      expect(page).toMatch(new RegExp(`<label for="cx-${name}">`));
    expect(page).toMatch(/name="imap.password"\s+type="password"\s+value=""/);
  });
});

describe("Connect a mailbox (UI): Gmail configured", () => {
  let t: TestApp;
  const google = createGmailFake();
  beforeAll(async () => {
    google.addUser("employee@ledger.example");
    t = await startTestApp(
      {
        GOOGLE_CLIENT_ID: google.oauthClient.clientId,
        GOOGLE_CLIENT_SECRET: google.oauthClient.clientSecret,
      },
      { fetch: (input, init) => google.fetch(input, init) },
    );
  });
  afterAll(() => t.close());

  it("Y1: shows Connect Gmail only (not Microsoft 365); the button's flow comes back to the page, which shows the connected address", async () => {
    const agent = await signInUi(t, "employee");
    const { page } = await settings(agent);
    expect(page).not.toContain("/connect/microsoft");
    const href = /<a class="button" href="([^"]+)">Connect Gmail<\/a>/.exec(page)?.[1];
    expect(href).toBe("/connect/google?returnTo=%2Fsettings%2Fmailboxes");
    const consent = new URL((await agent.get(href!).expect(303)).headers.location!);
    const state = consent.searchParams.get("state")!;
    const code = google.approveConsent("employee@ledger.example", consent);
    const back = await agent
      .get(`/connect/google/callback?state=${encodeURIComponent(state)}&code=${encodeURIComponent(code)}`)
      .expect(303);
    const mailbox = (await t.services.store.listMailboxes(t.firm.id))[0]!;
    expect(back.headers.location).toBe(`/settings/mailboxes?connected=${mailbox.id}`);
    const done = (await agent.get(back.headers.location!).expect(200)).text;
    expect(done).toContain('<p class="notice done" role="status">Connected employee@ledger.example.</p>');
    // Another member's page does not name a mailbox that is not theirs.
    const owner = await signInUi(t, "owner");
    const other = (await owner.get(`/settings/mailboxes?connected=${mailbox.id}`).expect(200)).text;
    expect(other).not.toContain("Connected employee@ledger.example");
  });
});

describe("Connect a mailbox (UI): Microsoft 365 configured", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      MICROSOFT_CLIENT_ID: "5f1e7c9a-0000-4000-8000-00000000c11e",
      MICROSOFT_CLIENT_SECRET: "app-secret-value",
    });
  });
  afterAll(() => t.close());

  it("shows Connect Microsoft 365 only (not Gmail), as GET /api/connect says", async () => {
    const agent = await signInUi(t, "admin");
    const { page } = await settings(agent);
    expect(page).toContain(
      '<a class="button" href="/connect/microsoft?returnTo=%2Fsettings%2Fmailboxes">Connect Microsoft 365</a>',
    );
    expect(page).not.toContain("/connect/google");
    expect((await agent.get("/api/connect").expect(200)).body).toEqual({
      google: false,
      microsoft: true,
      imap: true,
    });
  });
});

describe.skipIf(noDovecot !== undefined)("Connect a mailbox (UI) against Dovecot", () => {
  let dovecot: DovecotServer;
  let stopDovecot: () => Promise<void>;
  let t: TestApp;
  beforeAll(async () => {
    ({ server: dovecot, stop: stopDovecot } = await testDovecot());
    t = await startTestApp({ MAIL_HOSTS_ALLOW: "127.0.0.1/32" });
  });
  afterAll(async () => {
    await t.close();
    await stopDovecot();
  });
  /**
   * Signs `role` in and posts the IMAP/SMTP form with its CSRF token: `address`, `user`'s IMAP
   * settings on Dovecot (cleartext), and `fields` over them. Returns the agent and the request,
   * for the caller's expected status.
   */
  async function postForm(
    role: MemberRole,
    address: string,
    user: DovecotUser,
    fields: Record<string, string> = {},
  ) {
    const agent = await signInUi(t, role);
    const { csrf } = await settings(agent);
    const request = agent
      .post("/settings/connect/imap")
      .type("form")
      .send({
        _csrf: csrf,
        address,
        "imap.host": dovecot.host,
        "imap.port": String(dovecot.port),
        "imap.security": "none",
        "imap.user": user.user,
        "imap.password": user.password,
        ...fields,
      });
    return { agent, request };
  }

  it("R9: the form connects a listed loopback Dovecot: redirect back with the address, saved with encrypted credentials", async () => {
    const user = await dovecot.addUser();
    const relay = await startSmtpRelay({ dovecot, mailboxes: new Map([[user.user.toLowerCase(), user]]) });
    onTestFinished(() => relay.close());
    const { agent, request } = await postForm("employee", "employee@ledger.example", user, {
      displayName: "Emma at the office",
      "smtp.host": relay.host,
      "smtp.port": String(relay.port),
      "smtp.security": "none",
    });
    const res = await request.expect(303);
    expect(res.headers.location).toBe("/settings/mailboxes");
    const [mailbox] = await t.services.store.listMailboxes(t.firm.id);
    expect(mailbox).toMatchObject({
      provider: "imap",
      address: "employee@ledger.example",
      displayName: "Emma at the office",
      ownerMemberId: t.members.employee.id,
    });
    const stored = await t.services.store.getMailboxCredentials(t.firm.id, mailbox!.id);
    expect(stored).toBeDefined();
    expect(stored).not.toContain(user.password);
    const page = (await agent.get("/settings/mailboxes").expect(200)).text;
    expect(page).toContain("Connected employee@ledger.example.");
    expect(page).toContain(`<h2 id="mb-${mailbox!.id}">Emma at the office &lt;employee@ledger.example&gt;`);
  });

  it("shows a refused login next to the form, marks the password, never echoes it, and saves nothing", async () => {
    const user = await dovecot.addUser();
    const { request } = await postForm("admin", "admin@ledger.example", user, {
      "imap.password": "wrong-password-typed",
    });
    const res = await request.expect(409);
    const form = connectForm(res.text);
    expect(form).toContain("The mail server refused the mailbox&#39;s credentials");
    expect(form).toMatch(/name="imap.password"\s+type="password"\s+value=""[^>]*aria-invalid="true"/);
    expect(form).toMatch(/name="imap.user"\s+type="text"\s+value="[^"]+"/);
    expect(res.text).not.toContain("wrong-password-typed");
    const mailboxes = await t.services.store.listMailboxes(t.firm.id);
    expect(mailboxes.map((m) => m.address)).not.toContain("admin@ledger.example");
  });

  it("shows the SDK's hint when TLS is spoken to a cleartext port", async () => {
    const user = await dovecot.addUser();
    const { request } = await postForm("owner", "owner@ledger.example", user, { "imap.security": "tls" });
    const res = await request.expect(409);
    expect(connectForm(res.text)).toMatch(/A secure connection[^<]*STARTTLS/);
    expect(res.text).not.toContain(user.password);
  });
});
