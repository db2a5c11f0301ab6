/**
 * Content-Security-Policy of the UI. App pages run no script at all and load only the app's own
 * stylesheet; frames come only from the app (the message frames). A message frame's document is
 * the SDK's sanitised rendering of a mail, and its policy is stricter still: nothing may load but
 * inline and `cid:`/`data:` images (remote images only after "Show images"), no script, no form,
 * no base, and the `sandbox` directive repeats the iframe's sandbox in case the document is opened
 * on its own.
 */
import type { RequestHandler, Response } from "express";

/** The policy of the app's own pages. */
export const pagePolicy = [
  "default-src 'none'",
  "script-src 'none'",
  "style-src 'self'",
  "img-src 'self' data:",
  "frame-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

/** The policy of one message's document (shown in a sandboxed iframe). */
export function messagePolicy(remoteImages: boolean): string {
  return [
    "default-src 'none'",
    `img-src data: cid:${remoteImages ? " https: http:" : ""}`,
    "style-src 'unsafe-inline'",
    "font-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
    "frame-ancestors 'self'",
    "sandbox allow-popups allow-popups-to-escape-sandbox",
  ].join("; ");
}

/** Sets the app-page policy on every UI answer (a message frame replaces it with its own). */
export const pageSecurity: RequestHandler = (_req, res, next) => {
  res.set("Content-Security-Policy", pagePolicy);
  res.set("Cache-Control", "no-store");
  next();
};

/** Sets a message frame's policy. */
export function setMessagePolicy(res: Response, remoteImages: boolean): void {
  res.set("Content-Security-Policy", messagePolicy(remoteImages));
  res.set("X-Frame-Options", "SAMEORIGIN");
}
