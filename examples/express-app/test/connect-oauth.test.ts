/**
 * Connecting Gmail and Microsoft 365 mailboxes (Y1, issue 13): the whole authorization-code flow
 * with PKCE against the testkit's fake Google and Microsoft identity platforms, in process. The
 * one-time state is bound to the session: a forged, replayed or other session's state is refused
 * before the token endpoint is called, and a code is exchanged once. The stored credentials then
 * open a working provider through the app's own wiring (providers.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGmailFake, createGraphFake } from "@clientmail/testkit";
import { origin, startTestApp, type TestApp } from "./harness.js";

const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const microsoftApp = { clientId: "5f1e7c9a-0000-4000-8000-00000000c11e", clientSecret: "app-secret-value" };

describe("OAuth connect", () => {
  let t: TestApp;
  const google = createGmailFake();
  const microsoft = createGraphFake({ tenantId: tenant });
  const tokenCalls: string[] = [];

  /** Google and Microsoft, answered by the fakes; token endpoint calls are counted. */
  const fakeFetch: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname.endsWith("/token")) tokenCalls.push(url.host);
    const fake = /(^|\.)microsoft(online)?\.com$/.test(url.hostname) ? microsoft : google;
    return fake.fetch(input, init);
  };
  const googleTokens = () => tokenCalls.filter((host) => host === "oauth2.googleapis.com").length;
  const microsoftTokens = () => tokenCalls.filter((host) => host === "login.microsoftonline.com").length;

  beforeAll(async () => {
    google.addUser("employee@ledger.example");
    microsoft.addMailbox("admin@ledger.example");
    microsoft.identity.registerApp(microsoftApp.clientId, microsoftApp.clientSecret);
    t = await startTestApp(
      {
        GOOGLE_CLIENT_ID: google.oauthClient.clientId,
        GOOGLE_CLIENT_SECRET: google.oauthClient.clientSecret,
        MICROSOFT_CLIENT_ID: microsoftApp.clientId,
        MICROSOFT_CLIENT_SECRET: microsoftApp.clientSecret,
        MICROSOFT_TENANT: tenant,
      },
      { fetch: fakeFetch },
    );
  });
  afterAll(() => t.close());

  it("Y1: Google — consent URL with PKCE (S256) and a one-time state; a foreign session's, forged or replayed state is refused before the token endpoint; the code is exchanged once; the mailbox works", async () => {
    const employee = await t.as("employee");
    const start = await employee
      .get("/connect/google?address=employee@ledger.example&returnTo=/settings")
      .expect(303);
    const consent = new URL(start.headers.location!);
    expect(consent.origin + consent.pathname).toBe("https://accounts.google.com/o/oauth2/v2/auth");
    expect(Object.fromEntries(consent.searchParams)).toMatchObject({
      redirect_uri: `${origin}/connect/google/callback`,
      code_challenge_method: "S256",
      access_type: "offline",
      login_hint: "employee@ledger.example",
    });
    const state = consent.searchParams.get("state")!;
    const code = google.approveConsent("employee@ledger.example", consent);
    const callback = `/connect/google/callback?state=${encodeURIComponent(state)}&code=${encodeURIComponent(code)}`;

    // Another member's session presents the state and code (a login-CSRF or a leaked URL).
    const owner = await t.as("owner");
    const foreign = await owner.get(callback).set("accept", "application/json").expect(400);
    expect(foreign.body).toMatchObject({ code: "validation_failed", field: "state" });
    // A state this session never started.
    const forged = await employee
      .get(`/connect/google/callback?state=forged-state&code=${encodeURIComponent(code)}`)
      .set("accept", "application/json")
      .expect(400);
    expect(forged.body.field).toBe("state");
    expect(googleTokens()).toBe(0);

    const done = await employee.get(callback).expect(303);
    expect(googleTokens()).toBe(1);
    const mailbox = (await t.services.store.listMailboxes(t.firm.id)).find((m) => m.provider === "gmail");
    expect(mailbox).toMatchObject({
      address: "employee@ledger.example",
      ownerMemberId: t.members.employee.id,
    });
    expect(done.headers.location).toBe(`/settings?connected=${mailbox!.id}`);
    // The refresh token is kept only as keyring ciphertext.
    const stored = await t.services.store.getMailboxCredentials(t.firm.id, mailbox!.id);
    const refreshToken = await t.services.keyring.decrypt(stored!, {
      firmId: t.firm.id,
      recordId: mailbox!.id,
      field: "credentials",
    });
    expect(refreshToken).toMatch(/^1\/\/fake-refresh-/);
    expect(stored).not.toContain(refreshToken);
    expect(await t.services.gmailPush.firmsOf("employee@ledger.example")).toEqual([t.firm.id]);

    // Replayed: the state was used.
    const replay = await employee.get(callback).set("accept", "application/json").expect(400);
    expect(replay.body.field).toBe("state");
    expect(googleTokens()).toBe(1);

    // The stored credentials open the Gmail provider the sync uses.
    await t.services.cm.sync.syncOnce(t.firm.id, mailbox!.id);
  });

  it("Y1: Microsoft — sign-in with PKCE through MSAL; MSAL's cache is stored encrypted; a replayed or forged state is refused; the mailbox works", async () => {
    const admin = await t.as("admin");
    expect((await admin.get("/api/connect").expect(200)).body).toEqual({
      google: true,
      microsoft: true,
      imap: true,
    });
    const { body } = await admin.post("/api/connect/microsoft").send({ returnTo: "/" }).expect(200);
    const signIn = new URL(body.url);
    expect(signIn.origin + signIn.pathname).toBe(
      `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/authorize`,
    );
    expect(signIn.searchParams.get("code_challenge_method")).toBe("S256");
    expect(signIn.searchParams.get("redirect_uri")).toBe(`${origin}/connect/microsoft/callback`);
    const state = signIn.searchParams.get("state")!;
    const code = microsoft.identity.approveConsent("admin@ledger.example", signIn);
    const callback = `/connect/microsoft/callback?state=${encodeURIComponent(state)}&code=${encodeURIComponent(code)}`;

    // A Google callback cannot take a Microsoft state.
    await admin
      .get(`/connect/google/callback?state=${encodeURIComponent(state)}&code=x`)
      .set("accept", "application/json")
      .expect(400);
    const before = microsoftTokens();
    await admin.get(callback).expect(303);
    expect(microsoftTokens()).toBe(before + 1);
    const mailbox = (await t.services.store.listMailboxes(t.firm.id)).find((m) => m.provider === "graph");
    expect(mailbox).toMatchObject({ address: "admin@ledger.example", ownerMemberId: t.members.admin.id });
    const stored = await t.services.store.getMailboxCredentials(t.firm.id, mailbox!.id);
    expect(stored).not.toContain("RefreshToken");

    await admin.get(callback).set("accept", "application/json").expect(400);
    expect(microsoftTokens()).toBe(before + 1);
    await t.services.cm.sync.syncOnce(t.firm.id, mailbox!.id);
  });

  it("refuses a denied consent (403), a connect without a session (401) and bad input (400 naming the field)", async () => {
    const employee = await t.as("employee");
    const start = await employee.get("/connect/google").expect(303);
    const state = new URL(start.headers.location!).searchParams.get("state")!;
    const denied = await employee
      .get(`/connect/google/callback?state=${encodeURIComponent(state)}&error=access_denied`)
      .set("accept", "application/json")
      .expect(403);
    expect(denied.body.code).toBe("permission_denied");

    const anonymous = await t
      .anonymous()
      .get("/connect/google")
      .set("accept", "application/json")
      .expect(401);
    expect(anonymous.body.code).toBe("unauthenticated");
    await t.anonymous().post("/api/connect/google").send({}).expect(401);

    for (const [path, field] of [
      ["/connect/yahoo", "provider"],
      ["/connect/google?address=not-an-address", "address"],
      ["/connect/google?returnTo=//evil.example/", "returnTo"],
      ["/connect/google?returnTo=https://evil.example/", "returnTo"],
    ] as const) {
      const res = await employee.get(path).set("accept", "application/json").expect(400);
      expect(res.body).toMatchObject({ code: "validation_failed", field });
    }
  });

  it("answers 501 unsupported, naming the variables, for a provider whose client is not configured", async () => {
    const bare = await startTestApp();
    try {
      const agent = await bare.as("owner");
      expect((await agent.get("/api/connect").expect(200)).body).toEqual({
        google: false,
        microsoft: false,
        imap: true,
      });
      const res = await agent.post("/api/connect/google").send({}).expect(501);
      expect(res.body).toMatchObject({ code: "unsupported" });
      expect(res.body.message).toContain("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET");
      const page = await agent.get("/connect/microsoft").set("accept", "application/json").expect(501);
      expect(page.body.code).toBe("unsupported");
      expect(page.body.message).toContain("MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET");
    } finally {
      await bare.close();
    }
  });
});
