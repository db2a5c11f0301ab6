/** Builds RFC 2822 test messages for the fake's mailboxes. */

/** The parts of a test message. */
export interface RawMessageInput {
  from: string;
  to?: string | string[];
  cc?: string | string[];
  bcc?: string | string[];
  subject?: string;
  date?: Date;
  messageId?: string;
  inReplyTo?: string;
  references?: string[];
  text?: string;
  html?: string;
  attachments?: { filename: string; contentType: string; content: string | Uint8Array }[];
}

function list(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const items = Array.isArray(value) ? value : [value];
  return items.length === 0 ? undefined : items.join(", ");
}

/** A CRLF RFC 2822 message; multipart/mixed when it has attachments or both text and HTML. */
export function buildRawMessage(input: RawMessageInput): string {
  const headers: string[] = [`From: ${input.from}`];
  const to = list(input.to);
  const cc = list(input.cc);
  const bcc = list(input.bcc);
  if (to) headers.push(`To: ${to}`);
  if (cc) headers.push(`Cc: ${cc}`);
  if (bcc) headers.push(`Bcc: ${bcc}`);
  headers.push(`Subject: ${input.subject ?? ""}`);
  headers.push(`Date: ${(input.date ?? new Date(Date.UTC(2026, 0, 5, 9))).toUTCString()}`);
  if (input.messageId) headers.push(`Message-ID: ${input.messageId}`);
  if (input.inReplyTo) headers.push(`In-Reply-To: ${input.inReplyTo}`);
  if (input.references && input.references.length > 0)
    headers.push(`References: ${input.references.join(" ")}`);
  headers.push("MIME-Version: 1.0");
  const attachments = input.attachments ?? [];
  if (attachments.length === 0 && input.html === undefined) {
    headers.push("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit");
    return `${headers.join("\r\n")}\r\n\r\n${input.text ?? ""}\r\n`;
  }
  const boundary = "clientmail-fake-boundary";
  headers.push(`Content-Type: multipart/mixed; boundary="${boundary}"`);
  const parts: string[] = [];
  if (input.text !== undefined) parts.push(`Content-Type: text/plain; charset=utf-8\r\n\r\n${input.text}`);
  if (input.html !== undefined) parts.push(`Content-Type: text/html; charset=utf-8\r\n\r\n${input.html}`);
  for (const attachment of attachments) {
    const content = Buffer.from(attachment.content).toString("base64");
    parts.push(
      `Content-Type: ${attachment.contentType}; name="${attachment.filename}"\r\n` +
        `Content-Disposition: attachment; filename="${attachment.filename}"\r\n` +
        `Content-Transfer-Encoding: base64\r\n\r\n${content}`,
    );
  }
  return `${headers.join("\r\n")}\r\n\r\n${parts.map((part) => `--${boundary}\r\n${part}\r\n`).join("")}--${boundary}--\r\n`;
}
