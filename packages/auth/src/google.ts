/**
 * Google token sources on google-auth-library: the authorization-code flow with PKCE that
 * connects a user's mailbox (consent URL with a one-time state, code exchange), refresh-token
 * sources for connected mailboxes, and a service account with domain-wide delegation, which a
 * Workspace admin authorises once for the whole domain (the JWT's `sub` names the mailbox).
 *
 * Every request goes through the `fetch` passed in (google-auth-library's gaxios takes it as its
 * `fetchImplementation`), so tests answer from the testkit's fake token endpoint.
 */
import { CodeChallengeMethod, JWT, OAuth2Client } from "google-auth-library";
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

/** Gmail's scope for reading and sending (what the Gmail provider needs). */
export const gmailScopes = ["https://www.googleapis.com/auth/gmail.modify"] as const;

/** An OAuth client registered in the Google Cloud console. */
export interface GoogleOAuthClient {
  clientId: string;
  clientSecret: string;
}

/** What every Google source shares. */
export interface GoogleTransportSettings {
  /** The HTTP client; defaults to the global `fetch`. Tests pass the fake's. */
  fetch?: typeof fetch | undefined;
  clock?: Clock | undefined;
}

function transport(settings: GoogleTransportSettings) {
  const fetchImplementation = settings.fetch ?? globalThis.fetch.bind(globalThis);
  // Retries are the provider's (R3, R6); the library's own would multiply them.
  return { transporterOptions: { fetchImplementation, retry: false } };
}

function nonEmpty(issues: ValidationIssue[], field: string, value: unknown, secret = false): void {
  if (typeof value !== "string" || value.trim() === "") {
    issues.push({
      field,
      value: secret && value !== undefined ? "[redacted]" : value,
      expected: "a non-empty string",
    });
  }
}

function expiresAt(expiryDate: number | null | undefined, clock: Clock): Date {
  return new Date(expiryDate ?? clock.now().getTime() + 3_600_000);
}

/** Settings of {@link createGoogleAuthorization}. */
export interface GoogleAuthorizationSettings extends GoogleOAuthClient, GoogleTransportSettings {
  /** The callback URL registered for the client. */
  redirectUri: string;
  /** Default {@link gmailScopes}. */
  scopes?: readonly string[] | undefined;
  /** Where states wait for their callback; default this process's memory. */
  states?: AuthorizationStates | undefined;
  /** How long a consent URL stays valid. Default 10 minutes. */
  stateTtlMs?: number | undefined;
}

/** The outcome of a completed authorization. */
export interface GoogleAuthorizationResult {
  /** Keep it encrypted: write it to the mailbox's vault (see {@link mailboxCredentialsVault}). */
  refreshToken: string;
  accessToken: AccessToken;
  scopes: string[];
  /** The context given to `start`. */
  context: Record<string, string>;
}

/** The authorization-code flow with PKCE for Google mailboxes. */
export interface GoogleAuthorization {
  /** A consent URL with a fresh one-time state and an S256 code challenge. */
  start(options?: {
    loginHint?: string;
    context?: Record<string, string>;
  }): Promise<{ url: string; state: string }>;
  /**
   * Exchanges the callback's code. The state works once: an unknown, replayed or expired state is
   * `validation_failed` (field `state`) before anything is sent to Google; a refused code is
   * `auth_revoked` (`invalid_grant`).
   */
  complete(callback: { state: string; code: string }): Promise<GoogleAuthorizationResult>;
}

/** The consent flow that connects a user's Gmail mailbox with offline access. */
export function createGoogleAuthorization(settings: GoogleAuthorizationSettings): GoogleAuthorization {
  const issues: ValidationIssue[] = [];
  nonEmpty(issues, "clientId", settings.clientId);
  nonEmpty(issues, "clientSecret", settings.clientSecret, true);
  nonEmpty(issues, "redirectUri", settings.redirectUri);
  if (issues.length > 0) throw new ValidationError(issues);
  const clock = settings.clock ?? systemClock;
  const states = settings.states ?? memoryAuthorizationStates(clock);
  const scopes = [...(settings.scopes ?? gmailScopes)];
  const client = () =>
    new OAuth2Client({
      clientId: settings.clientId,
      clientSecret: settings.clientSecret,
      redirectUri: settings.redirectUri,
      ...transport(settings),
    });
  return {
    async start(options = {}) {
      const state = randomUrlSafe();
      const codeVerifier = randomUrlSafe();
      await states.put(
        state,
        { codeVerifier, redirectUri: settings.redirectUri, context: options.context ?? {} },
        new Date(clock.now().getTime() + (settings.stateTtlMs ?? 600_000)),
      );
      const url = client().generateAuthUrl({
        access_type: "offline",
        prompt: "consent",
        include_granted_scopes: true,
        scope: scopes,
        state,
        code_challenge_method: CodeChallengeMethod.S256,
        code_challenge: codeChallengeOf(codeVerifier),
        ...(options.loginHint === undefined ? {} : { login_hint: options.loginHint }),
      });
      return { url, state };
    },
    async complete(callback) {
      const pending = typeof callback?.state === "string" ? await states.take(callback.state) : undefined;
      if (!pending) {
        throw new ValidationError([
          {
            field: "state",
            value: callback?.state,
            expected: "the state of a consent URL not yet used or expired",
          },
        ]);
      }
      if (typeof callback.code !== "string" || callback.code === "") {
        throw new ValidationError([
          { field: "code", value: callback.code, expected: "the authorization code" },
        ]);
      }
      let tokens;
      try {
        ({ tokens } = await client().getToken({
          code: callback.code,
          codeVerifier: pending.codeVerifier,
          redirect_uri: pending.redirectUri,
        }));
      } catch (error) {
        throw translateTokenFailure(error, "Google");
      }
      if (!tokens.refresh_token || !tokens.access_token) {
        throw new ClientMailError(
          "internal",
          "Google returned no refresh token: the consent URL must ask for offline access",
          { retryable: false, details: { issuer: "Google" } },
        );
      }
      return {
        refreshToken: tokens.refresh_token,
        accessToken: { token: tokens.access_token, expiresAt: expiresAt(tokens.expiry_date, clock) },
        scopes: (tokens.scope ?? "").split(" ").filter(Boolean),
        context: pending.context,
      };
    },
  };
}

