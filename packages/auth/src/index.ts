/**
 * OAuth token sources for clientmail mailboxes, implementing the core's `TokenSource` port that
 * the Gmail, Graph and IMAP (XOAUTH2) providers consume:
 *
 * - Google on google-auth-library: the authorization-code flow with PKCE and a one-time state,
 *   refresh-token sources, and service accounts with domain-wide delegation for Workspace;
 * - Microsoft on MSAL: delegated (authorization code with PKCE, refresh through MSAL's token
 *   cache) and app-only client credentials for whole tenants and shared mailboxes.
 *
 * Refresh tokens (and MSAL's cache, which holds them) are kept only as keyring ciphertext, through
 * a {@link SecretVault}.
 *
 * ```ts
 * import { googleRefreshTokenSource, mailboxCredentialsVault } from "@clientmail/auth";
 * import { createGmailProvider } from "@clientmail/gmail";
 * import type { DirectoryStore, Keyring } from "@clientmail/core/ports";
 *
 * declare const store: DirectoryStore, keyring: Keyring;
 * const credentials = googleRefreshTokenSource({
 *   clientId: "1234.apps.googleusercontent.com",
 *   clientSecret: "from-the-secret-store",
 *   vault: mailboxCredentialsVault(store, keyring, "firm-1", "mailbox-1"),
 * });
 * const gmail = createGmailProvider({ credentials, emailAddress: "ann@firm.example" });
 * ```
 *
 * @module
 */
export {
  memoryAuthorizationStates,
  type AuthorizationStates,
  type PendingAuthorization,
} from "./authorization-states.js";
export { translateTokenFailure } from "./errors.js";
export {
  keyringVault,
  mailboxCredentialsVault,
  memoryVault,
  type CiphertextStorage,
  type SecretVault,
} from "./secret-vault.js";
export {
  createGoogleAuthorization,
  gmailScopes,
  googleRefreshTokenSource,
  googleServiceAccountTokenSource,
  type GoogleAuthorization,
  type GoogleAuthorizationResult,
  type GoogleAuthorizationSettings,
  type GoogleOAuthClient,
  type GoogleRefreshTokenSourceSettings,
  type GoogleServiceAccountSettings,
  type GoogleTransportSettings,
} from "./google.js";
export {
  createMicrosoftAuthorization,
  fetchNetworkClient,
  graphAppScope,
  graphDelegatedScopes,
  microsoftAppTokenSource,
  microsoftDelegatedTokenSource,
  outlookImapScope,
  vaultCachePlugin,
  type MicrosoftApp,
  type MicrosoftAppSettings,
  type MicrosoftAuthorization,
  type MicrosoftAuthorizationSettings,
  type MicrosoftDelegatedSettings,
  type MicrosoftTransportSettings,
} from "./microsoft.js";
