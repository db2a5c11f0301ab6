/**
 * The page a browser gets when a request to the UI fails (the JSON API answers JSON instead): the
 * page shell with a heading for the status, the error's message and code, and a way back. It
 * carries the UI's CSP like every other page; the message is escaped like all page text.
 */
import type { Response } from "express";
import type { ErrorBody } from "../http/errors.js";
import { pagePolicy } from "./csp.js";
import { html } from "./html.js";
import { page } from "./layout.js";

const headings: Record<number, string> = {
  400: "That request could not be used",
  401: "Please sign in",
  403: "You do not have access to this",
  404: "Not found",
  409: "That could not be done now",
  413: "That is too large",
  429: "Too many requests",
};

/** Answers `res` with the error page, under the UI's CSP. */
export function sendErrorPage(res: Response, status: number, body: ErrorBody): void {
  res.set({ "Content-Security-Policy": pagePolicy, "Cache-Control": "no-store" });
  res.status(status).type("html").send(errorPage(status, body));
}

/** The whole page for an error answered with `status`. */
export function errorPage(status: number, body: ErrorBody): string {
  const heading = headings[status] ?? (status >= 500 ? "Something went wrong" : "That could not be done");
  return page({
    title: heading,
    body: html`<h1>${heading}</h1>
      <p role="alert">${body.message}</p>
      <p>Code: <code>${body.code}</code> (status ${String(status)})</p>
      <p>
        ${status === 401 ? html`<a href="/signin">Sign in</a>` : html`<a href="/accounts">Back to the accounts</a>`}
      </p>`,
  });
}
