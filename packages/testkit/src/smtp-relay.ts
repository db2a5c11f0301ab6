/**
 * `startSmtpRelay`: a real SMTP server (`smtp-server`) on loopback for sending tests. It accepts
 * mail from the logins it is given, delivers every accepted message by IMAP APPEND into the
 * Dovecot INBOX of each recipient it knows (so a client's copy, and a reply, can come back
 * through sync), refuses unknown recipients with 550, and records every accepted DATA, so a test
 * counts how many times one message was really delivered (S4).
 *
 * @module
 */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import type { DovecotUser } from "./dovecot.js";
import { appendToDovecot } from "./dovecot-append.js";

/** One accepted DATA. */
export interface RelayedMessage {
  /** `MAIL FROM`. */
  from: string;
  /** `RCPT TO`, lower-cased. */
  to: string[];
  /** The Message-ID header as received, angle brackets included, or undefined. */
  messageId: string | undefined;
  raw: Buffer;
  /** When the relay accepted it. */
  at: Date;
}

/** Settings of {@link startSmtpRelay}. */
export interface SmtpRelaySettings {
  /** The Dovecot server recipients' INBOXes are on. */
  dovecot: { host: string; port: number };
  /** Recipients the relay delivers to, by lower-cased address (the Dovecot login of each). */
  mailboxes: Map<string, DovecotUser>;
  /**
   * Logins allowed to submit. Default: every login of `mailboxes` with its password. Recipients
   * not in `mailboxes` are refused with 550 (an invalid recipient).
   */
  logins?: DovecotUser[] | undefined;
  /** Called after a message was delivered and recorded, before the server answers 250. */
  onAccepted?: ((message: RelayedMessage) => void | Promise<void>) | undefined;
}

/** A running relay; see {@link startSmtpRelay}. */
export interface SmtpRelay {
  readonly host: string;
  readonly port: number;
  /** Every accepted DATA, in order. */
  readonly accepted: readonly RelayedMessage[];
  /** Accepted DATAs carrying this Message-ID (case-insensitive). */
  deliveriesOf(messageId: string): RelayedMessage[];
  /** Adds a recipient (and login). */
  addMailbox(user: DovecotUser): void;
  close(): Promise<void>;
}

function headerValue(raw: Buffer, name: string): string | undefined {
  const end = raw.indexOf("\r\n\r\n");
  const head = raw.subarray(0, end < 0 ? raw.length : end).toString("latin1");
  const unfolded = head.replace(/\r\n[ \t]+/g, " ");
  const wanted = name.toLowerCase() + ":";
  for (const line of unfolded.split("\r\n"))
    if (line.toLowerCase().startsWith(wanted)) return line.slice(wanted.length).trim();
  return undefined;
}

/** Starts a relay on 127.0.0.1 (a free port); see the module description. */
export async function startSmtpRelay(settings: SmtpRelaySettings): Promise<SmtpRelay> {
  const accepted: RelayedMessage[] = [];
  const mailboxes = settings.mailboxes;
  const logins = new Map<string, string>();
  for (const user of settings.logins ?? mailboxes.values()) logins.set(user.user, user.password);
  const server = new SMTPServer({
    secure: false,
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    size: 40 * 1024 * 1024,
    onAuth(auth, _session, callback) {
      if (auth.username !== undefined && logins.get(auth.username) === auth.password)
        callback(null, { user: auth.username });
      else callback(new Error("Invalid username or password"));
    },
    onRcptTo(address, _session, callback) {
      if (!mailboxes.has(address.address.toLowerCase())) {
        const error = new Error("5.1.1 No such user here") as Error & { responseCode: number };
        error.responseCode = 550;
        callback(error);
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks);
        const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        const mailFrom = session.envelope.mailFrom;
        const message: RelayedMessage = {
          from: mailFrom === false ? "" : mailFrom.address,
          to,
          messageId: headerValue(raw, "Message-ID"),
          raw,
          at: new Date(),
        };
        void (async () => {
          for (const address of to) await appendToDovecot(settings.dovecot, mailboxes.get(address)!, [raw]);
          accepted.push(message);
          await settings.onAccepted?.(message);
        })().then(
          () => callback(),
          (error: Error) => callback(error),
        );
      });
    },
  });
  server.on("error", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    host: "127.0.0.1",
    port,
    accepted,
    deliveriesOf: (messageId) =>
      accepted.filter((m) => m.messageId?.toLowerCase() === messageId.toLowerCase()),
    addMailbox(user) {
      mailboxes.set(user.user.toLowerCase(), user);
      logins.set(user.user, user.password);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
