/**
 * Microsoft token sources on MSAL against the Graph fake's identity platform (instance
 * discovery, OpenID configuration, the v2.0 token endpoint: authorization code with PKCE,
 * rotating refresh tokens, client credentials) and the Graph provider consuming them.
 */
import { describe, expect, it } from "vitest";
import { ClientMailError, createAesGcmKeyring, generateKeyringKey } from "@clientmail/core";
import { createGraphProvider } from "@clientmail/graph";
import { createGraphFake } from "@clientmail/testkit";
import {
  createMicrosoftAuthorization,
  graphDelegatedScopes,
  keyringVault,
  microsoftAppTokenSource,
  microsoftDelegatedTokenSource,
  type SecretVault,
} from "../src/index.js";

const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const app = { clientId: "5f1e7c9a-0000-4000-8000-00000000c11e", clientSecret: "app-secret-value", tenant };
const redirectUri = "https://crm.example/oauth/microsoft/callback";

async function failure(call: Promise<unknown>): Promise<ClientMailError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ClientMailError.isInstance(error), String(error)).toBe(true);
  return error as ClientMailError;
}

/** A vault that records what it was given, to show what is written and when. */
function recordingVault(): SecretVault & { writes: string[] } {
  const writes: string[] = [];
  return {
    writes,
    read: async () => writes.at(-1),
    write: async (secret) => {
      writes.push(secret);
    },
  };
}

async function touch(provider: ReturnType<typeof createGraphProvider>): Promise<void> {
  for await (const page of provider.changes(undefined)) {
    expect(page).toBeDefined();
    break;
  }
}

function refreshTokenIn(cache: string | undefined): string | undefined {
  const parsed = JSON.parse(cache ?? "{}") as { RefreshToken?: Record<string, { secret: string }> };
  return Object.values(parsed.RefreshToken ?? {})[0]?.secret;
}

