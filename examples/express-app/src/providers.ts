/**
 * How a mailbox's provider and sender are opened from its decrypted credentials. An IMAP
 * mailbox's credentials are the JSON the connect form stores ({@link ImapCredentials}); loopback
 * and private servers are refused unless MAIL_HOSTS_ALLOW lists them (R9).
 */
import type { ProvidersSetting, SendersSetting } from "@clientmail/core";
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

function imapSettings(config: AppConfig, credentials: string | undefined): ImapProviderSettings {
  const stored = JSON.parse(credentials ?? "{}") as ImapCredentials;
  return { ...stored.imap, hostPolicy: { allow: config.MAIL_HOSTS_ALLOW } };
}

/** The providers of each kind this configuration can open. */
export function mailProviders(config: AppConfig): ProvidersSetting {
  return {
    imap: (_mailbox, credentials) => createImapProvider(imapSettings(config, credentials)),
  };
}

/** The senders of each kind this configuration can open. */
export function mailSenders(config: AppConfig): SendersSetting {
  return {
    imap: (_mailbox, credentials) => {
      const stored = JSON.parse(credentials ?? "{}") as ImapCredentials;
      const imap = imapSettings(config, credentials);
      return createSmtpSender({ imap, smtp: stored.smtp ?? { host: imap.host, user: imap.user } });
    },
  };
}
