/**
 * Microsoft token sources on MSAL (`@azure/msal-node`): the delegated authorization-code flow
 * with PKCE and a one-time state, delegated sources refreshed through MSAL's token cache (which
 * holds the refresh token and is kept only as keyring ciphertext, through a {@link SecretVault}),
 * and app-only client credentials: one app, admin-consented in a tenant, reads every mailbox of
 * the tenant and every shared mailbox (the Graph provider with `shared: true`).
 *
 * MSAL's network calls (instance discovery, the tenant's OpenID configuration, the token
 * endpoint) go through the `fetch` passed in, as its `networkClient`, so tests answer from the
 * testkit's fake identity platform.
 */
import {
  ConfidentialClientApplication,
  type Configuration,
  type ICachePlugin,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from "@azure/msal-node";
import { ClientMailError, ValidationError, type ValidationIssue } from "@clientmail/core";
import { systemClock, type AccessToken, type Clock, type TokenSource } from "@clientmail/core/ports";
import {
  codeChallengeOf,
  memoryAuthorizationStates,
  randomUrlSafe,
  type AuthorizationStates,
} from "./authorization-states.js";
import { CachedTokenSource } from "./cached-token.js";
import { translateTokenFailure } from "./errors.js";
import type { SecretVault } from "./secret-vault.js";

/** Delegated Graph scopes the Graph provider needs (read, and send). */
export const graphDelegatedScopes = [
  "https://graph.microsoft.com/Mail.ReadWrite",
  "https://graph.microsoft.com/Mail.Send",
] as const;
/** The app-only scope: every application permission the admin consented to. */
export const graphAppScope = "https://graph.microsoft.com/.default";
/** Delegated scope of Outlook's IMAP (XOAUTH2). */
export const outlookImapScope = "https://outlook.office.com/IMAP.AccessAsUser.All";

/** An app registration (confidential client) in Microsoft Entra ID. */
export interface MicrosoftApp {
  clientId: string;
  clientSecret: string;
  /** The tenant id or domain (`contoso.onmicrosoft.com`); `organizations` for multi-tenant delegated sign-in. */
  tenant: string;
}

/** What every Microsoft source shares. */
export interface MicrosoftTransportSettings {
  /** The HTTP client; defaults to the global `fetch`. Tests pass the fake's. */
  fetch?: typeof fetch | undefined;
  clock?: Clock | undefined;
  /** Default `https://login.microsoftonline.com` (national clouds have their own). */
  authorityHost?: string | undefined;
}

/** MSAL's network client over `fetch`: the library's HTTP goes where the host (or a test) says. */
export function fetchNetworkClient(fetchImplementation: typeof fetch): INetworkModule {
  const send = async <T>(method: "GET" | "POST", url: string, options?: NetworkRequestOptions) => {
    let response: Response;
    try {
      response = await fetchImplementation(url, {
        method,
        headers: options?.headers,
        ...(method === "POST" ? { body: options?.body } : {}),
      });
    } catch (error) {
      throw new ClientMailError("transient", "Microsoft's identity platform is unreachable", {
        cause: error,
        details: { issuer: "Microsoft" },
      });
    }
    const text = await response.text();
    let body: unknown = {};
    try {
      body = text === "" ? {} : JSON.parse(text);
    } catch {
      body = {};
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name.toLowerCase()] = value;
    });
    return { headers, body: body as T, status: response.status } satisfies NetworkResponse<T>;
  };
  return {
    sendGetRequestAsync: (url, options) => send("GET", url, options),
    sendPostRequestAsync: (url, options) => send("POST", url, options),
  };
}

/** MSAL's cache kept in a vault: read before each access, written (encrypted) when it changed. */
export function vaultCachePlugin(vault: SecretVault): ICachePlugin {
  return {
    async beforeCacheAccess(context) {
      const serialized = await vault.read();
      if (serialized !== undefined && serialized !== "") context.tokenCache.deserialize(serialized);
    },
    async afterCacheAccess(context) {
      if (context.cacheHasChanged) await vault.write(context.tokenCache.serialize());
    },
  };
}

