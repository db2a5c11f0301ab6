/** Just enough RFC 5322 / MIME handling for the fake to answer like Gmail does. */

/** One header as Gmail reports it in `payload.headers`. */
export interface GmailHeader {
  name: string;
  value: string;
}

/** A part of `format=full` output. */
export interface GmailMessagePart {
  partId: string;
  mimeType: string;
  filename: string;
  headers: GmailHeader[];
  body: { size: number; data?: string; attachmentId?: string };
  parts?: GmailMessagePart[];
}

/** Splits a message into its header block and body; accepts CRLF or LF line ends. */
export function splitMessage(raw: string): { headerText: string; body: string } {
  const match = /\r?\n\r?\n/.exec(raw);
  if (!match) return { headerText: raw, body: "" };
  return { headerText: raw.slice(0, match.index), body: raw.slice(match.index + match[0].length) };
}

/** Parses (and unfolds) a header block, keeping order and duplicates. */
export function parseHeaders(headerText: string): GmailHeader[] {
  const headers: GmailHeader[] = [];
  for (const line of headerText.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && headers.length > 0) {
      const last = headers[headers.length - 1]!;
      last.value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    headers.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  return headers;
}

/** The first value of a header, case-insensitively; undefined when absent. */
export function headerValue(headers: readonly GmailHeader[], name: string): string | undefined {
  const lower = name.toLowerCase();
  return headers.find((header) => header.name.toLowerCase() === lower)?.value;
}

/** Base64url without padding, as Gmail encodes `raw` and body data. */
export function toBase64Url(text: string | Uint8Array): string {
  return Buffer.from(text).toString("base64url");
}

/** Decodes base64url (or standard base64) to a UTF-8 string. */
export function fromBase64Url(data: string): string {
  return Buffer.from(data.replace(/\+/g, "-").replace(/\//g, "_"), "base64url").toString("utf8");
}

function boundaryOf(contentType: string): string | undefined {
  const match = /boundary="?([^";]+)"?/i.exec(contentType);
  return match?.[1];
}

function filenameOf(headers: readonly GmailHeader[]): string {
  const disposition = headerValue(headers, "Content-Disposition") ?? "";
  const type = headerValue(headers, "Content-Type") ?? "";
  const match = /filename\*?="?([^";]+)"?/i.exec(disposition) ?? /name="?([^";]+)"?/i.exec(type);
  return match?.[1] ?? "";
}

/**
 * Builds the `payload` of `format=full`, recursing into multiparts. Bodies keep their bytes (a
 * part in ISO-8859-1 comes back in ISO-8859-1); header values are read as UTF-8 (RFC 6532).
 */
export function buildPayload(
  raw: string | Uint8Array,
  partId = "",
  attachmentIdFor?: (partId: string) => string,
): GmailMessagePart {
  // One char per byte from here on, so splitting never changes a byte.
  const bytes = typeof raw === "string" ? Buffer.from(raw, "utf8") : Buffer.from(raw);
  return payloadOf(bytes.toString("latin1"), partId, attachmentIdFor);
}

function payloadOf(
  raw: string,
  partId: string,
  attachmentIdFor: ((partId: string) => string) | undefined,
): GmailMessagePart {
  const { headerText, body } = splitMessage(raw);
  const headers = parseHeaders(Buffer.from(headerText, "latin1").toString("utf8"));
  const contentType = headerValue(headers, "Content-Type") ?? "text/plain";
  const mimeType = (contentType.split(";")[0] ?? "text/plain").trim().toLowerCase();
  const filename = filenameOf(headers);
  if (mimeType.startsWith("multipart/")) {
    const boundary = boundaryOf(contentType);
    const parts: GmailMessagePart[] = [];
    if (boundary) {
      const chunks = body.split(
        new RegExp(`\\r?\\n?--${boundary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?:--)?[ \\t]*\\r?\\n?`),
      );
      let index = 0;
      for (const chunk of chunks.slice(1)) {
        if (chunk.trim() === "") continue;
        parts.push(payloadOf(chunk, partId === "" ? String(index) : `${partId}.${index}`, attachmentIdFor));
        index += 1;
      }
    }
    return { partId, mimeType, filename, headers, body: { size: 0 }, parts };
  }
  const size = body.length;
  if (filename !== "" && attachmentIdFor) {
    return { partId, mimeType, filename, headers, body: { size, attachmentId: attachmentIdFor(partId) } };
  }
  return {
    partId,
    mimeType,
    filename,
    headers,
    body: { size, data: toBase64Url(Buffer.from(body, "latin1")) },
  };
}

/** Replaces (or adds) one header in a raw message, keeping everything else byte for byte. */
export function replaceHeader(raw: string, name: string, value: string): string {
  const { headerText } = splitMessage(raw);
  const newline = raw.includes("\r\n") ? "\r\n" : "\n";
  const lines = headerText.split(/\r?\n/);
  const out: string[] = [];
  let replaced = false;
  let skipping = false;
  for (const line of lines) {
    if (skipping && /^[ \t]/.test(line)) continue;
    skipping = false;
    if (line.toLowerCase().startsWith(`${name.toLowerCase()}:`)) {
      if (!replaced) out.push(`${name}: ${value}`);
      replaced = true;
      skipping = true;
      continue;
    }
    out.push(line);
  }
  if (!replaced) out.unshift(`${name}: ${value}`);
  return out.join(newline) + raw.slice(headerText.length);
}

/** Every bare address in a header value, lower-cased. */
export function addressesIn(value: string | undefined): string[] {
  if (!value) return [];
  return [...value.matchAll(/[^\s<>(),;:"@]+@[^\s<>(),;:"@]+/g)].map((match) => match[0].toLowerCase());
}
