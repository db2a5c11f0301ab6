/**
 * The push endpoints (Y2, issue 13): Gmail's Pub/Sub push with its OIDC token verified against
 * certificates served by a local fake (tokens signed here with a local RSA key), and Graph's
 * handshake, change notifications and lifecycle events. Only a verified notification naming a
 * recorded registration brings a sync job forward; forged, replayed or lost ones change nothing.
 */
import { createHash, createSign, generateKeyPairSync, randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Mailbox } from "@clientmail/core";
import { startTestApp, type TestApp } from "./harness.js";

const audience = "https://crm.example/push/gmail";
const serviceAccount = "gmail-push@ledger-project.iam.gserviceaccount.com";
const certsUrl = "https://www.googleapis.com/oauth2/v1/certs";
const signing = generateKeyPairSync("rsa", { modulusLength: 2048 });
const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
const kid = "test-key-1";

/** Google's certificate endpoint, as the verifier reads it (key id → PEM). */
const fakeGoogle: typeof fetch = async (input) => {
  const url = input instanceof Request ? input.url : String(input);
  if (url.startsWith(certsUrl))
    return Response.json(
      { [kid]: signing.publicKey.export({ type: "spki", format: "pem" }).toString() },
      { headers: { "cache-control": "public, max-age=600" } },
    );
  return new Response("not found", { status: 404 });
};

function idToken(claims: Record<string, unknown>, key = signing.privateKey): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const body = part({
    iss: "https://accounts.google.com",
    aud: audience,
    email: serviceAccount,
    email_verified: true,
    sub: "1234567890",
    iat: now,
    exp: now + 3600,
    ...claims,
  });
  const signed = `${part({ alg: "RS256", kid, typ: "JWT" })}.${body}`;
  return `${signed}.${createSign("RSA-SHA256").update(signed).sign(key).toString("base64url")}`;
}

