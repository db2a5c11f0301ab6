/**
 * `createSmtpSender`: the SMTP + IMAP implementation of the MailSender port (S4, S5, S6).
 *
 * - `send`: the shared MIME builder's bytes (Bcc only in the envelope) go to the SMTP server
 *   through nodemailer's SMTP transport, once (never retried here, S4). The connection is vetted
 *   like IMAP's (R9): the host policy resolves and checks the SMTP host, nodemailer gets the
 *   vetted address's socket through its `getSocket` hook (it never resolves the name itself), and
 *   TLS follows the same rules (TLS 1.2 at least, certificate checked against the host name,
 *   required STARTTLS fails closed, cleartext to loopback only unless `allowInsecure`). Then,
 *   unless `serverSavesSent`, the same bytes are APPENDed (`\Seen`) to the `\Sent` special-use
 *   folder. SMTP relays keep a well-formed Message-ID, so the receipt reports the composed one.
 * - `findSent`: `UID SEARCH HEADER Message-ID <id>` (with `SINCE` when given) in that folder.
 * - `testSmtpConnection`: the same vetted connection, greeting, TLS and login, sending nothing
 *   (a connection test before a mailbox is saved).
 * - Failures: SMTP 5xx for a recipient or the message (`EENVELOPE`, 550–553, 552 size) are
 *   `validation_failed`; 421/450–452 are `rate_limited`; authentication refused is
 *   `auth_revoked`; socket, DNS and TLS failures are ConnectionErrors with the reasons IMAP uses
 *   (a failed or missing required STARTTLS is `tls_failed`); anything else is `transient`. A failure to APPEND after
 *   the server accepted the message is logged and the send still succeeds (the message went).
 */
import { ClientMailError, ConnectionError, ValidationError } from "@clientmail/core";
import type {
  CallOptions,
  MailSender,
  OutgoingMessage,
  SendReceipt,
  SentLookup,
} from "@clientmail/core/ports";
import {
  SendPacer,
  buildMime,
  checkConnectionSecurity,
  classifyNetworkError,
  openVettedSocket,
  providerClosedError,
  tlsOptionsFor,
  type TlsSettings,
  type TransportSecurity,
  type VettedDestination,
} from "@clientmail/provider-utils";
import { systemClock } from "@clientmail/core/ports";
import nodemailer, { type Transporter } from "nodemailer";
import type { ImapFlow } from "imapflow";
import { ImapConnection } from "./connection.js";
import { resolveSettings, type ImapProviderSettings, type ResolvedImapSettings } from "./settings.js";

/** Settings of {@link createSmtpSender}. */
export interface SmtpSenderSettings {
  /**
   * The mailbox's IMAP settings (the sent folder is APPENDed to and searched there). The host
   * policy, `allowInsecure` and `socketFactory` given here apply to the SMTP connection too.
   */
  imap: ImapProviderSettings;
  smtp: {
    /** The submission server's host name or IP address, checked by the host policy (R9). */
    host: string;
    /** Defaults to 465 with `security: "tls"`, else 587. */
    port?: number | undefined;
    /** `tls` (default), `starttls` (required), or `none` (loopback only unless `allowInsecure`). */
    security?: TransportSecurity | undefined;
    tls?: TlsSettings | undefined;
    /** Login; defaults to the IMAP login and secret. */
    user?: string | undefined;
    password?: string | undefined;
    accessToken?: string | undefined;
  };
  /** The SMTP server saves a copy in the sent folder itself (Gmail, Exchange): no APPEND. Default false. */
  serverSavesSent?: boolean | undefined;
  /** The sent folder: a special-use name or an exact path. Default `\Sent`. */
  sentFolder?: string | undefined;
  /** The mailbox's sending pacer. Default: no limit (set the server's, e.g. 30 a minute). */
  sendPacer?: SendPacer | undefined;
  /** Messages larger than this (bytes) are refused before connecting. Default 35 MB. */
  maxMessageBytes?: number | undefined;
}

/** What nodemailer's SMTP errors carry, as far as the sender reads them. */
interface SmtpError {
  code?: string;
  responseCode?: number;
}

/** A failure to reach the SMTP server securely, or undefined when `error` is another failure. */
function smtpConnectionFailure(error: unknown): ConnectionError | undefined {
  const { code, responseCode } = (error ?? {}) as SmtpError;
  const details = { provider: "smtp", smtpCode: code, responseCode };
  const network = classifyNetworkError(error);
  if (network) return new ConnectionError(network.reason, { cause: error, hint: network.hint, details });
  // A STARTTLS that failed, or that a server required to offer it did not offer: fail closed.
  if (code === "ETLS") return new ConnectionError("tls_failed", { cause: error, details });
  return undefined;
}

