/**
 * How a mailbox's provider and sender are opened from its stored credentials.
 *
 * - IMAP: the credentials are the JSON the connect form stores ({@link ImapCredentials});
 *   loopback and private servers are refused unless MAIL_HOSTS_ALLOW lists them (R9).
 * - Gmail: the credentials are the refresh token of the Google consent flow; the provider gets a
 *   `googleRefreshTokenSource` over the mailbox's credentials vault, so a rotated token is written
 *   back encrypted where the engine reads it. Watched on GMAIL_PUSH_TOPIC when set.
 * - Microsoft 365: the credentials are MSAL's token cache from the sign-in flow; the provider gets a
 *   `microsoftDelegatedTokenSource` over the same vault. With an https PUBLIC_URL its change
 *   notifications go to `/push/graph?firm=<firm id>`.
 *
 * An OAuth provider whose client is not configured refuses to open with `unsupported`, naming the
 * variables to set.
 */
import {
  googleRefreshTokenSource,
  mailboxCredentialsVault,
  microsoftDelegatedTokenSource,
} from "@clientmail/auth";
import { ClientMailError, type Mailbox, type ProvidersSetting, type SendersSetting } from "@clientmail/core";
import type { DirectoryStore, Keyring } from "@clientmail/core/ports";
import { createGmailProvider, createGmailSender, type GmailProviderSettings } from "@clientmail/gmail";
import { createGraphProvider, createGraphSender, type GraphProviderSettings } from "@clientmail/graph";
import {
  createImapProvider,
  createSmtpSender,
  type ImapProviderSettings,
  type SmtpSenderSettings,
} from "@clientmail/imap";
import type { AppConfig } from "./config.js";

/** What an IMAP/SMTP mailbox's stored credentials hold (encrypted by the keyring). */
export interface ImapCredentials {
  imap: Omit<ImapProviderSettings, "hostPolicy" | "socketFactory">;
  smtp?: SmtpSenderSettings["smtp"] | undefined;
}

/** How names of mail servers are resolved (the host policy's; tests inject one). */
export type HostResolver = NonNullable<NonNullable<ImapProviderSettings["hostPolicy"]>["resolve"]>;

/** What the factories need besides the configuration. */
export interface ProviderWiring {
  /** Where the OAuth token sources keep rotated refresh tokens (the mailbox's credentials). */
  store: Pick<DirectoryStore, "getMailboxCredentials" | "setMailboxCredentials">;
  keyring: Keyring;
  /** The HTTP client of Google and Microsoft calls; default the global one. */
  fetch?: typeof fetch | undefined;
  /** The host policy's resolver; default the system's. */
  resolve?: HostResolver | undefined;
}

/** The host policy of IMAP and SMTP connections (R9). */
export function hostPolicyOf(config: AppConfig, wiring: Pick<ProviderWiring, "resolve">) {
  return { allow: config.MAIL_HOSTS_ALLOW, ...(wiring.resolve ? { resolve: wiring.resolve } : {}) };
}

function imapSettings(
  config: AppConfig,
  wiring: ProviderWiring,
  credentials: string | undefined,
): ImapProviderSettings {
  const stored = JSON.parse(credentials ?? "{}") as ImapCredentials;
  return { ...stored.imap, hostPolicy: hostPolicyOf(config, wiring) };
}

function notConfigured(kind: string, variables: string): ClientMailError {
  return new ClientMailError(
    "unsupported",
    `${kind} mailboxes need ${variables} in the app's configuration`,
    {
      details: { option: variables },
    },
  );
}

function gmailSettings(config: AppConfig, wiring: ProviderWiring, mailbox: Mailbox): GmailProviderSettings {
  if (!config.GOOGLE_CLIENT_ID || !config.GOOGLE_CLIENT_SECRET)
    throw notConfigured("Gmail", "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET");
  return {
    credentials: googleRefreshTokenSource({
      clientId: config.GOOGLE_CLIENT_ID,
      clientSecret: config.GOOGLE_CLIENT_SECRET,
      vault: mailboxCredentialsVault(wiring.store, wiring.keyring, mailbox.firmId, mailbox.id),
      fetch: wiring.fetch,
    }),
    emailAddress: mailbox.address,
    fetch: wiring.fetch,
    ...(config.GMAIL_PUSH_TOPIC ? { push: { topicName: config.GMAIL_PUSH_TOPIC } } : {}),
  };
}

function graphSettings(config: AppConfig, wiring: ProviderWiring, mailbox: Mailbox): GraphProviderSettings {
  if (!config.MICROSOFT_CLIENT_ID || !config.MICROSOFT_CLIENT_SECRET)
    throw notConfigured("Microsoft 365", "MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET");
  const hook = `${config.publicUrl}/push/graph?firm=${encodeURIComponent(mailbox.firmId)}`;
  return {
    mailbox: mailbox.address,
    tokenSource: microsoftDelegatedTokenSource({
      clientId: config.MICROSOFT_CLIENT_ID,
      clientSecret: config.MICROSOFT_CLIENT_SECRET,
      tenant: config.MICROSOFT_TENANT,
      vault: mailboxCredentialsVault(wiring.store, wiring.keyring, mailbox.firmId, mailbox.id),
      fetch: wiring.fetch,
    }),
    fetch: wiring.fetch,
    // Graph delivers notifications to https endpoints only.
    ...(config.publicUrl.startsWith("https:")
      ? { push: { notificationUrl: hook, lifecycleNotificationUrl: hook } }
      : {}),
  };
}

/** The providers of each kind this configuration can open. */
export function mailProviders(config: AppConfig, wiring: ProviderWiring): ProvidersSetting {
  return {
    imap: (_mailbox, credentials) => createImapProvider(imapSettings(config, wiring, credentials)),
    gmail: (mailbox) => createGmailProvider(gmailSettings(config, wiring, mailbox)),
    graph: (mailbox) => createGraphProvider(graphSettings(config, wiring, mailbox)),
  };
}

/** The senders of each kind this configuration can open. */
export function mailSenders(config: AppConfig, wiring: ProviderWiring): SendersSetting {
  return {
    imap: (_mailbox, credentials) => {
      const stored = JSON.parse(credentials ?? "{}") as ImapCredentials;
      const imap = imapSettings(config, wiring, credentials);
      return createSmtpSender({ imap, smtp: stored.smtp ?? { host: imap.host, user: imap.user } });
    },
    gmail: (mailbox) => createGmailSender(gmailSettings(config, wiring, mailbox)),
    graph: (mailbox) => createGraphSender(graphSettings(config, wiring, mailbox)),
  };
}
