/**
 * The web UI through HTTP (supertest): pages, forms with the session's CSRF token, roles, escaping,
 * and the security headers of pages and message frames. The browser test (browser.test.ts) drives
 * the same UI in Chromium.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import supertest from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger, type MemberRole } from "@clientmail/core";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { demoPassword, startDemo, type Demo } from "../src/demo/index.js";
import { openServices, type Services } from "../src/services.js";
import { password, startTestApp, type TestApp } from "./harness.js";

/** Signs in through the UI's form; returns the agent. */
async function signInUi(app: Parameters<typeof supertest.agent>[0], email: string, secret: string) {
  const agent = supertest.agent(app);
  const res = await agent.post("/signin").type("form").send({ email, password: secret }).expect(303);
  expect(res.headers.location).toBe("/accounts");
  return agent;
}

/** The CSRF token the page's forms carry. */
function csrfOf(page: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(page);
  if (!match) throw new Error("no form token on the page");
  return match[1]!;
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("web UI", () => {
  let t: TestApp;
  const as = (role: MemberRole) => signInUi(t.app, `${role}@ledger.example`, password);
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it("sends a visitor without a session to the sign-in page, and refuses a wrong password", async () => {
    const visitor = t.anonymous();
    const res = await visitor.get("/accounts").expect(303);
    expect(res.headers.location).toBe("/signin?next=%2Faccounts");
    const form = await visitor.get("/signin").expect(200);
    expect(form.text).toMatch(/<label for="password">Password<\/label\s*><input\s+id="password"/);
    await visitor
      .post("/signin")
      .type("form")
      .send({ email: "owner@ledger.example", password: "nope" })
      .expect(303);
    const again = await visitor.get("/signin").expect(200);
    expect(again.text).toContain("The email or the password is wrong.");
    // A sign-in never redirects off the site.
    const off = await visitor
      .post("/signin")
      .type("form")
      .send({ email: "owner@ledger.example", password, next: "//evil.example/" })
      .expect(303);
    expect(off.headers.location).toBe("/accounts");
  });

  it("T3 T8: lists accounts with the colour-coded portal status and the Notify and Email sync columns", async () => {
    const { cm } = t.services;
    const firmId = t.firm.id;
    const active = await cm.createAccount(firmId, {
      name: "Active Ltd",
      kind: "business",
      contacts: [
        { firstName: "Ava", emails: [{ email: "ava@active.example", login: true, emailSync: true }] },
      ],
    });
    await cm.acceptInvitation(firmId, active.links[0]!.invitation!.token);
    await cm.createAccount(firmId, {
      name: "Pending Family",
      kind: "family",
      contacts: [
        { firstName: "Pat", emails: [{ email: "pat@pending.example", login: true, notify: false }] },
      ],
    });
    await cm.createAccount(firmId, {
      name: "Quiet Person",
      kind: "person",
      contacts: [{ firstName: "Quinn", emails: [{ email: "quinn@quiet.example", notify: false }] }],
    });
    const agent = await as("employee");
    const page = (await agent.get("/accounts").expect(200)).text;
    const row = (name: string) =>
      new RegExp(`<th scope="row"><a [^>]*>${name}</a></th>[\\s\\S]*?</tr>`).exec(page)![0];
    expect(row("Active Ltd")).toContain('class="status status-activated">Activated');
    expect(row("Active Ltd")).toMatch(/flag on">On<\/span><\/td>\s*<td><span class="flag on">On/);
    expect(row("Pending Family")).toContain('class="status status-pending_activation">Pending activation');
    expect(row("Pending Family")).toMatch(/flag off">Off<\/span><\/td>\s*<td><span class="flag off">Off/);
    expect(row("Quiet Person")).toContain('class="status status-not_activated">Not activated');
    // T8: the Email tab only where a link has email sync on.
    const activePage = (await agent.get(`/accounts/${active.account.id}`).expect(200)).text;
    expect(activePage).toContain(`href="/accounts/${active.account.id}/email"`);
    const quiet = (await cm.listAccounts(firmId)).find((a) => a.account.name === "Quiet Person")!;
    const quietPage = (await agent.get(`/accounts/${quiet.account.id}`).expect(200)).text;
    expect(quietPage).not.toContain(`/accounts/${quiet.account.id}/email"`);
  });

  it("T1 T7: a toggle in the Info tab changes that address's setting only, then shows the Email tab (T8)", async () => {
    const { cm } = t.services;
    const created = await cm.createAccount(t.firm.id, {
      name: "Two Addresses",
      kind: "person",
      contacts: [
        { firstName: "Tess", emails: [{ email: "tess@home.example" }, { email: "tess@work.example" }] },
      ],
    });
    const [home, work] = created.links;
    const agent = await as("employee");
    const page = (await agent.get(`/accounts/${created.account.id}`).expect(200)).text;
    expect(page).toContain(`aria-label="Email sync for ${home!.email}: off"`);
    const res = await agent
      .post(`/accounts/${created.account.id}/links/${home!.id}`)
      .type("form")
      .send({ _csrf: csrfOf(page), setting: "emailSync", value: "on" })
      .expect(303);
    expect(res.headers.location).toBe(`/accounts/${created.account.id}#link-${home!.id}`);
    const after = await cm.accountOverview(t.firm.id, created.account.id);
    expect(after.links.find((l) => l.id === home!.id)!.emailSync).toBe(true);
    expect(after.links.find((l) => l.id === work!.id)!.emailSync).toBe(false);
    const shown = (await agent.get(`/accounts/${created.account.id}`).expect(200)).text;
    expect(shown).toContain(`Email sync is on for ${home!.email}.`);
    expect(shown).toContain(`aria-label="Email sync for ${home!.email}: on"`);
    expect(shown).toContain(`href="/accounts/${created.account.id}/email"`);
  });

  it("refuses a form without the session's token (403 csrf_failed) and changes nothing", async () => {
    const { cm } = t.services;
    const created = await cm.createAccount(t.firm.id, {
      name: "Guarded",
      kind: "person",
      contacts: [{ firstName: "Gil", emails: [{ email: "gil@guarded.example" }] }],
    });
    const agent = await as("admin");
    const res = await agent
      .post(`/accounts/${created.account.id}/links/${created.links[0]!.id}`)
      .type("form")
      .send({ _csrf: "forged", setting: "login", value: "on" })
      .expect(403);
    expect(res.text).toContain("csrf_failed");
    expect((await cm.accountOverview(t.firm.id, created.account.id)).links[0]!.login).toBe(false);
  });

  it("T12: a bad address shows the SDK's message naming the field next to the form, and nothing is saved", async () => {
    const agent = await as("employee");
    const page = (await agent.get("/accounts").expect(200)).text;
    const before = (await t.services.cm.listAccounts(t.firm.id)).length;
    await agent
      .post("/accounts")
      .type("form")
      .send({ _csrf: csrfOf(page), name: "Broken", kind: "person", firstName: "Bo", email: "not-an-address" })
      .expect(303);
    const shown = (await agent.get("/accounts").expect(200)).text;
    expect(shown).toMatch(
      /<p class="notice error" role="alert">Invalid input: contacts\.0\.emails\.0\.email: got &quot;not-an-address&quot;/,
    );
    expect((await t.services.cm.listAccounts(t.firm.id)).length).toBe(before);
  });

  it("answers a bad query with 400 validation_failed naming the field", async () => {
    const { cm } = t.services;
    const created = await cm.createAccount(t.firm.id, {
      name: "Query Co",
      kind: "business",
      contacts: [{ firstName: "Q", emails: [{ email: "q@query.example", emailSync: true }] }],
    });
    const agent = await as("employee");
    const res = await agent.get(`/accounts/${created.account.id}/email?view=everything`).expect(400);
    expect(res.text).toContain("view");
    expect(res.text).toContain("<code>validation_failed</code>");
  });

  it("T10 N4: the owner applies a bulk update to the checked accounts and sees the report; an employee is refused (403)", async () => {
    const { cm } = t.services;
    const a = await cm.createAccount(t.firm.id, {
      name: "Bulk A",
      kind: "person",
      contacts: [{ firstName: "A", emails: [{ email: "a@bulk.example", notify: false }] }],
    });
    const b = await cm.createAccount(t.firm.id, {
      name: "Bulk B",
      kind: "person",
      contacts: [{ firstName: "B", emails: [{ email: "b@bulk.example", notify: false }] }],
    });
    const owner = await as("owner");
    const page = (await owner.get("/accounts").expect(200)).text;
    await owner
      .post("/accounts/bulk")
      .type("form")
      .send(
        `_csrf=${encodeURIComponent(csrfOf(page))}&accountIds=${a.account.id}&accountIds=${b.account.id}` +
          "&login=do_nothing&notify=enable&emailSync=do_nothing&signatory=do_nothing",
      )
      .expect(303);
    const shown = (await owner.get("/accounts").expect(200)).text;
    expect(shown).toContain("Bulk update: 2 of 2 accounts updated, 2 contact settings changed");
    for (const id of [a.account.id, b.account.id])
      expect((await cm.accountOverview(t.firm.id, id)).notify).toBe(true);
    const inbox = (await owner.get("/inbox").expect(200)).text;
    expect(inbox).toContain("Bulk update: 2 of 2 accounts updated.");

    const employee = await as("employee");
    const employeePage = (await employee.get("/accounts").expect(200)).text;
    expect(employeePage).not.toContain('action="/accounts/bulk"');
    const refused = await employee
      .post("/accounts/bulk")
      .type("form")
      .send({
        _csrf: csrfOf(employeePage),
        accountIds: a.account.id,
        notify: "disable",
        login: "do_nothing",
        emailSync: "do_nothing",
        signatory: "do_nothing",
      })
      .expect(403);
    expect(refused.text).toContain("permission_denied");
    expect((await cm.accountOverview(t.firm.id, a.account.id)).notify).toBe(true);
  });

  it("T11: imports a client list pasted as CSV, reporting rejected rows", async () => {
    const owner = await as("owner");
    const page = (await owner.get("/accounts").expect(200)).text;
    const csv = [
      "account_name,account_kind,first_name,last_name,email,login,notify,email_sync,signatory",
      "Imported Co,business,Ida,Import,ida@imported.example,no,yes,yes,no",
      "Bad Row,business,Bad,Row,not-an-email,no,yes,no,no",
    ].join("\n");
    await owner
      .post("/accounts/import")
      .type("form")
      .send({ _csrf: csrfOf(page), csv })
      .expect(303);
    const shown = (await owner.get("/accounts").expect(200)).text;
    expect(shown).toContain(
      "Imported 1 accounts, 1 contacts, 1 contact settings; 1 rows rejected: row 3: rows.3.email expected an email address",
    );
    expect(shown).toContain(">Imported Co</a>");
  });

  it("N5: the team page is for the owner and admins; an employee is refused (403 permission_denied)", async () => {
    const admin = await as("admin");
    const page = (await admin.get("/team").expect(200)).text;
    expect(page).toContain("Emma Employee");
    expect(page).toContain("Not synced");
    expect(page).toContain("No message is in quarantine.");
    const employee = await as("employee");
    const refused = await employee.get("/team").expect(403);
    expect(refused.text).toContain("permission_denied");
    expect((await employee.get("/accounts").expect(200)).text).not.toContain('href="/team"');
  });

  it("escapes every value it shows: an account named like markup is text", async () => {
    await t.services.cm.createAccount(t.firm.id, {
      name: `<img src=x onerror=alert(1)> & "Co"`,
      kind: "business",
      contacts: [],
    });
    const agent = await as("employee");
    const page = (await agent.get("/accounts").expect(200)).text;
    expect(page).toContain("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;Co&quot;");
    expect(page).not.toContain("<img src=x");
  });

  it("pages carry a CSP that runs no script, and the stylesheet is the app's own", async () => {
    const agent = await as("employee");
    const res = await agent.get("/accounts").expect(200);
    const csp = res.headers["content-security-policy"] as string;
    expect(csp).toContain("script-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.text).not.toContain("<script");
    await agent.get("/ui.css").expect(200).expect("content-type", /css/);
  });

  it("a failed page is an HTML page of the UI: heading, message, code, a way back and the UI's CSP; nothing from the URL runs", async () => {
    const agent = await as("employee");
    const refused = await agent.get("/team").expect(403).expect("content-type", /html/);
    expect(refused.text).toContain("<h1>You do not have access to this</h1>");
    expect(refused.text).toContain("<code>permission_denied</code>");
    expect(refused.text).toContain('href="/accounts"');
    const missing = await agent.get("/no-such-page/%3Cscript%3Ealert(1)%3C%2Fscript%3E").expect(404);
    expect(missing.headers["content-security-policy"]).toContain("script-src 'none'");
    expect(missing.text).toContain("<h1>Not found</h1>");
    expect(missing.text).toContain("No route for GET /no-such-page/");
    expect(missing.text).not.toContain("<script>");
  });

  it("a member of another firm cannot open this firm's account (404)", async () => {
    const { cm, users } = t.services;
    const other = await cm.createFirm({ name: "Other Firm", internalDomains: [] });
    const stranger = await cm.addMember(other.id, {
      name: "Sam Stranger",
      email: "sam@other.example",
      role: "owner",
    });
    await users.setPassword(stranger.email, { firmId: other.id, memberId: stranger.id }, password);
    const mine = (await cm.listAccounts(t.firm.id))[0]!;
    const agent = await signInUi(t.app, "sam@other.example", password);
    await agent.get(`/accounts/${mine.account.id}`).expect(404);
    const list = (await agent.get("/accounts").expect(200)).text;
    expect(list).not.toContain(mine.account.name);
  });
});

describe("web UI on the demo: threads, message frames, mailbox settings", () => {
  let dataDir: string;
  let services: Services;
  let demo: Demo;
  let app: ReturnType<typeof createApp>;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "clientmail-ui-"));
    services = await openServices(loadConfig({ DEMO: "on", DATA_DIR: dataDir, LOG_LEVEL: "silent" }), {
      logger: silentLogger,
    });
    demo = await startDemo(services, { arrivalAfterMs: false });
    app = createApp(services);
    await services.cm.start();
  });
  afterAll(async () => {
    await services?.close();
    await demo?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("shows a hostile email only as the SDK's sanitised HTML, in a sandboxed frame with a strict CSP; remote images wait for 'Show images'", async () => {
    const agent = await signInUi(app, demo.members.owner.email, demoPassword);
    const accountId = demo.accounts.northwind.account.id;
    const list = await until(async () => {
      const page = (await agent.get(`/accounts/${accountId}/email`).expect(200)).text;
      return page.includes("Northwind invoice for October") ? page : undefined;
    }, "the Northwind thread");
    const threadHref = /href="(\/accounts\/[^"]+\/email\/threads\/[^"]+)"/.exec(list)![1]!;
    // H5: the Sent view lists threads with a message the firm sent; Inbox+ has every client thread.
    const bakeryId = demo.accounts.bakery.account.id;
    // The Sent folder may be synced after the INBOX: wait for it too.
    const sentView = await until(async () => {
      const page = (await agent.get(`/accounts/${bakeryId}/email?view=sent`).expect(200)).text;
      return page.includes("Q3 VAT return: receipts attached") ? page : undefined;
    }, "the bakery's sent thread");
    expect(sentView).toContain("Q3 VAT return: receipts attached");
    expect((await agent.get(`/accounts/${accountId}/email?view=sent`).expect(200)).text).toContain(
      "No threads yet.",
    );
    const inboxPlus = (await agent.get("/inbox").expect(200)).text;
    expect(inboxPlus).toContain("Northwind invoice for October");
    expect(inboxPlus).toContain("Q3 VAT return: receipts attached");
    const thread = (await agent.get(threadHref).expect(200)).text;
    const frame = /<iframe\s+class="body"\s+src="([^"]+)"\s+sandbox="([^"]*)"/.exec(thread)!;
    expect(frame[2]).not.toContain("allow-scripts");
    expect(frame[2]).not.toContain("allow-same-origin");
    const body = await agent.get(frame[1]!).expect(200);
    const csp = body.headers["content-security-policy"] as string;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("img-src data: cid:;");
    expect(csp).toContain("sandbox");
    expect(body.text).toContain("October invoice");
    for (const hostile of [
      "<script",
      "onerror",
      "onload",
      "javascript:",
      "<form",
      "<iframe",
      "tracker.northwind.example",
    ])
      expect(body.text).not.toContain(hostile);
    // "Show images": the same message re-rendered with remote images, still under the frame policy.
    const showHref = /href="([^"]+\?images=[^"#]+)#[^"]*"\s+id="[^"]*"\s*>\s*Show images/.exec(thread)![1]!;
    const shown = (await agent.get(showHref.replace(/&amp;/g, "&")).expect(200)).text;
    const allowed = /<iframe\s+class="body"\s+src="([^"]+\?images=allow)"/.exec(shown)![1]!;
    const withImages = await agent.get(allowed).expect(200);
    expect(withImages.text).toContain("https://tracker.northwind.example/open.gif");
    expect(withImages.headers["content-security-policy"]).toContain("img-src data: cid: https: http:");
    expect(withImages.text).not.toContain("<script");
  });

  it("S3 Y3: the mailbox's owner saves a signature and its settings; another member sees no form for it", async () => {
    const owner = await signInUi(app, demo.members.owner.email, demoPassword);
    const page = (await owner.get("/settings/mailboxes").expect(200)).text;
    expect(page).toContain(demo.mailbox.address);
    await owner
      .post(`/settings/mailboxes/${demo.mailbox.id}`)
      .type("form")
      .send({ _csrf: csrfOf(page), allowOthersToSend: "on", signatureHtml: "<p>Ann Lee, <b>Ledger</b></p>" })
      .expect(303);
    const saved = await services.cm.getMailbox(demo.firm.id, demo.mailbox.id);
    expect(saved.settings).toMatchObject({
      allowOthersToSend: true,
      autoSaveAttachments: false,
      signatureHtml: "<p>Ann Lee, <b>Ledger</b></p>",
    });
    expect((await owner.get("/settings/mailboxes").expect(200)).text).toContain("Settings saved.");
    const employee = await signInUi(app, demo.members.employee.email, demoPassword);
    const theirs = (await employee.get("/settings/mailboxes").expect(200)).text;
    expect(theirs).not.toContain(demo.mailbox.address);
    const refused = await employee
      .post(`/settings/mailboxes/${demo.mailbox.id}`)
      .type("form")
      .send({ _csrf: csrfOf(theirs), signatureHtml: "<p>hijacked</p>" })
      .expect(303);
    expect(refused.headers.location).toBe("/settings/mailboxes");
    expect((await services.cm.getMailbox(demo.firm.id, demo.mailbox.id)).settings.signatureHtml).toBe(
      "<p>Ann Lee, <b>Ledger</b></p>",
    );
  });

  it("S2 S4 H5: composes from a template for later; it waits under Scheduled and can be cancelled; an unknown shortcode is refused at compose time", async () => {
    const agent = await signInUi(app, demo.members.owner.email, demoPassword);
    const accountId = demo.accounts.bakery.account.id;
    const form = (await agent.get(`/compose?accountIds=${accountId}&template=documents`).expect(200)).text;
    expect(form).toContain('value="Documents needed for [ACCOUNT_NAME]"');
    expect(form).toContain(`<option value="${demo.mailbox.id}">`);
    const csrf = csrfOf(form);
    await agent
      .post("/compose")
      .type("form")
      .send({
        _csrf: csrf,
        accountIds: accountId,
        mailboxId: demo.mailbox.id,
        subject: "Hello [NOPE]",
        text: "Hi",
      })
      .expect(303);
    const refused = (await agent.get(`/compose?accountIds=${accountId}`).expect(200)).text;
    expect(refused).toMatch(/<p class="notice error" role="alert">[^<]*NOPE/);
    const sent = await agent
      .post("/compose")
      .type("form")
      .send({
        _csrf: csrf,
        accountIds: accountId,
        mailboxId: demo.mailbox.id,
        subject: "Documents needed for [ACCOUNT_NAME]",
        text: "Dear [CONTACT_FIRST_NAME], please send the receipts.",
        sendAt: "2099-01-15T09:00",
      })
      .expect(303);
    expect(sent.headers.location).toBe(`/accounts/${accountId}/email?view=scheduled`);
    const scheduled = (await agent.get(sent.headers.location as string).expect(200)).text;
    expect(scheduled).toContain("1 message(s) scheduled.");
    expect(scheduled).toContain("Documents needed for Jordan&#39;s Bakery Ltd");
    expect(scheduled).toContain('datetime="2099-01-15T09:00:00.000Z"');
    const cancel = /action="(\/accounts\/[^"]+\/cancel)"/.exec(scheduled)![1]!;
    await agent.post(cancel).type("form").send({ _csrf: csrf }).expect(303);
    const after = (await agent.get(`/accounts/${accountId}/email?view=scheduled`).expect(200)).text;
    expect(after).toContain("The message was cancelled.");
    expect(after).toContain("No messages waiting to be sent.");
  });

  it("S1: the owner emails the checked accounts: one message per account, and the sending progress", async () => {
    const agent = await signInUi(app, demo.members.owner.email, demoPassword);
    const list = (await agent.get("/accounts").expect(200)).text;
    const csrf = csrfOf(list);
    const { bakery, northwind } = demo.accounts;
    const picked = await agent
      .post("/compose/selection")
      .type("form")
      .send(
        `_csrf=${encodeURIComponent(csrf)}&accountIds=${bakery.account.id}&accountIds=${northwind.account.id}`,
      )
      .expect(303);
    expect(picked.headers.location).toBe(
      `/compose?accountIds=${bakery.account.id}&accountIds=${northwind.account.id}`,
    );
    const form = (await agent.get(picked.headers.location as string).expect(200)).text;
    expect(form).toContain("one separate message per account");
    const sent = await agent
      .post("/compose")
      .type("form")
      .send(
        `_csrf=${encodeURIComponent(csrf)}&accountIds=${bakery.account.id}&accountIds=${northwind.account.id}` +
          `&mailboxId=${demo.mailbox.id}&subject=${encodeURIComponent("Office closed on [ACCOUNT_NAME]'s holiday")}` +
          "&text=Hello",
      )
      .expect(303);
    expect(sent.headers.location).toMatch(/^\/sending\?accountIds=/);
    expect((await agent.get(sent.headers.location as string).expect(200)).text).toContain(
      "2 message(s) queued.",
    );
    const before = demo.mailServer.accepted.length;
    await until(
      async () => (demo.mailServer.accepted.length >= before + 2 ? true : undefined),
      "both messages sent",
    );
    const recipients = demo.mailServer.accepted.slice(-2).map((m) => m.to);
    expect(recipients).toEqual(
      expect.arrayContaining([["jo@jordans-bakery.example"], ["priya@northwind.example"]]),
    );
    const employee = await signInUi(app, demo.members.employee.email, demoPassword);
    const theirs = (await employee.get("/accounts").expect(200)).text;
    const refused = await employee
      .post("/compose/selection")
      .type("form")
      .send({ _csrf: csrfOf(theirs), accountIds: bakery.account.id })
      .expect(403);
    expect(refused.text).toContain("permission_denied");
  });

  it("H4 N3: mutes a thread for the member, and a notification can be snoozed or dismissed from Inbox+", async () => {
    const { cm } = services;
    const agent = await signInUi(app, demo.members.owner.email, demoPassword);
    const [thread] = await cm.accountThreads(demo.firm.id, demo.accounts.bakery.account.id);
    const path = `/accounts/${demo.accounts.bakery.account.id}/email/threads/${thread!.threadId}`;
    const page = (await agent.get(path).expect(200)).text;
    expect(page).toMatch(/aria-pressed="false">\s*Mute thread/);
    await agent
      .post(`${path}/mute`)
      .type("form")
      .send({ _csrf: csrfOf(page), muted: "1" })
      .expect(303);
    expect(await cm.isThreadMuted(demo.firm.id, thread!.threadId, demo.members.owner.id)).toBe(true);
    expect(await cm.isThreadMuted(demo.firm.id, thread!.threadId, demo.members.admin.id)).toBe(false);
    expect((await agent.get(path).expect(200)).text).toMatch(/aria-pressed="true">\s*Unmute thread/);

    // Cara has no mailbox: "your email is not synced" (N2) is in her Inbox+.
    await cm.refreshSyncHealth(demo.firm.id);
    const cara = await signInUi(app, demo.members.employee.email, demoPassword);
    const inbox = (await cara.get("/inbox").expect(200)).text;
    expect(inbox).toContain("Your email is not synced");
    const action = /action="(\/inbox\/notifications\/[^"]+)"/.exec(inbox)![1]!;
    // Another member cannot act on Cara's notification.
    const ann = (await agent.get("/inbox").expect(200)).text;
    await agent
      .post(action)
      .type("form")
      .send({ _csrf: csrfOf(ann), action: "dismiss" })
      .expect(303);
    expect((await agent.get("/inbox").expect(200)).text).toContain("You have no notification");
    expect((await cara.get("/inbox").expect(200)).text).toContain("Your email is not synced");
    await cara
      .post(action)
      .type("form")
      .send({ _csrf: csrfOf(inbox), action: "dismiss" })
      .expect(303);
    const gone = (await cara.get("/inbox").expect(200)).text;
    expect(gone).toContain("You will not see it again.");
    expect(gone).not.toContain("Your email is not synced");
  });
});