function checkApp(app: Partial<MicrosoftApp>, issues: ValidationIssue[]): void {
  for (const field of ["clientId", "clientSecret", "tenant"] as const) {
    const value = app[field];
    if (typeof value !== "string" || value.trim() === "") {
      issues.push({
        field,
        value: field === "clientSecret" && value !== undefined ? "[redacted]" : value,
        expected: "a non-empty string",
      });
    }
  }
  if (typeof app.tenant === "string" && !/^[A-Za-z0-9.-]+$/.test(app.tenant)) {
    issues.push({ field: "tenant", value: app.tenant, expected: "a tenant id or domain name" });
  }
}

function application(
  app: MicrosoftApp,
  settings: MicrosoftTransportSettings,
  cachePlugin?: ICachePlugin,
): ConfidentialClientApplication {
  const host = (settings.authorityHost ?? "https://login.microsoftonline.com").replace(/\/$/, "");
  const configuration: Configuration = {
    auth: { clientId: app.clientId, clientSecret: app.clientSecret, authority: `${host}/${app.tenant}` },
    system: { networkClient: fetchNetworkClient(settings.fetch ?? globalThis.fetch.bind(globalThis)) },
    ...(cachePlugin ? { cache: { cachePlugin } } : {}),
  };
  return new ConfidentialClientApplication(configuration);
}

function tokenOf(result: { accessToken: string; expiresOn: Date | null } | null, clock: Clock): AccessToken {
  if (!result?.accessToken) {
    throw new ClientMailError("transient", "Microsoft's token endpoint returned no access token", {
      details: { issuer: "Microsoft" },
    });
  }
  return {
    token: result.accessToken,
    expiresAt: result.expiresOn ?? new Date(clock.now().getTime() + 3_600_000),
  };
}

/** Settings of {@link createMicrosoftAuthorization}. */
export interface MicrosoftAuthorizationSettings extends MicrosoftApp, MicrosoftTransportSettings {
  /** The redirect URI registered for the app. */
  redirectUri: string;
  /** Default {@link graphDelegatedScopes}. */
  scopes?: readonly string[] | undefined;
  /** Where states wait for their callback; default this process's memory. */
  states?: AuthorizationStates | undefined;
  /** How long a consent URL stays valid. Default 10 minutes. */
  stateTtlMs?: number | undefined;
}

/** The delegated authorization-code flow with PKCE for Microsoft 365 mailboxes. */
export interface MicrosoftAuthorization {
  /** A sign-in URL with a fresh one-time state and an S256 code challenge. */
  start(options?: {
    loginHint?: string;
    context?: Record<string, string>;
  }): Promise<{ url: string; state: string }>;
  /**
   * Exchanges the callback's code; MSAL's token cache (with the refresh token) is written to
   * `vault`, encrypted. The state works once: unknown, replayed or expired is `validation_failed`
   * (field `state`) before anything is sent; a refused code is `auth_revoked` (`invalid_grant`).
   */
  complete(
    callback: { state: string; code: string },
    vault: SecretVault,
  ): Promise<{ accessToken: AccessToken; username: string; context: Record<string, string> }>;
}

