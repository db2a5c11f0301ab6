/**
 * What every signed-in page needs: the guard that sends a visitor without a session to the
 * sign-in page, the form-token check, and the page context (member, firm, CSRF token, notice).
 * Forms are handled by {@link formAction}: it runs the change and redirects back (post/redirect/
 * get) with a notice of what happened or the SDK's message of why not.
 */
import type { Request, RequestHandler, Response } from "express";
import type { Firm, TeamMember } from "@clientmail/core";
import { checkFormToken, member, requireMember, session } from "../http/session.js";
import type { Services } from "../services.js";
import { failureNotice, flash, takeNotice, type Notice } from "./flash.js";
import { page, type PageInput } from "./layout.js";

/** The signed-in member's page context. */
export interface UiContext {
  member: TeamMember;
  firm: Firm;
  csrf: string;
  notice: Notice | undefined;
}

/** Loads the member (or redirects to the sign-in page) and checks a form's `_csrf`. */
export function guard(services: Services): RequestHandler[] {
  const load = requireMember(services);
  const signedIn: RequestHandler = (req, res, next) =>
    load(req, res, (error?: unknown) => {
      if (error === undefined) return next();
      if (req.method === "GET")
        return res.redirect(303, `/signin?next=${encodeURIComponent(req.originalUrl)}`);
      next(error);
    });
  return [signedIn, checkFormToken];
}

/** The page context of this request. */
export async function uiContext(services: Services, req: Request, res: Response): Promise<UiContext> {
  const current = member(res);
  return {
    member: current,
    firm: await services.cm.getFirm(current.firmId),
    csrf: session(req).csrf ?? "",
    notice: takeNotice(req),
  };
}

/** Sends a page for the context. */
export function sendPage(res: Response, ctx: UiContext, input: Omit<PageInput, "who" | "notice">): void {
  res.type("html").send(page({ ...input, who: ctx, notice: ctx.notice }));
}

/**
 * A form's handler: runs `change`, then redirects to `back` (a path of this app) with the notice
 * `done` returns, or with the failure's message next to the form `form`.
 */
export function formAction(
  form: string | ((req: Request) => string),
  change: (req: Request, res: Response) => Promise<{ back: string; done?: string }>,
  backOnError: (req: Request) => string,
): RequestHandler {
  return async (req, res) => {
    const formName = typeof form === "string" ? form : form(req);
    try {
      const { back, done } = await change(req, res);
      // What was done is said at the top of the page it leads to; why not, next to the form.
      if (done) flash(req, { kind: "done", message: done });
      res.redirect(303, back);
    } catch (error) {
      flash(req, failureNotice(error, formName));
      res.redirect(303, backOnError(req));
    }
  };
}
