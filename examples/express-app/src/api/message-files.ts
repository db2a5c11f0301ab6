/**
 * Files of a filed message: its `.eml` export (R11) and its attachments. Attachments are read
 * back from the message's original source (kept by the sync, R11) with mailparser and matched to
 * the filed record by content hash, so a file is exactly what the message carried. Files are
 * served so a browser never runs them: a download with `nosniff` and a sandboxing CSP; only
 * raster images are shown inline (for `cid:` images in a rendered body).
 */
import { createHash } from "node:crypto";
import type { Response } from "express";
import { simpleParser } from "mailparser";
import type { ClientMail } from "@clientmail/core";
import { HttpError } from "../http/errors.js";

/** Content types shown inline; anything else is a download. SVG is not: it can hold script. */
const inlineImages = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/** Whether an attachment of this type is served inline (and used for `cid:` images). */
export function isInlineImage(contentType: string): boolean {
  return inlineImages.has(contentType.toLowerCase());
}

async function collect(content: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function safeHeaders(res: Response): void {
  res.set({
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
  });
}

/** Streams the message's `.eml` export as a download. */
export async function sendEml(res: Response, cm: ClientMail, firmId: string, by: string, messageId: string) {
  const eml = await cm.exportMessageAsEml(firmId, by, messageId);
  safeHeaders(res);
  res.attachment(eml.filename);
  res.type("message/rfc822");
  for await (const chunk of eml.content) res.write(chunk);
  res.end();
}

/** Sends attachment `index` of the message (as listed in its rendered body). */
export async function sendAttachment(
  res: Response,
  cm: ClientMail,
  firmId: string,
  by: string,
  messageId: string,
  index: number,
) {
  const message = await cm.renderMessage(firmId, messageId);
  const meta = message.body.attachments[index];
  if (!meta)
    throw new HttpError(404, "not_found", `Message ${messageId} has no attachment ${index}.`, "index");
  const parsed = await simpleParser(await collect(await cm.messageSource(firmId, by, messageId)));
  const found = parsed.attachments.find(
    (a) => createHash("sha256").update(a.content).digest("hex") === meta.contentHash,
  );
  if (!found)
    throw new HttpError(
      404,
      "not_found",
      `The source of message ${messageId} no longer holds this attachment.`,
    );
  safeHeaders(res);
  res.attachment(meta.displayName);
  if (isInlineImage(meta.contentType)) {
    res.set("Content-Disposition", res.get("Content-Disposition")!.replace(/^attachment/, "inline"));
    res.type(meta.contentType.toLowerCase());
  } else res.type("application/octet-stream");
  res.send(found.content);
}
