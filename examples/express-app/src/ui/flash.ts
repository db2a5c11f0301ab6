/**
 * Post/redirect/get: a form's handler redirects back to its page, and what happened — done, or
 * the SDK's message of why not — travels in the session to be shown once, next to the form it
 * belongs to. Only the message is kept (never a body or a secret).
 */
import type { Request } from "express";
import { errorAnswer } from "../http/errors.js";
import { session } from "../http/session.js";

/** A message for the next page. `form` names the form it is shown next to; none: the page top. */
export interface Notice {
  kind: "error" | "done";
  message: string;
  form?: string | undefined;
}

type WithNotice = { notice?: Notice };

/** Keeps a notice for the next page. */
export function flash(req: Request, notice: Notice): void {
  if (!req.session) return;
  (req.session as WithNotice).notice = notice;
}

/** Takes (and clears) the notice kept for this page. */
export function takeNotice(req: Request): Notice | undefined {
  const kept = (session(req) as WithNotice).notice;
  if (kept && req.session) delete (req.session as WithNotice).notice;
  return kept;
}

/**
 * The notice of a failed form: the SDK's (or the app's) message for a 4xx error. Unexpected errors
 * (5xx) are rethrown: the error handler answers and logs them without their message.
 */
export function failureNotice(error: unknown, form?: string): Notice {
  const { status, body } = errorAnswer(error);
  if (status >= 500) throw error;
  return { kind: "error", message: body.message, form };
}