/** Settings of {@link googleRefreshTokenSource}. */
export interface GoogleRefreshTokenSourceSettings extends GoogleOAuthClient, GoogleTransportSettings {
  /** Where the refresh token is kept (encrypted); a new one Google hands out replaces it. */
  vault: SecretVault;
}

/** Access tokens for a connected mailbox, refreshed with its stored refresh token. */
export function googleRefreshTokenSource(settings: GoogleRefreshTokenSourceSettings): TokenSource {
  const issues: ValidationIssue[] = [];
  nonEmpty(issues, "clientId", settings.clientId);
  nonEmpty(issues, "clientSecret", settings.clientSecret, true);
  if (typeof settings.vault?.read !== "function") {
    issues.push({
      field: "vault",
      value: settings.vault,
      expected: "a SecretVault holding the refresh token",
    });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  const clock = settings.clock ?? systemClock;
  return new CachedTokenSource(async () => {
    const refreshToken = await settings.vault.read();
    if (refreshToken === undefined || refreshToken === "") {
      throw new ClientMailError(
        "auth_revoked",
        "No refresh token is stored for this mailbox: connect it again",
        {
          details: { issuer: "Google" },
        },
      );
    }
    const client = new OAuth2Client({
      clientId: settings.clientId,
      clientSecret: settings.clientSecret,
      ...transport(settings),
    });
    client.setCredentials({ refresh_token: refreshToken });
    let token: string | null | undefined;
    try {
      ({ token } = await client.getAccessToken());
    } catch (error) {
      throw translateTokenFailure(error, "Google");
    }
    if (!token) throw new ClientMailError("transient", "Google's token endpoint returned no access token");
    const rotated = client.credentials.refresh_token;
    if (rotated && rotated !== refreshToken) await settings.vault.write(rotated);
    return { token, expiresAt: expiresAt(client.credentials.expiry_date, clock) };
  }, clock);
}

/** Settings of {@link googleServiceAccountTokenSource}. */
export interface GoogleServiceAccountSettings extends GoogleTransportSettings {
  /** The service account's `client_email`. */
  clientEmail: string;
  /** The service account's `private_key` (PEM). Never logged. */
  privateKey: string;
  /** The key's id (`private_key_id`), sent as the JWT's `kid`. */
  privateKeyId?: string | undefined;
  /**
   * The mailbox to act as (the JWT's `sub`). Domain-wide delegation must be granted to the
   * service account's client id for `scopes` in the Workspace admin console.
   */
  subject: string;
  /** Default {@link gmailScopes}. */
  scopes?: readonly string[] | undefined;
}

/**
 * Access tokens for any mailbox of a Workspace domain, from a service account with domain-wide
 * delegation: the JWT-bearer grant (RFC 7523) with `sub` = the mailbox. No user consent and no
 * refresh token; the key is the secret (keep it in the host's secret store). Without delegation
 * for the scopes Google answers `unauthorized_client`: `permission_denied`.
 */
export function googleServiceAccountTokenSource(settings: GoogleServiceAccountSettings): TokenSource {
  const issues: ValidationIssue[] = [];
  nonEmpty(issues, "clientEmail", settings.clientEmail);
  if (typeof settings.privateKey !== "string" || !settings.privateKey.includes("PRIVATE KEY")) {
    issues.push({
      field: "privateKey",
      value: "[redacted]",
      expected: "the service account's PEM private key",
    });
  }
  if (typeof settings.subject !== "string" || !/^[^\s@]+@[^\s@]+$/.test(settings.subject)) {
    issues.push({
      field: "subject",
      value: settings.subject,
      expected: "the address of the mailbox to act as",
    });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  const clock = settings.clock ?? systemClock;
  return new CachedTokenSource(async () => {
    // A new client per refresh: the library's own cache would hand the refused token back.
    const jwt = new JWT({
      email: settings.clientEmail,
      key: settings.privateKey,
      keyId: settings.privateKeyId,
      scopes: [...(settings.scopes ?? gmailScopes)],
      subject: settings.subject,
      ...transport(settings),
    });
    let credentials;
    try {
      credentials = await jwt.authorize();
    } catch (error) {
      throw translateTokenFailure(error, "Google");
    }
    if (!credentials.access_token) {
      throw new ClientMailError("transient", "Google's token endpoint returned no access token");
    }
    return { token: credentials.access_token, expiresAt: expiresAt(credentials.expiry_date, clock) };
  }, clock);
}