function smtpFailure(error: unknown, message: OutgoingMessage): ClientMailError {
  if (ClientMailError.isInstance(error)) return error;
  const connection = smtpConnectionFailure(error);
  if (connection) return connection;
  const { code, responseCode } = (error ?? {}) as SmtpError;
  const details = { provider: "smtp", smtpCode: code, responseCode };
  if (code === "EAUTH")
    return new ClientMailError("auth_revoked", "The SMTP server refused the login", {
      cause: error,
      details,
    });
  if (responseCode === 552 || responseCode === 523)
    return new ValidationError(
      [{ field: "message", value: message.messageId, expected: "a message within the server's size limit" }],
      { cause: error },
    );
  if (code === "EENVELOPE" || (responseCode !== undefined && responseCode >= 550 && responseCode <= 553))
    return new ValidationError(
      [
        {
          field: "to",
          value: [...message.to, ...message.cc, ...message.bcc].map((address) => address.address),
          expected: `recipients the SMTP server accepts (${responseCode ?? code ?? "refused"})`,
        },
      ],
      { cause: error },
    );
  if (responseCode === 421 || responseCode === 450 || responseCode === 451 || responseCode === 452)
    return new ClientMailError("rate_limited", `The SMTP server deferred the message (${responseCode})`, {
      cause: error,
      details,
    });
  return new ClientMailError("transient", `Sending over SMTP failed (${code ?? responseCode ?? "error"})`, {
    cause: error,
    details,
  });
}

/** The SMTP server's security and port, with their defaults. */
function endpointOf(settings: SmtpSenderSettings): { security: TransportSecurity; port: number } {
  const security = settings.smtp.security ?? "tls";
  return { security, port: settings.smtp.port ?? (security === "tls" ? 465 : 587) };
}

async function vet(settings: SmtpSenderSettings, imap: ResolvedImapSettings): Promise<VettedDestination> {
  const { security, port } = endpointOf(settings);
  const destination = await imap.hostPolicy.vet(
    { protocol: "smtp", host: settings.smtp.host, port, provider: "smtp" },
    { timeoutMs: imap.connectionTimeoutMs },
  );
  checkConnectionSecurity(
    {
      host: settings.smtp.host,
      security,
      rejectUnauthorized: settings.smtp.tls?.rejectUnauthorized,
      allowInsecure: imap.allowInsecure,
    },
    destination,
    { provider: "smtp", logger: imap.logger },
  );
  return destination;
}

/**
 * A nodemailer SMTP transport to the vetted address of the mailbox's SMTP server (R9): the host
 * policy resolves and checks the host, and the transport dials that address only.
 */
async function openTransport(settings: SmtpSenderSettings, imap: ResolvedImapSettings): Promise<Transporter> {
  const { security } = endpointOf(settings);
  const destination = await vet(settings, imap);
  const tls = tlsOptionsFor(destination, settings.smtp.tls);
  const user = settings.smtp.user ?? imap.user;
  const accessToken =
    settings.smtp.accessToken ?? (settings.smtp.password === undefined ? imap.accessToken : undefined);
  const password = settings.smtp.password ?? imap.password;
  return nodemailer.createTransport({
    host: destination.host,
    port: destination.port,
    secure: security === "tls",
    requireTLS: security === "starttls",
    ignoreTLS: security === "none",
    tls,
    auth:
      accessToken !== undefined
        ? { type: "OAuth2", user, accessToken }
        : password !== undefined
          ? { user, pass: password }
          : undefined,
    connectionTimeout: imap.connectionTimeoutMs,
    greetingTimeout: Math.min(imap.connectionTimeoutMs, 16_000),
    socketTimeout: imap.socketTimeoutMs,
    disableFileAccess: true,
    disableUrlAccess: true,
    // Dial the vetted address only; TLS from the first byte when `tls` (R9).
    getSocket: (_options, callback) => {
      let socket: ReturnType<typeof openVettedSocket> | undefined = undefined;
      const connected = () => callback(null, { connection: socket, secured: security === "tls" });
      socket = openVettedSocket(
        imap.socketFactory,
        destination,
        security === "tls" ? tls : undefined,
        connected,
      );
      socket.once("error", (error: Error) => callback(error));
    },
  });
}

/** The sent folder's path: a special-use name through LIST, or an exact path. */
async function sentPath(client: ImapFlow, wanted: string): Promise<string> {
  if (!wanted.startsWith("\\")) return wanted;
  const listing = await client.list();
  const match = listing.find((entry) => entry.specialUse?.toLowerCase() === wanted.toLowerCase());
  if (!match)
    throw new ClientMailError("not_found", `The mailbox has no ${wanted} folder`, {
      details: { provider: "imap", folder: wanted },
    });
  return match.path;
}