/** The sign-in flow that connects a user's Microsoft 365 mailbox. */
export function createMicrosoftAuthorization(
  settings: MicrosoftAuthorizationSettings,
): MicrosoftAuthorization {
  const issues: ValidationIssue[] = [];
  checkApp(settings, issues);
  if (typeof settings.redirectUri !== "string" || !/^https?:\/\//.test(settings.redirectUri)) {
    issues.push({
      field: "redirectUri",
      value: settings.redirectUri,
      expected: "the app's registered redirect URI",
    });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  const clock = settings.clock ?? systemClock;
  const states = settings.states ?? memoryAuthorizationStates(clock);
  const scopes = [...(settings.scopes ?? graphDelegatedScopes)];
  return {
    async start(options = {}) {
      const state = randomUrlSafe();
      const codeVerifier = randomUrlSafe();
      await states.put(
        state,
        { codeVerifier, redirectUri: settings.redirectUri, context: options.context ?? {} },
        new Date(clock.now().getTime() + (settings.stateTtlMs ?? 600_000)),
      );
      let url: string;
      try {
        url = await application(settings, settings).getAuthCodeUrl({
          scopes,
          redirectUri: settings.redirectUri,
          state,
          codeChallenge: codeChallengeOf(codeVerifier),
          codeChallengeMethod: "S256",
          responseMode: "query",
          ...(options.loginHint === undefined ? {} : { loginHint: options.loginHint }),
        });
      } catch (error) {
        throw translateTokenFailure(error, "Microsoft");
      }
      return { url, state };
    },
    async complete(callback, vault) {
      const pending = typeof callback?.state === "string" ? await states.take(callback.state) : undefined;
      if (!pending) {
        throw new ValidationError([
          {
            field: "state",
            value: callback?.state,
            expected: "the state of a sign-in URL not yet used or expired",
          },
        ]);
      }
      if (typeof callback.code !== "string" || callback.code === "") {
        throw new ValidationError([
          { field: "code", value: callback.code, expected: "the authorization code" },
        ]);
      }
      try {
        const result = await application(settings, settings, vaultCachePlugin(vault)).acquireTokenByCode({
          code: callback.code,
          scopes,
          redirectUri: pending.redirectUri,
          codeVerifier: pending.codeVerifier,
        });
        return {
          accessToken: tokenOf(result, clock),
          username: result.account?.username ?? "",
          context: pending.context,
        };
      } catch (error) {
        throw translateTokenFailure(error, "Microsoft");
      }
    },
  };
}

/** Settings of {@link microsoftDelegatedTokenSource}. */
export interface MicrosoftDelegatedSettings extends MicrosoftApp, MicrosoftTransportSettings {
  /** Where MSAL's token cache (with the refresh token) is kept, encrypted. */
  vault: SecretVault;
  /** Default {@link graphDelegatedScopes}; {@link outlookImapScope} for IMAP. */
  scopes?: readonly string[] | undefined;
}

/**
 * Access tokens for a connected user's mailbox, refreshed through MSAL's token cache: the
 * refresh token Microsoft rotates on each use is written back to the vault, encrypted.
 */
export function microsoftDelegatedTokenSource(settings: MicrosoftDelegatedSettings): TokenSource {
  const issues: ValidationIssue[] = [];
  checkApp(settings, issues);
  if (typeof settings.vault?.read !== "function") {
    issues.push({
      field: "vault",
      value: settings.vault,
      expected: "a SecretVault holding MSAL's token cache",
    });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  const clock = settings.clock ?? systemClock;
  const scopes = [...(settings.scopes ?? graphDelegatedScopes)];
  const app = application(settings, settings, vaultCachePlugin(settings.vault));
  return new CachedTokenSource(async ({ forceRefresh }) => {
    try {
      const [account] = await app.getTokenCache().getAllAccounts();
      if (!account) {
        throw new ClientMailError(
          "auth_revoked",
          "No Microsoft sign-in is stored for this mailbox: connect it again",
          {
            details: { issuer: "Microsoft" },
          },
        );
      }
      return tokenOf(await app.acquireTokenSilent({ account, scopes, forceRefresh }), clock);
    } catch (error) {
      throw translateTokenFailure(error, "Microsoft");
    }
  }, clock);
}

/** Settings of {@link microsoftAppTokenSource}. */
export interface MicrosoftAppSettings extends MicrosoftApp, MicrosoftTransportSettings {
  /** Default {@link graphAppScope}. Client credentials take one resource's `/.default`. */
  scope?: string | undefined;
}

/**
 * App-only access tokens (client credentials) for a whole tenant: the Graph provider with
 * `shared: true` reads any mailbox, shared mailboxes included, that the admin-consented
 * application permission (optionally narrowed by an application access policy) allows.
 */
export function microsoftAppTokenSource(settings: MicrosoftAppSettings): TokenSource {
  const issues: ValidationIssue[] = [];
  checkApp(settings, issues);
  if (settings.scope !== undefined && !/\/\.default$/.test(settings.scope)) {
    issues.push({ field: "scope", value: settings.scope, expected: "a resource's /.default scope" });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  const clock = settings.clock ?? systemClock;
  const app = application(settings, settings);
  return new CachedTokenSource(async ({ forceRefresh }) => {
    try {
      return tokenOf(
        await app.acquireTokenByClientCredential({
          scopes: [settings.scope ?? graphAppScope],
          skipCache: forceRefresh,
        }),
        clock,
      );
    } catch (error) {
      throw translateTokenFailure(error, "Microsoft");
    }
  }, clock);
}