describe("Microsoft token sources (MSAL)", () => {
  it("Y1: delegated sign-in with PKCE and a one-time state; MSAL's cache with the refresh token goes to the vault; the Graph provider refreshes once after a 401", async () => {
    const fake = createGraphFake({ tenantId: tenant });
    fake.addMailbox("ann@firm.example");
    fake.identity.registerApp(app.clientId, app.clientSecret);
    const auth = createMicrosoftAuthorization({ ...app, redirectUri, fetch: fake.fetch });
    const { url, state } = await auth.start({ loginHint: "ann@firm.example", context: { firmId: "f1" } });
    const signIn = new URL(url);
    expect(signIn.origin + signIn.pathname).toBe(
      `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/authorize`,
    );
    const params = Object.fromEntries(signIn.searchParams);
    expect(params).toMatchObject({
      client_id: app.clientId,
      redirect_uri: redirectUri,
      response_type: "code",
      response_mode: "query",
      state,
      code_challenge_method: "S256",
      login_hint: "ann@firm.example",
    });
    expect(params.scope!.split(" ")).toEqual(
      expect.arrayContaining([...graphDelegatedScopes, "offline_access"]),
    );

    const vault = recordingVault();
    const code = fake.identity.approveConsent("ann@firm.example", url);
    const result = await auth.complete({ state, code }, vault);
    expect(result.username).toBe("ann@firm.example");
    expect(result.context).toEqual({ firmId: "f1" });
    const firstRefreshToken = refreshTokenIn(vault.writes.at(-1));
    expect(firstRefreshToken).toMatch(/^1\.ARfakeRT\./);
    // Replayed callback: refused before the token endpoint is asked.
    expect((await failure(auth.complete({ state, code }, vault))).code).toBe("validation_failed");

    const tokenSource = microsoftDelegatedTokenSource({ ...app, vault, fetch: fake.fetch });
    const provider = createGraphProvider({ mailbox: "ann@firm.example", tokenSource, fetch: fake.fetch });
    await touch(provider);
    fake.revokeAccessTokens("ann@firm.example");
    await touch(provider);
    // The refresh used the stored refresh token; Microsoft rotated it and the vault has the new one.
    const rotated = refreshTokenIn(vault.writes.at(-1));
    expect(rotated).toBeDefined();
    expect(rotated).not.toBe(firstRefreshToken);

    fake.identity.revokeUser("ann@firm.example");
    fake.revokeAccessTokens("ann@firm.example");
    const revoked = await failure(touch(provider));
    expect(revoked.code).toBe("auth_revoked");
    await provider.close();
  });

  it("Y1: a code redeemed with another verifier than its challenge's is refused (AADSTS501481), and a wrong client secret is internal (AADSTS7000215)", async () => {
    const fake = createGraphFake({ tenantId: tenant });
    fake.addMailbox("ann@firm.example");
    fake.identity.registerApp(app.clientId, app.clientSecret);
    const auth = createMicrosoftAuthorization({ ...app, redirectUri, fetch: fake.fetch });
    const first = await auth.start();
    const other = await auth.start();
    const code = fake.identity.approveConsent("ann@firm.example", first.url);
    const mismatch = await failure(auth.complete({ state: other.state, code }, recordingVault()));
    expect(mismatch.code).toBe("auth_revoked");
    expect(mismatch.details).toMatchObject({ issuer: "Microsoft", oauthError: "invalid_grant" });

    const wrongSecret = microsoftAppTokenSource({
      ...app,
      clientSecret: "not-the-secret",
      fetch: fake.fetch,
    });
    const refused = await failure(wrongSecret.accessToken());
    expect(refused.code).toBe("internal");
    expect(refused.retryable).toBe(false);
    expect(refused.details).toMatchObject({ oauthError: "invalid_client" });
    expect(JSON.stringify(refused.details)).not.toContain("not-the-secret");
  });

  it("Y1, Y3: app-only client credentials read any mailbox of the tenant, shared mailboxes included, once an admin consented", async () => {
    const fake = createGraphFake({ tenantId: tenant });
    fake.addMailbox("ann@firm.example");
    fake.addMailbox("support@firm.example");
    fake.identity.registerApp(app.clientId, app.clientSecret);
    const tokenSource = microsoftAppTokenSource({ ...app, fetch: fake.fetch });
    const support = createGraphProvider({
      mailbox: "support@firm.example",
      shared: true,
      tokenSource,
      fetch: fake.fetch,
      retry: { maxAttempts: 1 },
    });
    // Before admin consent the app's token reaches no mailbox.
    expect((await failure(touch(support))).code).toBe("auth_revoked");
    fake.grantApplicationAccess(app.clientId);
    await touch(support);
    const ann = createGraphProvider({
      mailbox: "ann@firm.example",
      shared: true,
      tokenSource,
      fetch: fake.fetch,
    });
    await touch(ann);
    // App tokens are cached; a refused one is replaced once.
    const token = await tokenSource.accessToken();
    expect((await tokenSource.accessToken()).token).toBe(token.token);
    expect((await tokenSource.accessToken({ forceRefresh: true })).token).not.toBe(token.token);
    // `/me` has no meaning without a user.
    const me = createGraphProvider({
      mailbox: "ann@firm.example",
      tokenSource,
      fetch: fake.fetch,
      retry: { maxAttempts: 1 },
    });
    expect((await failure(touch(me))).code).not.toBe("transient");
    await Promise.all([support.close(), ann.close(), me.close()]);
  });

  it("Y1: through a keyring vault, MSAL's cache — and the rotating refresh token in it — is only ever stored as ciphertext", async () => {
    const fake = createGraphFake({ tenantId: tenant });
    fake.addMailbox("ann@firm.example");
    fake.identity.registerApp(app.clientId, app.clientSecret);
    const keyring = createAesGcmKeyring({ keys: { k1: generateKeyringKey() }, currentKeyId: "k1" });
    const context = { firmId: "f1", recordId: "mailbox-1", field: "credentials" };
    const stored: string[] = [];
    const vault = keyringVault(keyring, context, {
      load: async () => stored.at(-1),
      save: async (ciphertext) => {
        stored.push(ciphertext);
      },
    });
    const auth = createMicrosoftAuthorization({ ...app, redirectUri, fetch: fake.fetch });
    const { url, state } = await auth.start();
    await auth.complete({ state, code: fake.identity.approveConsent("ann@firm.example", url) }, vault);
    const source = microsoftDelegatedTokenSource({ ...app, vault, fetch: fake.fetch });
    await source.accessToken({ forceRefresh: true });
    expect(stored.length).toBeGreaterThanOrEqual(2);
    const refreshTokens = await Promise.all(
      stored.map(async (ciphertext) => refreshTokenIn(await keyring.decrypt(ciphertext, context))),
    );
    expect(new Set(refreshTokens).size).toBeGreaterThanOrEqual(2);
    for (const [index, ciphertext] of stored.entries()) {
      expect(ciphertext).not.toContain(refreshTokens[index]!);
      expect(ciphertext).not.toContain("RefreshToken");
    }
  });

  it("client credentials need a /.default scope; settings name every bad field, secrets redacted", async () => {
    let error: unknown;
    try {
      microsoftAppTokenSource({
        clientId: "",
        clientSecret: "s3cret",
        tenant: "bad tenant!",
        scope: "Mail.Read",
      });
    } catch (e) {
      error = e;
    }
    expect(ClientMailError.isInstance(error) && error.code).toBe("validation_failed");
    const issues = (error as { issues: Array<{ field: string; value: unknown }> }).issues;
    expect(issues.map((i) => i.field)).toEqual(["clientId", "tenant", "scope"]);
    expect(JSON.stringify(issues)).not.toContain("s3cret");

    const fake = createGraphFake({ tenantId: tenant });
    fake.identity.registerApp(app.clientId, app.clientSecret);
    const unknownTenant = microsoftAppTokenSource({ ...app, tenant: "nowhere.example", fetch: fake.fetch });
    const refused = await failure(unknownTenant.accessToken());
    expect(refused.retryable).toBe(false);
  });
});
