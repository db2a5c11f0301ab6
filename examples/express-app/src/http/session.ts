/**
 * Sessions and roles. The session is a signed, HTTP-only, SameSite=Lax cookie holding who signed
 * in (firm and member) and a CSRF token for the UI's forms; each request reloads the member, so a
 * removed member or changed role takes effect at once. Unsafe requests from another origin are
 * refused (Origin / Sec-Fetch-Site), which with SameSite cookies and JSON-only API bodies is the
 * API's CSRF defence; the UI's forms also carry the session's token.
 */
import { randomBytes } from "node:crypto";
import type { Request, RequestHandler, Response } from "express";
import cookieSession from "cookie-session";
import type { MemberRole, TeamMember } from "@clientmail/core";
import type { AppConfig } from "../config.js";
import type { Services } from "../services.js";
import { HttpError } from "./errors.js";

/** What the session cookie holds. */
export interface SessionData {
  firmId?: string;
  memberId?: string;
  csrf?: string;
  /** OAuth flows in progress: one-time state → what the callback needs (see connect/). */
  oauth?: Record<string, unknown>;
}

/** The session middleware: a cookie signed with SESSION_SECRET (or a per-run secret in demo mode). */
export function sessions(config: AppConfig): RequestHandler {
  const secret = config.SESSION_SECRET ?? randomBytes(32).toString("base64url");
  return cookieSession({
    name: "clientmail_session",
    keys: [secret],
    httpOnly: true,
    sameSite: "lax",
    secure: config.publicUrl.startsWith("https:"),
    maxAge: 12 * 60 * 60 * 1000,
  });
}

/** The request's session data. */
export function session(req: Request): SessionData {
  return (req.session ?? {}) as SessionData;
}

/** Starts a session for a member (after the password was checked). */
export function signIn(req: Request, who: { firmId: string; memberId: string }): void {
  req.session = { firmId: who.firmId, memberId: who.memberId, csrf: randomBytes(24).toString("base64url") };
}

/** Ends the session. */
export function signOut(req: Request): void {
  req.session = null;
}

/** The signed-in member, loaded by {@link requireMember}. */
export function member(res: Response): TeamMember {
  const current = res.locals.member as TeamMember | undefined;
  if (!current) throw new HttpError(401, "unauthenticated", "Sign in first.");
  return current;
}

/** Loads the signed-in member into `res.locals.member`; 401 `unauthenticated` without one. */
export function requireMember(services: Services): RequestHandler {
  return async (req, res, next) => {
    const { firmId, memberId } = session(req);
    if (!firmId || !memberId) return next(new HttpError(401, "unauthenticated", "Sign in first."));
    try {
      res.locals.member = await services.cm.getMember(firmId, memberId);
    } catch {
      signOut(req);
      return next(new HttpError(401, "unauthenticated", "Your session has ended; sign in again."));
    }
    next();
  };
}

/** Refuses (403 `permission_denied`) a member whose role is not one of `roles`. */
export function requireRole(...roles: MemberRole[]): RequestHandler {
  return (_req, res, next) => {
    const current = member(res);
    if (!roles.includes(current.role))
      return next(
        new HttpError(
          403,
          "permission_denied",
          `This needs the role ${roles.join(" or ")}; you are ${current.role}.`,
        ),
      );
    next();
  };
}

const safeMethods = new Set(["GET", "HEAD", "OPTIONS"]);

/** Refuses unsafe requests that a page of another origin made (403 `csrf_failed`). */
export function sameOrigin(config: AppConfig): RequestHandler {
  return (req, _res, next) => {
    if (safeMethods.has(req.method)) return next();
    // Read per request: with PORT=0 the address is known only once the server listens.
    const origin = new URL(config.publicUrl).origin;
    const from = req.get("origin");
    const site = req.get("sec-fetch-site");
    if ((from && from !== origin && from !== "null") || site === "cross-site")
      return next(new HttpError(403, "csrf_failed", "Requests from other sites are refused."));
    next();
  };
}

/** Checks the CSRF token a UI form posts (`_csrf`) against the session's. */
export const checkFormToken: RequestHandler = (req, _res, next) => {
  if (safeMethods.has(req.method)) return next();
  const token = (req.body as Record<string, unknown> | undefined)?._csrf;
  if (!session(req).csrf || token !== session(req).csrf)
    return next(new HttpError(403, "csrf_failed", "The form has expired; reload the page and try again."));
  next();
};
