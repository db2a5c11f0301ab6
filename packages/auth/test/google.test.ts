/**
 * Google token sources against the Gmail fake's token endpoint (authorization code with PKCE,
 * refresh, JWT-bearer for a service account with domain-wide delegation), and the Gmail provider
 * consuming them: a refused token is refreshed once, then the failure is `auth_revoked`.
 */
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ClientMailError, createAesGcmKeyring, createClientMail, generateKeyringKey } from "@clientmail/core";
import { createGmailProvider } from "@clientmail/gmail";
import { createMemoryStore } from "@clientmail/memory";
import { createGmailFake } from "@clientmail/testkit";
import {
  createGoogleAuthorization,
  gmailScopes,
  googleRefreshTokenSource,
  googleServiceAccountTokenSource,
  mailboxCredentialsVault,
} from "../src/index.js";

const redirectUri = "https://crm.example/oauth/google/callback";

async function failure(call: Promise<unknown>): Promise<ClientMailError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ClientMailError.isInstance(error), String(error)).toBe(true);
  return error as ClientMailError;
}

async function mailboxWithVault(address: string) {
  const store = createMemoryStore();
  const keyring = createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" });
  const cm = createClientMail({ store, keyring });
  const firm = await cm.createFirm({ name: "Ledger", internalDomains: ["firm.example"] });
  const member = await cm.addMember(firm.id, { name: "Ann", email: address });
  const mailbox = await cm.connectMailbox(firm.id, member.id, { provider: "gmail", address });
  return {
    store,
    keyring,
    firm,
    mailbox,
    vault: mailboxCredentialsVault(store, keyring, firm.id, mailbox.id),
  };
}

/** One call that needs a valid token: the first page of changes. */
async function touch(provider: ReturnType<typeof createGmailProvider>): Promise<void> {
  for await (const page of provider.changes(undefined)) {
    expect(page).toBeDefined();
    break;
  }
}

