/**
 * Errors as HTTP answers: every failure is a JSON body `{ code, message, field? }` (plus
 * `issues` for a validation failure) with a status that follows the SDK's stable error codes.
 * Unexpected errors answer 500 `internal` and are logged without their message, which may hold
 * data from mail.
 */
import type { ErrorRequestHandler, Request, RequestHandler, Response } from "express";
import { ClientMailError, type ClientMailErrorCode } from "@clientmail/core";

/** The HTTP status of each SDK error code. */
export const statusOfCode: Record<ClientMailErrorCode, number> = {
  validation_failed: 400,
  unknown_shortcode: 400,
  not_found: 404,
  conflict: 409,
  permission_denied: 403,
  mailbox_unavailable: 409,
  cursor_expired: 409,
  rate_limited: 429,
  auth_revoked: 409,
  transient: 503,
  lease_lost: 409,
  decryption_failed: 500,
  unsupported: 501,
  not_migrated: 500,
  internal: 500,
};

/** Codes of the app's own (not the SDK's). */
export type AppErrorCode = "unauthenticated" | "csrf_failed" | "payload_too_large";

/** An error the app raises itself, with its status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: AppErrorCode | ClientMailErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** The JSON body of an error answer. */
export interface ErrorBody {
  code: string;
  message: string;
  field?: string;
  issues?: { field: string; expected: string }[];
}

/** The status and body an error is answered with. */
export function errorAnswer(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof HttpError)
    return {
      status: error.status,
      body: { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) },
    };
  if (ClientMailError.isInstance(error)) {
    const status = statusOfCode[error.code] ?? 500;
    const issues = (error.details?.issues ?? undefined) as { field: string; expected: string }[] | undefined;
    const body: ErrorBody = {
      code: error.code,
      message: status >= 500 ? "The request could not be completed." : error.message,
    };
    if (issues?.length) {
      body.field = issues[0]!.field;
      body.issues = issues.map(({ field, expected }) => ({ field, expected }));
    }
    return { status, body };
  }
  const typed = error as { type?: string; status?: number };
  if (typed?.type === "entity.too.large")
    return { status: 413, body: { code: "payload_too_large", message: "The request body is too large." } };
  if (typed?.type === "entity.parse.failed")
    return {
      status: 400,
      body: { code: "validation_failed", message: "The request body is not valid JSON." },
    };
  return { status: 500, body: { code: "internal", message: "The request could not be completed." } };
}

/** The last handler: answers every error as JSON (under /api) or as a page (`sendPage`). */
export function errorHandler(
  log: (message: string, fields: Record<string, unknown>) => void,
  sendPage: (res: Response, status: number, body: ErrorBody) => void,
): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const { status, body } = errorAnswer(error);
    if (status >= 500)
      log("request failed", {
        method: req.method,
        path: req.path,
        code: body.code,
        name: (error as Error)?.name,
      });
    if (res.headersSent) return;
    if (wantsJson(req)) res.status(status).json(body);
    else sendPage(res, status, body);
  };
}

/** Whether the caller is the JSON API (rather than a page of the UI). */
export function wantsJson(req: Request): boolean {
  return req.originalUrl.startsWith("/api/") || req.originalUrl.startsWith("/push/") || !req.accepts("html");
}

/** Answers 404 `not_found` for a path no route has. */
export const notFound: RequestHandler = (req, _res, next) =>
  next(new HttpError(404, "not_found", `No route for ${req.method} ${req.path}`));
