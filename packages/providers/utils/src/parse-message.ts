/**
 * Raw RFC 5322 source -> {@link FetchedMessage}, one way for every provider (R11: the same
 * message gives the same text through IMAP, Gmail and Graph). mailparser reads the MIME tree;
 * an HTML-only message gets its text from the HTML, a plain-text one gets no generated HTML, and
 * a part without a file name is named `attachment-<n>.<extension of its type>`.
 */
import { createHash } from "node:crypto";
import type {
  AttachmentContent,
  FetchResult,
  ProviderEnvelope,
  UnreadableMessage,
  UnreadableReason,
} from "@clientmail/core";
import type { ParsedMail } from "mailparser";

/** Attachment content is handed out in chunks of this size. */
const chunkBytes = 64 * 1024;

let mailparser: Promise<typeof import("mailparser")> | undefined;
let libmime: Promise<typeof import("libmime")> | undefined;

/** A message that failed on its own, with a log-safe detail (no content, no addresses). */
export function unreadable(providerId: string, reason: UnreadableReason, detail: string): UnreadableMessage {
  return { providerId, unreadable: { reason, detail } };
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/**
 * Where a source that cannot be parsed at all ends up. Today it is set aside as `unparseable`
 * (the engine quarantines it, R2). R11's fallback belongs here: keep the decoded raw body as the
 * text and flag the message as degraded, instead of setting it aside.
 */
function unparseableSource(envelope: ProviderEnvelope, error: unknown): UnreadableMessage {
  return unreadable(envelope.providerId, "unparseable", `MIME parser failed (${errorName(error)})`);
}

async function fileName(name: string | undefined, contentType: string, index: number): Promise<string> {
  if (name !== undefined && name.trim() !== "") return name;
  libmime ??= import("libmime");
  const { default: mime } = await libmime;
  return `attachment-${index + 1}.${mime.detectExtension(contentType)}`;
}

function attachmentOf(
  filename: string,
  contentType: string,
  content: Buffer,
  contentId: string | undefined,
): AttachmentContent {
  return {
    filename,
    contentType,
    ...(contentId === undefined || contentId === "" ? {} : { contentId }),
    size: content.length,
    contentHash: createHash("sha256").update(content).digest("hex"),
    content: async function* () {
      for (let offset = 0; offset < content.length; offset += chunkBytes) {
        yield new Uint8Array(
          content.buffer,
          content.byteOffset + offset,
          Math.min(chunkBytes, content.length - offset),
        );
      }
    },
  };
}

/**
 * Parses `source` into the message with `envelope` (built by the provider, which knows its ids,
 * folders and flags). Never throws for the content of the message: a source that cannot be read
 * is returned as an `UnreadableMessage` (`unparseable`) for the engine to quarantine.
 */
export async function parseRawMessage(source: Buffer, envelope: ProviderEnvelope): Promise<FetchResult> {
  // Loaded on first use: most syncs fetch little, and mailparser is most of the start-up cost.
  mailparser ??= import("mailparser");
  let parsed: ParsedMail;
  try {
    const { simpleParser } = await mailparser;
    parsed = await simpleParser(source, {
      skipImageLinks: true,
      skipTextToHtml: true,
      skipTextLinks: true,
    });
  } catch (error) {
    return unparseableSource(envelope, error);
  }
  const attachments: AttachmentContent[] = [];
  for (const [index, attachment] of parsed.attachments.entries()) {
    const name = await fileName(attachment.filename, attachment.contentType, index);
    attachments.push(attachmentOf(name, attachment.contentType, attachment.content, attachment.cid));
  }
  return {
    envelope,
    text: parsed.text,
    html: typeof parsed.html === "string" ? parsed.html : undefined,
    attachments,
  };
}