function pubsub(address: string, messageId = randomUUID()) {
  const data = Buffer.from(JSON.stringify({ emailAddress: address, historyId: "9876" })).toString(
    "base64url",
  );
  return {
    message: { data, messageId, publishTime: new Date().toISOString() },
    subscription: "projects/p/subscriptions/s",
  };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("push endpoints", () => {
  let t: TestApp;
  let gmailBox: Mailbox;
  let graphBox: Mailbox;

  /** A fresh app per test; mailboxes and registrations are written directly, so no job waits before it. */
  beforeEach(async () => {
    t = await startTestApp(
      { GMAIL_PUSH_AUDIENCE: audience, GMAIL_PUSH_SERVICE_ACCOUNT: serviceAccount },
      { fetch: fakeGoogle },
    );
    const { store } = t.services;
    const settings = { autoSaveAttachments: false, allowOthersToSend: false, signatureHtml: "" };
    const now = new Date();
    gmailBox = await store.createMailbox(
      t.firm.id,
      {
        provider: "gmail",
        address: "owner@ledger.example",
        displayName: "Olivia",
        ownerMemberId: t.members.owner.id,
        settings,
      },
      now,
    );
    graphBox = await store.createMailbox(
      t.firm.id,
      {
        provider: "graph",
        address: "admin@ledger.example",
        displayName: "Adam",
        ownerMemberId: t.members.admin.id,
        settings,
      },
      now,
    );
    const expiresAt = new Date(Date.now() + 3 * 86_400_000);
    await store.putPushRegistration(t.firm.id, {
      mailboxId: gmailBox.id,
      subscriptionId: "gmail:owner@ledger.example",
      provider: "gmail",
      resource: "projects/ledger-project/topics/gmail",
      secretHash: "",
      expiresAt,
    });
    await store.putPushRegistration(t.firm.id, {
      mailboxId: graphBox.id,
      subscriptionId: "sub-inbox",
      provider: "graph",
      resource: "/me/mailFolders('inbox')/messages",
      secretHash: sha256("the-client-state"),
      expiresAt,
    });
    await t.services.gmailPush.add("owner@ledger.example", t.firm.id);
  });
  afterEach(() => t.close());

  const waiting = async () => (await t.services.queue.stats()).waiting;
  const states = async () =>
    Promise.all(
      [gmailBox, graphBox].map(async (m) => (await t.services.store.getMailbox(t.firm.id, m.id))?.state),
    );

  describe("Gmail Pub/Sub", () => {
    it("Y2: a verified push for a watched address brings one sync forward; a replay of it changes nothing more", async () => {
      const body = pubsub("owner@ledger.example");
      const token = idToken({});
      await t.anonymous().post("/push/gmail").set("authorization", `Bearer ${token}`).send(body).expect(204);
      expect(await waiting()).toBe(1);
      // Pub/Sub delivers the same message again (same id), and an attacker replays a captured one.
      await t.anonymous().post("/push/gmail").set("authorization", `Bearer ${token}`).send(body).expect(204);
      await t
        .anonymous()
        .post("/push/gmail")
        .set("authorization", `Bearer ${idToken({})}`)
        .send(pubsub("owner@ledger.example"))
        .expect(204);
      expect(await waiting()).toBe(1);
    });

    it("R8 Y2: a push whose hand-off failed is answered with an error, and Pub/Sub's redelivery of it (same message id) brings the sync forward", async () => {
      const body = pubsub("owner@ledger.example");
      const queue = t.services.queue;
      const enqueue = queue.enqueue.bind(queue);
      let failures = 1;
      queue.enqueue = async (store, jobs) => {
        if (failures-- > 0) throw new Error("the database connection was lost");
        return enqueue(store, jobs);
      };
      const first = await t
        .anonymous()
        .post("/push/gmail")
        .set("authorization", `Bearer ${idToken({})}`)
        .send(body);
      // Not acknowledged: Pub/Sub delivers the message again.
      expect(first.status).toBeGreaterThanOrEqual(500);
      expect(await waiting()).toBe(0);
      await t
        .anonymous()
        .post("/push/gmail")
        .set("authorization", `Bearer ${idToken({})}`)
        .send(body)
        .expect(204);
      expect(await waiting()).toBe(1);
    });

    it("Y2: forged tokens are refused — bad signature, wrong audience, wrong issuer, expired, missing (401), another account (403) — and change nothing", async () => {
      const before = await states();
      const now = Math.floor(Date.now() / 1000);
      const cases: [string | undefined, number][] = [
        [idToken({}, other.privateKey), 401],
        [idToken({ aud: "https://evil.example/push" }), 401],
        [idToken({ iss: "https://evil.example" }), 401],
        [idToken({ iat: now - 7200, exp: now - 3600 }), 401],
        [undefined, 401],
        ["not.a.token", 401],
        [idToken({ email: "someone@evil-project.iam.gserviceaccount.com" }), 403],
        [idToken({ email_verified: false }), 403],
      ];
      for (const [token, status] of cases) {
        const request = t.anonymous().post("/push/gmail");
        if (token) request.set("authorization", `Bearer ${token}`);
        const res = await request.send(pubsub("owner@ledger.example")).expect(status);
        expect(res.body.code).toBe(status === 401 ? "unauthenticated" : "permission_denied");
      }
      expect(await waiting()).toBe(0);
      expect(await states()).toEqual(before);
      expect(await t.services.store.listPushRegistrations(t.firm.id, gmailBox.id)).toHaveLength(1);
    });

    it("Y2: a verified push for an address with no mailbox or no recorded watch is acknowledged (204) and changes nothing", async () => {
      await t.services.gmailPush.add("admin@ledger.example", t.firm.id); // listed, but no watch recorded
      for (const address of ["stranger@elsewhere.example", "admin@ledger.example"])
        await t
          .anonymous()
          .post("/push/gmail")
          .set("authorization", `Bearer ${idToken({})}`)
          .send(pubsub(address))
          .expect(204);
      await t
        .anonymous()
        .post("/push/gmail")
        .set("authorization", `Bearer ${idToken({})}`)
        .send({ message: { data: "%%%" } })
        .expect(204);
      expect(await waiting()).toBe(0);
    });

    it("answers 501 unsupported, naming the variables, when Gmail push is not configured", async () => {
      const bare = await startTestApp({}, { fetch: fakeGoogle });
      try {
        const res = await bare
          .anonymous()
          .post("/push/gmail")
          .set("authorization", `Bearer ${idToken({})}`)
          .send(pubsub("owner@ledger.example"))
          .expect(501);
        expect(res.body.code).toBe("unsupported");
        expect(res.body.message).toContain("GMAIL_PUSH_AUDIENCE");
      } finally {
        await bare.close();
      }
    });

    it("is server to server: no session, and a request from a foreign Origin is still judged by its token only", async () => {
      await t
        .anonymous()
        .post("/push/gmail")
        .set("origin", "https://pubsub.googleapis.com")
        .set("authorization", `Bearer ${idToken({})}`)
        .send(pubsub("owner@ledger.example"))
        .expect(204);
      expect(await waiting()).toBe(1);
    });
  });

  describe("Graph", () => {
    const notification = (clientState: string, extra: Record<string, unknown> = {}) => ({
      value: [
        {
          subscriptionId: "sub-inbox",
          clientState,
          changeType: "created",
          resource: "Users/x/Messages/AAMk1",
          resourceData: { id: "AAMk1" },
          tenantId: "t1",
          ...extra,
        },
      ],
    });

    it("answers the validation handshake with the decoded token as text/plain", async () => {
      const res = await t
        .anonymous()
        .post(`/push/graph?validationToken=${encodeURIComponent("Validation: Token <abc>&1")}`)
        .set("content-type", "text/plain")
        .send("")
        .expect(200);
      expect(res.headers["content-type"]).toMatch(/^text\/plain/);
      expect(res.text).toBe("Validation: Token <abc>&1");
      expect(await waiting()).toBe(0);
    });

    it("Y2: a notification with the right clientState brings one sync forward (202); replayed, it changes nothing more", async () => {
      const body = notification("the-client-state");
      await t.anonymous().post(`/push/graph?firm=${t.firm.id}`).send(body).expect(202);
      expect(await waiting()).toBe(1);
      await t.anonymous().post(`/push/graph?firm=${t.firm.id}`).send(body).expect(202);
      await t.anonymous().post(`/push/graph?firm=${t.firm.id}`).send(body).expect(202);
      expect(await waiting()).toBe(1);
    });

    it("Y2: a wrong or missing clientState, an unknown subscription or another firm's URL changes nothing", async () => {
      const before = await states();
      for (const [firm, body] of [
        [t.firm.id, notification("guessed-state")],
        [t.firm.id, notification("")],
        [t.firm.id, notification("the-client-state", { subscriptionId: "sub-unknown" })],
        [t.firm.id, { value: [{ subscriptionId: "sub-inbox", changeType: "created" }] }],
        ["another-firm", notification("the-client-state")],
        [t.firm.id, { junk: true }],
      ] as const)
        await t.anonymous().post(`/push/graph?firm=${firm}`).send(body).expect(202);
      expect(await waiting()).toBe(0);
      expect(await states()).toEqual(before);
      expect(await t.services.store.listPushRegistrations(t.firm.id, graphBox.id)).toHaveLength(1);
    });

    it("Y2: lifecycle events — reauthorizationRequired renews now, missed brings a pass, subscriptionRemoved registers again — only with the right clientState", async () => {
      const lifecycle = (event: string, clientState = "the-client-state") => ({
        value: [{ subscriptionId: "sub-inbox", clientState, lifecycleEvent: event, tenantId: "t1" }],
      });
      await t
        .anonymous()
        .post(`/push/graph?firm=${t.firm.id}`)
        .send(lifecycle("subscriptionRemoved", "forged"))
        .expect(202);
      expect(await waiting()).toBe(0);
      expect(await t.services.store.listPushRegistrations(t.firm.id, graphBox.id)).toHaveLength(1);

      await t.anonymous().post(`/push/graph?firm=${t.firm.id}`).send(lifecycle("missed")).expect(202);
      expect(await waiting()).toBe(1); // the mailbox's pass
      await t
        .anonymous()
        .post(`/push/graph?firm=${t.firm.id}`)
        .send(lifecycle("reauthorizationRequired"))
        .expect(202);
      expect(await waiting()).toBe(2); // + the renewal, due now
      await t
        .anonymous()
        .post(`/push/graph?firm=${t.firm.id}`)
        .send(lifecycle("subscriptionRemoved"))
        .expect(202);
      expect(await t.services.store.listPushRegistrations(t.firm.id, graphBox.id)).toHaveLength(0);
      expect(await waiting()).toBe(3); // + registering again
    });

    it("answers a notification without its firm with 400 validation_failed naming the field", async () => {
      const res = await t.anonymous().post("/push/graph").send(notification("the-client-state")).expect(400);
      expect(res.body).toMatchObject({ code: "validation_failed", field: "firm" });
      expect(await waiting()).toBe(0);
    });
  });
});
