/**
 * The demo's mail servers, in this process and in pure JavaScript (no system package, no root):
 * an IMAP server (hoodiecrow-imap) holding the demo mailbox, and an SMTP server (smtp-server)
 * that accepts what the app sends. The SDK's SMTP sender saves its copy in the mailbox's Sent
 * folder over IMAP, as with a real server; mail sent to the demo mailbox's own address is also
 * delivered to its INBOX. Both listen on 127.0.0.1 only.
 */
import type { AddressInfo, Socket } from "node:net";
import hoodiecrow from "hoodiecrow-imap";
import { SMTPServer } from "smtp-server";

/** A message put in a folder when the server starts. */
export interface SeedMessage {
  raw: string;
  internaldate?: string;
  flags?: string[];
}

/** The running demo servers. */
export interface DemoMailServer {
  imap: { host: string; port: number };
  smtp: { host: string; port: number };
  /** Puts a message into the INBOX, as if it had just arrived (IDLE clients are told). */
  deliver(raw: string): void;
  /** Messages the SMTP server accepted (envelope recipients and size), newest last. */
  accepted: { to: string[]; bytes: number }[];
  close(): Promise<void>;
}

/** IMAP date-time for INTERNALDATE, e.g. `02-Nov-2026 10:00:00 +0000`. */
export function imapDate(date: Date): string {
  const month = date.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(date.getUTCDate())}-${month}-${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** Starts the demo IMAP and SMTP servers for one mailbox. */
export async function startDemoMailServer(settings: {
  user: string;
  password: string;
  inbox: SeedMessage[];
  sent: SeedMessage[];
}): Promise<DemoMailServer> {
  const imap = hoodiecrow({
    plugins: [
      "ID",
      "SASL-IR",
      "AUTH-PLAIN",
      "NAMESPACE",
      "IDLE",
      "ENABLE",
      "UNSELECT",
      "SPECIAL-USE",
      "LITERALPLUS",
    ],
    users: { [settings.user]: { password: settings.password } },
    storage: {
      INBOX: { messages: settings.inbox },
      "": { separator: "/", folders: { Sent: { "special-use": "\\Sent", messages: settings.sent } } },
    },
  });
  // Without it every command waits on Nagle's algorithm and the delayed ACK (≈ 44 ms each).
  imap.server.on("connection", (socket: Socket) => socket.setNoDelay(true));
  await new Promise<void>((resolve) => imap.listen(0, "127.0.0.1", resolve));
  const imapPort = (imap.server.address() as AddressInfo).port;

  const accepted: DemoMailServer["accepted"] = [];
  const deliver = (raw: string) => {
    const folder = imap.getMailbox("INBOX");
    imap.appendMessage(folder, [], new Date(), raw);
  };
  const smtp = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === settings.user && auth.password === settings.password)
        callback(null, { user: auth.username });
      else callback(new Error("Invalid username or password"));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        const to = session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase());
        accepted.push({ to, bytes: raw.length });
        if (to.includes(settings.user.toLowerCase())) deliver(raw);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  return {
    imap: { host: "127.0.0.1", port: imapPort },
    smtp: { host: "127.0.0.1", port: smtpPort },
    deliver,
    accepted,
    async close() {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
      await new Promise<void>((resolve) => imap.close(() => resolve()));
    },
  };
}