/**
 * Creates the SMTP sender of one connected mailbox (see the module description). Throws a
 * ValidationError naming every invalid setting.
 */
export function createSmtpSender(settings: SmtpSenderSettings): MailSender {
  const imap = resolveSettings(settings.imap);
  const connection = new ImapConnection(imap);
  const pacer = settings.sendPacer ?? new SendPacer([], systemClock);
  const maxBytes = settings.maxMessageBytes ?? 35 * 1024 * 1024;
  const folder = settings.sentFolder ?? "\\Sent";
  let sentFolderPath: string | undefined;
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw providerClosedError("smtp");
  };

  async function transmit(raw: Buffer, envelope: { from: string; to: string[] }): Promise<void> {
    const transport = await openTransport(settings, imap);
    try {
      await transport.sendMail({ envelope, raw });
    } finally {
      transport.close();
    }
  }

  async function saveSent(
    raw: Buffer,
    date: Date,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    return await connection.command({ operation: "list", signal }, async (client) => {
      sentFolderPath ??= await sentPath(client, folder);
      const appended = await client.append(sentFolderPath, raw, ["\\Seen"], date);
      return appended && typeof appended === "object" && appended.uid !== undefined
        ? String(appended.uid)
        : undefined;
    });
  }

  return {
    async send(message: OutgoingMessage, options: CallOptions = {}): Promise<SendReceipt> {
      ensureOpen();
      const built = await buildMime(message, { bccHeader: false });
      if (built.raw.length > maxBytes)
        throw new ValidationError([
          { field: "message", value: built.raw.length, expected: `at most ${maxBytes} bytes` },
        ]);
      const reservation = pacer.reserve(built.envelope.to.length);
      try {
        await transmit(built.raw, built.envelope);
      } catch (error) {
        const failure = smtpFailure(error, message);
        if (failure.code === "validation_failed") reservation.release();
        throw failure;
      }
      let providerId: string | undefined;
      if (settings.serverSavesSent !== true) {
        try {
          providerId = await saveSent(built.raw, message.date, options.signal);
        } catch (error) {
          // The message went; a missing sent copy must not make the outbox send it again.
          imap.logger?.warn("smtp: sent copy not saved", {
            code: ClientMailError.isInstance(error) ? error.code : "internal",
          });
        }
      }
      return {
        messageId: message.messageId,
        ...(providerId ? { providerId } : {}),
        from: message.from.address,
      };
    },

    async findSent(
      messageId: string,
      options: CallOptions & { since?: Date | undefined } = {},
    ): Promise<SentLookup> {
      ensureOpen();
      return await connection.command({ operation: "search", signal: options.signal }, async (client) => {
        sentFolderPath ??= await sentPath(client, folder);
        const lock = await client.getMailboxLock(sentFolderPath, { readOnly: true });
        try {
          const uids = await client.search(
            {
              header: { "message-id": messageId },
              ...(options.since ? { since: new Date(options.since.getTime() - 86_400_000) } : {}),
            },
            { uid: true },
          );
          const uid = uids === false || uids === undefined ? undefined : uids[0];
          return uid === undefined ? { found: false } : { found: true, providerId: String(uid), messageId };
        } finally {
          lock.release();
        }
      });
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await connection.close();
    },
  };
}

/**
 * Checks that the mailbox's SMTP server can be used to send, without sending anything: connects to
 * the vetted address under the host policy (R9), greets, upgrades to TLS as `security` says, and
 * logs in (nodemailer's `verify`). Resolves when all of that worked; otherwise throws a
 * {@link ConnectionError} whose `details.provider` is `"smtp"` (`auth_failed` for a refused login,
 * the network and TLS reasons IMAP uses for the rest), or a `transient` error.
 */
export async function testSmtpConnection(settings: SmtpSenderSettings): Promise<void> {
  const imap = resolveSettings(settings.imap);
  let transport: Transporter | undefined;
  try {
    transport = await openTransport(settings, imap);
    await transport.verify();
  } catch (error) {
    if (ClientMailError.isInstance(error)) throw error;
    const connection = smtpConnectionFailure(error);
    if (connection) throw connection;
    const { code, responseCode } = (error ?? {}) as SmtpError;
    const details = { provider: "smtp", smtpCode: code, responseCode };
    if (code === "EAUTH") throw new ConnectionError("auth_failed", { cause: error, details });
    throw new ClientMailError(
      "transient",
      `The SMTP server could not be checked (${code ?? responseCode ?? "error"})`,
      {
        cause: error,
        details,
      },
    );
  } finally {
    transport?.close();
  }
}