describe("Google token sources", () => {
  it("Y1: the consent URL carries a one-time state and an S256 challenge; the code exchange stores the refresh token only as keyring ciphertext", async () => {
    const fake = createGmailFake();
    fake.addUser("ann@firm.example");
    const { store, keyring, firm, mailbox, vault } = await mailboxWithVault("ann@firm.example");
    const auth = createGoogleAuthorization({ ...fake.oauthClient, redirectUri, fetch: fake.fetch });
    const { url, state } = await auth.start({ loginHint: "ann@firm.example", context: { firmId: firm.id } });
    const consent = new URL(url);
    expect(consent.origin + consent.pathname).toBe("https://accounts.google.com/o/oauth2/v2/auth");
    expect(Object.fromEntries(consent.searchParams)).toMatchObject({
      client_id: fake.oauthClient.clientId,
      redirect_uri: redirectUri,
      response_type: "code",
      access_type: "offline",
      prompt: "consent",
      state,
      code_challenge_method: "S256",
      scope: gmailScopes.join(" "),
      login_hint: "ann@firm.example",
    });
    expect(consent.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const code = fake.approveConsent("ann@firm.example", url);
    const result = await auth.complete({ state, code });
    expect(result.context).toEqual({ firmId: firm.id });
    expect(result.accessToken.expiresAt.getTime()).toBeGreaterThan(Date.now());
    await vault.write(result.refreshToken);
    const stored = await store.getMailboxCredentials(firm.id, mailbox.id);
    expect(stored).toBeDefined();
    expect(stored).not.toContain(result.refreshToken);
    expect(
      await keyring.decrypt(stored!, { firmId: firm.id, recordId: mailbox.id, field: "credentials" }),
    ).toBe(result.refreshToken);

    // The state works once: a replayed callback is refused before anything reaches Google.
    const replay = await failure(auth.complete({ state, code }));
    expect(replay.code).toBe("validation_failed");
    expect(fake.calls.filter((c) => c.method === "token")).toHaveLength(1);
    // A code that is not Google's (or used) is invalid_grant: auth_revoked.
    const second = await auth.start();
    expect((await failure(auth.complete({ state: second.state, code: "4/forged" }))).code).toBe(
      "auth_revoked",
    );
  });

  it("Y1: a code exchanged with another verifier than its challenge's is refused (PKCE)", async () => {
    const fake = createGmailFake();
    fake.addUser("ann@firm.example");
    const auth = createGoogleAuthorization({ ...fake.oauthClient, redirectUri, fetch: fake.fetch });
    const first = await auth.start();
    const other = await auth.start();
    // The code was issued for the first URL's challenge; the second state holds another verifier.
    const code = fake.approveConsent("ann@firm.example", first.url);
    const refused = await failure(auth.complete({ state: other.state, code }));
    expect(refused.code).toBe("auth_revoked");
    expect(refused.details).toMatchObject({ oauthError: "invalid_grant", status: 400 });
  });

  it("Y1: the Gmail provider takes a refresh-token source: tokens are cached, a 401 refreshes once, a revoked grant is auth_revoked", async () => {
    const fake = createGmailFake();
    fake.addUser("ann@firm.example");
    const { vault } = await mailboxWithVault("ann@firm.example");
    await vault.write(fake.refreshTokenOf("ann@firm.example")!);
    const credentials = googleRefreshTokenSource({ ...fake.oauthClient, vault, fetch: fake.fetch });
    const provider = createGmailProvider({
      credentials,
      emailAddress: "ann@firm.example",
      fetch: fake.fetch,
      retry: { maxAttempts: 1 },
    });
    const tokenCalls = () => fake.calls.filter((c) => c.method === "token").length;
    await touch(provider);
    await touch(provider);
    expect(tokenCalls()).toBe(1);
    fake.expireAccessTokens();
    await touch(provider);
    expect(tokenCalls()).toBe(2);
    fake.revokeUser("ann@firm.example");
    expect((await failure(touch(provider))).code).toBe("auth_revoked");
    await provider.close();
  });

  it("Y1: a service account with domain-wide delegation acts as any mailbox of the domain (JWT-bearer with sub)", async () => {
    const fake = createGmailFake();
    fake.addUser("ann@firm.example");
    fake.addUser("bob@firm.example");
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();
    const privatePem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const clientEmail = "clientmail@firm-project.iam.gserviceaccount.com";
    fake.addServiceAccount(clientEmail, publicPem, gmailScopes);
    for (const subject of ["ann@firm.example", "bob@firm.example"]) {
      const credentials = googleServiceAccountTokenSource({
        clientEmail,
        privateKey: privatePem,
        subject,
        fetch: fake.fetch,
      });
      const token = await credentials.accessToken();
      expect(token.expiresAt.getTime()).toBeGreaterThan(Date.now());
      const provider = createGmailProvider({ credentials, emailAddress: subject, fetch: fake.fetch });
      await touch(provider);
      await provider.close();
    }
    // A 401 makes the source sign a new assertion instead of handing back the cached token.
    const source = googleServiceAccountTokenSource({
      clientEmail,
      privateKey: privatePem,
      subject: "ann@firm.example",
      fetch: fake.fetch,
    });
    const first = await source.accessToken();
    expect((await source.accessToken()).token).toBe(first.token);
    expect((await source.accessToken({ forceRefresh: true })).token).not.toBe(first.token);

    const unknown = googleServiceAccountTokenSource({
      clientEmail,
      privateKey: privatePem,
      subject: "nobody@firm.example",
      fetch: fake.fetch,
    });
    const noUser = await failure(unknown.accessToken());
    expect(noUser.code).toBe("auth_revoked");
    expect(noUser.details).toMatchObject({ oauthError: "invalid_grant" });

    const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    const forged = googleServiceAccountTokenSource({
      clientEmail,
      privateKey: otherKey,
      subject: "ann@firm.example",
      fetch: fake.fetch,
    });
    expect((await failure(forged.accessToken())).code).toBe("auth_revoked");
  });

  it("Y1: without domain-wide delegation for the scopes, a service account is permission_denied (unauthorized_client)", async () => {
    const fake = createGmailFake();
    fake.addUser("ann@firm.example");
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const clientEmail = "clientmail@firm-project.iam.gserviceaccount.com";
    fake.addServiceAccount(clientEmail, publicKey.export({ type: "spki", format: "pem" }).toString(), [
      "https://www.googleapis.com/auth/gmail.readonly",
    ]);
    const source = googleServiceAccountTokenSource({
      clientEmail,
      privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      subject: "ann@firm.example",
      fetch: fake.fetch,
    });
    const denied = await failure(source.accessToken());
    expect(denied.code).toBe("permission_denied");
    expect(denied.details).toMatchObject({ issuer: "Google", oauthError: "unauthorized_client" });
    expect(JSON.stringify(denied.details)).not.toContain("PRIVATE KEY");
  });

  it("settings name every bad field at once, secrets redacted", () => {
    let error: unknown;
    try {
      googleServiceAccountTokenSource({ clientEmail: "", privateKey: "not a key", subject: "ann" });
    } catch (e) {
      error = e;
    }
    expect(ClientMailError.isInstance(error) && error.code).toBe("validation_failed");
    expect((error as { issues: Array<{ field: string; value: unknown }> }).issues).toEqual([
      expect.objectContaining({ field: "clientEmail" }),
      expect.objectContaining({ field: "privateKey", value: "[redacted]" }),
      expect.objectContaining({ field: "subject", value: "ann" }),
    ]);
    expect(() => createGoogleAuthorization({ clientId: "x", clientSecret: "", redirectUri: "" })).toThrow(
      /clientSecret|redirectUri|invalid/i,
    );
  });
});
