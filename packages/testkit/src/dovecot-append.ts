/**
 * Puts messages into a Dovecot user's folders over IMAP APPEND, as a mail server delivering them
 * would: the one way tests, the SMTP relay and the consumer smoke test fill a test mailbox.
 */
import { ImapFlow } from "imapflow";

/** A message to append: its source, and optionally the folder (default `INBOX`) and internal date. */
export type MessageToAppend =
  string | Uint8Array | { raw: string | Uint8Array; folder?: string; date?: Date };

/**
 * A plain-text IMAP connection as `user` to a (loopback) test server, to drive the mailbox from
 * the "outside"; the caller logs out.
 */
export async function connectToDovecot(
  server: { host: string; port: number },
  user: { user: string; password: string },
): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: server.host,
    port: server.port,
    secure: false,
    doSTARTTLS: false,
    auth: { user: user.user, pass: user.password },
    logger: false,
  });
  client.on("error", () => undefined);
  await client.connect();
  return client;
}

/** Appends `messages`, in order, to the mailbox of `user` on the (plain-text, loopback) server. */
export async function appendToDovecot(
  server: { host: string; port: number },
  user: { user: string; password: string },
  messages: readonly MessageToAppend[],
): Promise<void> {
  const client = await connectToDovecot(server, user);
  try {
    for (const message of messages) {
      const {
        raw,
        folder = "INBOX",
        date,
      } = typeof message === "string" || message instanceof Uint8Array ? { raw: message } : message;
      await client.append(folder, typeof raw === "string" ? raw : Buffer.from(raw), [], date);
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
}
