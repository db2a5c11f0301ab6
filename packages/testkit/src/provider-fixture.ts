/**
 * What a provider's conformance backend hands the suite ({@link ProviderFixture}), and how test
 * messages are written as raw RFC 822 text. Free of any test runner, so backends (the Gmail and
 * Graph fakes, a third party's) and scripts can use them without vitest.
 */
import { randomBytes } from "node:crypto";
import type { MailProvider } from "@clientmail/core/ports";

/** The two folders (Gmail labels, Graph well-known folders) a fixture can put a message in. */
export type FixtureFolder = "inbox" | "sent";

/**
 * What a provider's test file gives the suite: the provider under test, connected to a fresh,
 * empty mailbox, and a handle on that mailbox's backend. A new fixture is set up for every test.
 */
export interface ProviderFixture {
  /**
   * The provider under test. Configure it with a page size of at most 2 (envelopes per page of
   * `changes`), so the suite's five-message backfill spans several pages and the mid-way resume
   * runs on a real page boundary.
   */
  provider: MailProvider;
  /**
   * Puts one message, given as raw RFC 822 text (CRLF line ends), into the mailbox's inbox or
   * sent folder, as the server would on delivery or on sending. Resolves once the message is
   * visible to the provider's `changes`.
   */
  appendMessage(raw: string, folder: FixtureFolder): Promise<void>;
  /**
   * Deletes (expunges, not merely flags) every copy of the message whose Message-ID header is
   * `messageId` (angle brackets included, e.g. `<abc@example.test>`). Resolves once done.
   */
  deleteMessage(messageId: string): Promise<void>;
  /**
   * Makes every cursor the provider returned so far unusable, as the real service would after a
   * long time (Gmail: history expired; Graph: delta token expired; IMAP: UIDVALIDITY changed),
   * so that `changes(oldCursor)` throws `cursor_expired`.
   */
  expireCursor(): Promise<void>;
  /** Releases the backend. The suite closes the provider itself, before calling this. */
  close(): Promise<void>;
  /**
   * Optional: makes the backend silent, like a half-open connection — no answer and no close —
   * for requests in flight and new ones alike (a TCP proxy's `blackhole()`, a stalled `fetch`).
   * Enables the R3 abort and deadline tests.
   */
  stall?(): void;
  /** Undoes {@link ProviderFixture.stall}: what was held back flows again. */
  resume?(): void;
}

/** Parts of a test message. Addresses as they appear in headers (display names allowed). */
export interface ConformanceMessage {
  messageId: string;
  from: string;
  to?: string;
  cc?: string;
  bcc?: string;
  subject: string;
  date?: Date;
  inReplyTo?: string;
  references?: string[];
  text?: string;
  html?: string;
  attachment?: { filename: string; contentType: string; content: Buffer };
}

function wrapBase64(content: Buffer): string {
  return (content.toString("base64").match(/.{1,76}/g) ?? []).join("\r\n");
}

/** Builds raw RFC 822 text (CRLF) for a test message. */
export function buildConformanceMessage(message: ConformanceMessage): string {
  const headers = [
    `From: ${message.from}`,
    ...(message.to ? [`To: ${message.to}`] : []),
    ...(message.cc ? [`Cc: ${message.cc}`] : []),
    ...(message.bcc ? [`Bcc: ${message.bcc}`] : []),
    `Subject: ${message.subject}`,
    `Date: ${(message.date ?? new Date()).toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: ${message.messageId}`,
    ...(message.inReplyTo ? [`In-Reply-To: ${message.inReplyTo}`] : []),
    ...(message.references ? [`References: ${message.references.join("\r\n ")}`] : []),
    "MIME-Version: 1.0",
  ];
  const text = message.text ?? "Hello.";
  const bodyPart = message.html
    ? `Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${message.html}\r\n`
    : `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}\r\n`;
  if (!message.attachment) return `${headers.join("\r\n")}\r\n${bodyPart}`;
  const boundary = `b-${randomBytes(8).toString("hex")}`;
  const { filename, contentType, content } = message.attachment;
  return (
    `${headers.join("\r\n")}\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n` +
    `--${boundary}\r\n${bodyPart}` +
    `--${boundary}\r\nContent-Type: ${contentType}; name="${filename}"\r\n` +
    `Content-Disposition: attachment; filename="${filename}"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
    `${wrapBase64(content)}\r\n--${boundary}--\r\n`
  );
}
