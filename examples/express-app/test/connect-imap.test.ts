/**
 * Connecting an IMAP/SMTP mailbox (Y1, R9, issue 13): the connection test runs the provider the
 * sync would open, under the app's host policy, before anything is saved. A loopback or private
 * server is refused before any connection unless MAIL_HOSTS_ALLOW lists it; a server that refuses
 * the login or answers without TLS is reported with the SDK's reason and hint; a good one is
 * connected against a real Dovecot and then synced with the stored credentials.
 */
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startSmtpRelay, type DovecotServer } from "@clientmail/testkit";
import { startTestApp, type TestApp } from "./harness.js";
import { noDovecot, testDovecot } from "./mail-world.js";

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

const imapBody = (imap: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  address: "employee@ledger.example",
  imap: { user: "employee", password: "app-password-1", ...imap },
  ...extra,
});

describe("IMAP connect: the host policy (R9)", () => {
  let t: TestApp;
  const resolved: string[] = [];
  beforeAll(async () => {
    t = await startTestApp(
      {},
      {
        resolve: async (hostname) => {
          resolved.push(hostname);
          return [{ address: "10.1.2.3", family: 4 }];
        },
      },
    );
  });
  afterAll(() => t.close());

  it("R9: with the default policy a loopback server is refused before any connection, and nothing is saved", async () => {
    const target = await countingServer();
    try {
      const agent = await t.as("employee");
      const res = await agent
        .post("/api/mailboxes/imap")
        .send(imapBody({ host: "127.0.0.1", port: target.port, security: "none" }))
        .expect(403);
      expect(res.body).toMatchObject({
        code: "permission_denied",
        reason: "host_refused",
        field: "imap.host",
      });
      expect(target.connections()).toBe(0);
      expect(await t.services.store.listMailboxes(t.firm.id)).toEqual([]);
    } finally {
      target.server.close();
    }
  });

  it("R9: a name that resolves to a private address is refused before any connection", async () => {
    const agent = await t.as("employee");
    const res = await agent
      .post("/api/mailboxes/imap")
      .send(imapBody({ host: "imap.corp.example", port: 993 }))
      .expect(403);
    expect(res.body).toMatchObject({ code: "permission_denied", reason: "host_refused" });
    expect(resolved).toContain("imap.corp.example");
    expect(await t.services.store.listMailboxes(t.firm.id)).toEqual([]);
  });

  it("answers bad input with 400 validation_failed naming the field, never quoting a password", async () => {
    const agent = await t.as("employee");
    for (const [body, field] of [
      [imapBody({ host: "" }), "imap.host"],
      [imapBody({ host: "imap.example.com", port: 70_000 }), "imap.port"],
      [imapBody({ host: "imap.example.com", security: "ssl" }), "imap.security"],
      [imapBody({ host: "imap.example.com", password: "" }), "imap.password"],
      [{ ...imapBody({ host: "imap.example.com" }), address: "nobody" }, "address"],
    ] as const) {
      const res = await agent.post("/api/mailboxes/imap").send(body).expect(400);
      expect(res.body).toMatchObject({ code: "validation_failed", field });
    }
    // A password is named, never quoted.
    const long = "p".repeat(1_001);
    const res = await agent
      .post("/api/mailboxes/imap")
      .send(imapBody({ host: "imap.example.com", password: long }))
      .expect(400);
    expect(res.body).toMatchObject({ code: "validation_failed", field: "imap.password" });
    expect(res.body.message).toContain('imap.password: got "(hidden)", expected at most 1000 characters');
    expect(JSON.stringify(res.body)).not.toContain("p".repeat(50));
  });

  it("refuses connecting another member's mailbox, whatever the role (403), and a request without a session (401)", async () => {
    const owner = await t.as("owner");
    const res = await owner
      .post("/api/mailboxes/imap")
      .send(imapBody({ host: "imap.example.com" }, { memberId: t.members.employee.id }))
      .expect(403);
    expect(res.body).toMatchObject({ code: "permission_denied", field: "memberId" });
    await t
      .anonymous()
      .post("/api/mailboxes/imap")
      .send(imapBody({ host: "imap.example.com" }))
      .expect(401);
    expect(resolved).not.toContain("imap.example.com");
  });
});

