/**
 * The Google and Microsoft authorization-code flows (PKCE, one-time state) of `@clientmail/auth`,
 * built from the configuration, and what a completed flow stores: Google's refresh token, or
 * MSAL's token cache (which holds Microsoft's refresh token). Both are handed to
 * `cm.connectMailbox`, which keeps them only as keyring ciphertext; the providers then read them
 * through `mailboxCredentialsVault` (providers.ts).
 */
import {
  createGoogleAuthorization,
  createMicrosoftAuthorization,
  memoryVault,
  type GoogleAuthorization,
  type MicrosoftAuthorization,
} from "@clientmail/auth";
import { ClientMailError } from "@clientmail/core";
import { HttpError } from "../http/errors.js";
import type { Services } from "../services.js";

/** The OAuth providers a mailbox can be connected with, and the SDK's provider kind of each. */
export const oauthProviders = { google: "gmail", microsoft: "graph" } as const;
export type OAuthProvider = keyof typeof oauthProviders;

/** The OAuth client of `provider` in the app's configuration, if it has one. */
export function oauthClient(
  config: Services["config"],
  provider: OAuthProvider,
): { clientId: string; clientSecret: string } | undefined {
  const [clientId, clientSecret] =
    provider === "google"
      ? [config.GOOGLE_CLIENT_ID, config.GOOGLE_CLIENT_SECRET]
      : [config.MICROSOFT_CLIENT_ID, config.MICROSOFT_CLIENT_SECRET];
  return clientId && clientSecret ? { clientId, clientSecret } : undefined;
}

/** Which ways to connect a mailbox this configuration offers (IMAP/SMTP always). */
export function connectOptions(config: Services["config"]): Record<OAuthProvider | "imap", boolean> {
  return {
    google: oauthClient(config, "google") !== undefined,
    microsoft: oauthClient(config, "microsoft") !== undefined,
    imap: true,
  };
}

/** The callback URL registered for a provider's OAuth client. */
export function callbackUrl(services: Services, provider: OAuthProvider): string {
  return `${services.config.publicUrl}/connect/${provider}/callback`;
}

/** A flow's start, and its completion as what connectMailbox needs. */
export interface OAuthFlow {
  start(options: {
    loginHint?: string;
    context: Record<string, string>;
  }): Promise<{ url: string; state: string }>;
  complete(callback: { state: string; code: string }): Promise<{
    address: string;
    credentials: string;
    context: Record<string, string>;
  }>;
}

/** 501, naming the variables to set (an HttpError, so the message is shown: it holds no data). */
function notConfigured(provider: OAuthProvider): HttpError {
  const variables =
    provider === "google"
      ? "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET"
      : "MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET";
  return new HttpError(
    501,
    "unsupported",
    `Connecting ${provider === "google" ? "Gmail" : "Microsoft 365"} mailboxes is not configured: set ${variables}`,
  );
}

/** Asks Gmail which address the granted access token belongs to. */
async function gmailAddress(services: Services, accessToken: string): Promise<string> {
  const fetchImplementation = services.outbound.fetch ?? globalThis.fetch.bind(globalThis);
  let response: Response;
  try {
    response = await fetchImplementation("https://gmail.googleapis.com/gmail/v1/users/me/profile", {
      headers: { authorization: `Bearer ${accessToken}` },
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    throw new ClientMailError("transient", "Gmail could not be reached to read the mailbox's address", {
      cause: error,
    });
  }
  const profile = (await response.json().catch(() => ({}))) as { emailAddress?: unknown };
  if (!response.ok || typeof profile.emailAddress !== "string")
    throw new ClientMailError("transient", "Gmail did not tell the mailbox's address", {
      details: { status: response.status },
    });
  return profile.emailAddress;
}

function googleFlow(services: Services, auth: GoogleAuthorization): OAuthFlow {
  return {
    start: (options) => auth.start(options),
    async complete(callback) {
      const result = await auth.complete(callback);
      return {
        address: await gmailAddress(services, result.accessToken.token),
        credentials: result.refreshToken,
        context: result.context,
      };
    },
  };
}

function microsoftFlow(auth: MicrosoftAuthorization): OAuthFlow {
  return {
    start: (options) => auth.start(options),
    async complete(callback) {
      // MSAL writes its cache (with the refresh token) here; connectMailbox then encrypts it.
      const vault = memoryVault();
      const result = await auth.complete(callback, vault);
      const cache = await vault.read();
      if (!cache || !result.username)
        throw new ClientMailError("internal", "Microsoft returned no account for the sign-in");
      return { address: result.username, credentials: cache, context: result.context };
    },
  };
}

/** The flows this configuration offers, made once per app. */
export function oauthFlows(services: Services): (provider: OAuthProvider) => OAuthFlow {
  const { config, authorizationStates: states, outbound } = services;
  const made = new Map<OAuthProvider, OAuthFlow>();
  return (provider) => {
    const existing = made.get(provider);
    if (existing) return existing;
    const client = oauthClient(config, provider);
    if (!client) throw notConfigured(provider);
    let flow: OAuthFlow;
    if (provider === "google") {
      flow = googleFlow(
        services,
        createGoogleAuthorization({
          ...client,
          redirectUri: callbackUrl(services, provider),
          states,
          fetch: outbound.fetch,
        }),
      );
    } else {
      flow = microsoftFlow(
        createMicrosoftAuthorization({
          ...client,
          tenant: config.MICROSOFT_TENANT,
          redirectUri: callbackUrl(services, provider),
          states,
          fetch: outbound.fetch,
        }),
      );
    }
    made.set(provider, flow);
    return flow;
  };
}