describe.skipIf(noDovecot !== undefined)("IMAP connect against Dovecot", () => {
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
   * A new Dovecot user, a real SMTP server on loopback that accepts its login (closed after the
   * test), and the body connecting them as `address` (`smtp` adds to the SMTP settings).
   */
  async function mailServers(address: string, smtp: Record<string, unknown> = {}) {
    const user = await dovecot.addUser();
    const relay = await startSmtpRelay({ dovecot, mailboxes: new Map([[user.user.toLowerCase(), user]]) });
    onTestFinished(() => relay.close());
    const body = {
      address,
      imap: {
        host: dovecot.host,
        port: dovecot.port,
        security: "none",
        user: user.user,
        password: user.password,
      },
      smtp: { host: relay.host, port: relay.port, security: "none", ...smtp },
    };
    return { user, relay, body };
  }

  it("R9: a listed loopback server passes the connection test; the mailbox is saved with encrypted credentials and syncs", async () => {
    const { user, relay, body } = await mailServers("employee@ledger.example");
    const agent = await t.as("employee");
    const res = await agent.post("/api/mailboxes/imap").send(body).expect(201);
    expect(relay.accepted).toHaveLength(0);
    expect(res.body.mailbox).toMatchObject({
      provider: "imap",
      address: "employee@ledger.example",
      ownerMemberId: t.members.employee.id,
    });
    const stored = await t.services.store.getMailboxCredentials(t.firm.id, res.body.mailbox.id);
    expect(stored).toBeDefined();
    expect(stored).not.toContain(user.password);
    expect(await t.services.cm.sync.syncOnce(t.firm.id, res.body.mailbox.id)).toBeDefined();
  });

  it("reports a refused login as auth_revoked (auth_failed) naming the password, and saves nothing", async () => {
    const user = await dovecot.addUser();
    const agent = await t.as("admin");
    const res = await agent
      .post("/api/mailboxes/imap")
      .send({
        address: "admin@ledger.example",
        imap: {
          host: dovecot.host,
          port: dovecot.port,
          security: "none",
          user: user.user,
          password: "wrong-password",
        },
      })
      .expect(409);
    expect(res.body).toMatchObject({ code: "auth_revoked", reason: "auth_failed", field: "imap.password" });
    const mailboxes = await t.services.store.listMailboxes(t.firm.id);
    expect(mailboxes.map((m) => m.address)).not.toContain("admin@ledger.example");
  });

  it("Y1: a refused SMTP login is reported naming smtp.password, nothing is sent and nothing is saved", async () => {
    const { relay, body } = await mailServers("smtp-check@ledger.example", {
      password: "not-the-smtp-password",
    });
    const agent = await t.as("employee");
    const res = await agent.post("/api/mailboxes/imap").send(body).expect(409);
    expect(res.body).toMatchObject({ code: "auth_revoked", reason: "auth_failed", field: "smtp.password" });
    expect(JSON.stringify(res.body)).not.toContain("not-the-smtp-password");
    expect(relay.accepted).toHaveLength(0);
    const mailboxes = await t.services.store.listMailboxes(t.firm.id);
    expect(mailboxes.map((m) => m.address)).not.toContain("smtp-check@ledger.example");
  });

  it("reports TLS spoken to a cleartext port with the SDK's hint", async () => {
    const user = await dovecot.addUser();
    const agent = await t.as("owner");
    const res = await agent
      .post("/api/mailboxes/imap")
      .send({
        address: "owner@ledger.example",
        imap: {
          host: dovecot.host,
          port: dovecot.port,
          security: "tls",
          user: user.user,
          password: user.password,
        },
      })
      .expect(409);
    expect(res.body).toMatchObject({
      code: "mailbox_unavailable",
      reason: "tls_failed",
      hint: "tls_to_plaintext_port",
    });
    expect(res.body.message).toMatch(/STARTTLS/);
  });
});
